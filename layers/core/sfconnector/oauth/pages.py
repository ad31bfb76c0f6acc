"""The small HTML pages the OAuth callback answers with. Every dynamic value is HTML-escaped and no
token, secret or authorization code is ever passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

# No scripts, no external resources, no framing; never cached, no Referer from this page.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f9;"
    "color:#181818}main{max-width:36rem;margin:4rem auto;background:#fff;border-radius:.5rem;"
    "padding:2rem 2.5rem;box-shadow:0 2px 8px rgba(0,0,0,.08)}h1{font-size:1.4rem;margin-top:0}"
    ".ok h1{color:#2e844a}.fail h1{color:#ba0517}dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.35rem 1rem}dt{color:#5c5c5c}dd{margin:0;word-break:break-all}p.hint{color:#5c5c5c}"
)


@dataclass(frozen=True)
class CallbackPage:
    """Outcome of one callback, rendered as HTML."""

    ok: bool
    status_code: int
    title: str
    message: str
    reason: str
    """Machine-readable outcome (``connected``, ``access_denied``, ``state_replayed``, ...)."""
    details: list[tuple[str, str]] = field(default_factory=list)
    hint: str | None = None
    connection_id: str | None = None

    def render(self) -> str:
        rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in self.details)
        details = f"<dl>{rows}</dl>" if rows else ""
        hint = f'<p class="hint">{escape(self.hint)}</p>' if self.hint else ""
        css_class = "ok" if self.ok else "fail"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{escape(self.title)}</title><style>{_STYLE}</style></head>"
            f'<body><main class="{css_class}" data-outcome="{escape(self.reason)}">'
            f"<h1>{escape(self.title)}</h1><p>{escape(self.message)}</p>{details}{hint}"
            "</main></body></html>\n"
        )
