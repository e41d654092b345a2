"""The status page: the status API as HTML people can read, without JavaScript.

Rendered on the server; every value is escaped; the page refreshes itself with a meta
tag and its only style sheet is inline, so its Content-Security-Policy forbids scripts.
"""

from __future__ import annotations

from html import escape

from mercato.services.health.schemas import StatusPublic, TargetStatus

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
.ok { color: #1a7f37; } .degraded { color: #9a6700; } .down { color: #cf222e; }
.overall { font-size: 1.4rem; }
"""

_HEADINGS = ("Name", "Status", "Latency", "Checked at", "Since")


def render(status: StatusPublic, *, refresh_seconds: int) -> str:
    """The whole page for ``status``."""
    overall = escape(status.status.value)
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Mercato status: {overall}</title>",
            f"<style>{_STYLE}</style>",
            "</head><body>",
            "<h1>Mercato status</h1>",
            f'<p class="overall">The platform is <strong class="{overall}">{overall}</strong>.</p>',
            _table("Services", status.services),
            _table("Engines", status.engines),
            "</body></html>",
        ]
    )


def _table(title: str, rows: list[TargetStatus]) -> str:
    head = "".join(f'<th scope="col">{h}</th>' for h in _HEADINGS)
    body = "".join(_row(row) for row in rows)
    return (
        f"<h2>{escape(title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _row(row: TargetStatus) -> str:
    state = escape(row.status.value)
    cells = [
        f"<td>{escape(row.name)}</td>",
        f'<td class="{state}">{state}</td>',
        f"<td>{row.latency_ms:.1f} ms</td>",
        f"<td>{escape(row.checked_at.isoformat(timespec='seconds'))}</td>",
        f"<td>{escape(row.since.isoformat(timespec='seconds'))}</td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"
