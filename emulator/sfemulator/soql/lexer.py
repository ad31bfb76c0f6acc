"""The SOQL tokenizer.

Keywords are not distinguished here: SOQL keywords are case-insensitive and several of them
(``Order``, ``Group``, ``First``, ``Last``...) are also legal sObject or field names, so the parser
decides from context. String bodies are kept raw (between the quotes) because the meaning of
``\\%`` and ``\\_`` depends on whether the literal is a LIKE pattern; :func:`decode_string` decodes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sfemulator.soql.errors import SoqlError, positioned

__all__ = ["Token", "TokenKind", "decode_string", "like_regex", "tokenize"]

TokenKind = Literal["ident", "string", "number", "date", "datetime", "op", "eof"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    pos: int
    upper: str = ""

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.upper in words


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A date or datetime literal; anything more lenient is read as a number and then rejected.
_TEMPORAL = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}|[+-]\d{4}))?"
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SPACE = re.compile(r"\s+")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ",", ".", ":")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token; MALFORMED_QUERY on a stray character."""
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    length = len(text)
    while pos < length:
        char = text[pos]
        if char.isspace():
            match = _SPACE.match(text, pos)
            assert match is not None
            pos = match.end()
            continue
        if char.isalpha() or char == "_":
            match = _IDENT.match(text, pos)
            if match is None:  # a non-ASCII letter: not part of any SOQL name
                raise _stray(text, pos)
            word = match.group()
            append(Token("ident", word, pos, word.upper()))
            pos = match.end()
            continue
        if char == "'":
            end = _string_end(text, pos)
            append(Token("string", text[pos + 1 : end], pos))
            pos = end + 1
            continue
        if char.isdigit() or (
            char in "+-." and pos + 1 < length and (text[pos + 1].isdigit() or text[pos + 1] == ".")
        ):
            match = _TEMPORAL.match(text, pos) if char.isdigit() else None
            if match is not None:
                kind: TokenKind = "datetime" if len(match.group()) > 10 else "date"
                append(Token(kind, match.group(), pos))
                pos = match.end()
                continue
            match = _NUMBER.match(text, pos)
            if match is None:
                raise _stray(text, pos)
            append(Token("number", match.group(), pos))
            pos = match.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, pos):
                append(Token("op", op, pos))
                pos += len(op)
                break
        else:
            raise _stray(text, pos)
    append(Token("eof", "<EOF>", length))
    return tokens


def _stray(text: str, pos: int) -> SoqlError:
    # Salesforce's lexer reports "line R:C" with a 0-based column here (unlike the caret header).
    row = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1)
    return SoqlError(
        "MALFORMED_QUERY",
        positioned(text, pos, f"line {row}:{column} unexpected token: '{text[pos]}'"),
    )


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the string that opens at ``start``."""
    pos = start + 1
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == "'":
            return pos
        pos += 1
    raise SoqlError("MALFORMED_QUERY", positioned(text, start, "unexpected token: '''"))


_SIMPLE_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_HEX = frozenset("0123456789abcdefABCDEF")


def decode_string(raw: str, text: str, pos: int, *, like: bool = False) -> str:
    """Decode the body of a string literal that starts at ``pos`` in ``text``.

    With ``like`` the escapes ``\\%`` and ``\\_`` are kept escaped (the caller turns the pattern into
    a regular expression with :func:`like_regex`); anywhere else they are an error, as in Salesforce.
    """
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    length = len(raw)
    while i < length:
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < length else ""
        simple = _SIMPLE_ESCAPES.get(nxt)
        if simple is not None:
            out.append("\\\\" if like and nxt == "\\" else simple)
            i += 2
        elif nxt in ("%", "_") and like:
            out.append("\\" + nxt)
            i += 2
        elif nxt in ("u", "U") and i + 6 <= length and all(c in _HEX for c in raw[i + 2 : i + 6]):
            decoded = chr(int(raw[i + 2 : i + 6], 16))
            out.append("\\" + decoded if like and decoded in "%_\\" else decoded)
            i += 6
        else:
            sequence = raw[i : i + 2]
            raise SoqlError(
                "MALFORMED_QUERY",
                positioned(
                    text,
                    pos,
                    f"Invalid string literal '{raw}'. "
                    f"Illegal character sequence '{sequence}' in string literal.",
                ),
            )
    return "".join(out)


def like_regex(pattern: str) -> re.Pattern[str]:
    """A case-insensitive regular expression for a decoded LIKE pattern (see :func:`decode_string`).

    In the decoded pattern, ``%`` and ``_`` are wildcards and ``\\%``, ``\\_``, ``\\\\`` are the literal
    characters.
    """
    parts: list[str] = []
    i = 0
    length = len(pattern)
    while i < length:
        char = pattern[i]
        if char == "\\" and i + 1 < length:
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
