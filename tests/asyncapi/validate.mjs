// Validates an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package.json). Reads the document from the file named as the first argument; prints
// {"errors": [...], "warnings": n, "messages": n} as JSON; exit code 1 when any diagnostic has
// severity error (0), 2 when the parser could not run.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const text = readFileSync(process.argv[2], "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text);
const brief = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(brief);
const out = {
  errors,
  warnings: diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(brief),
  parsed: document !== undefined,
  messages: document ? document.allMessages().length : 0,
  channels: document ? document.allChannels().length : 0,
  operations: document ? document.allOperations().length : 0,
};
console.log(JSON.stringify(out));
process.exit(errors.length === 0 && document ? 0 : 1);
