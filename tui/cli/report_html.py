"""The HTML parts of a report page: its style, tables, key-value tables and embedded PNG images."""

from __future__ import annotations

import base64
import html

CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1240px;color:#222;
padding:0 1em}h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#666}img{max-width:100%;height:auto}table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
.kv td:first-child{font-family:monospace;color:#444}.cols{display:flex;gap:1.5em;
flex-wrap:wrap;align-items:flex-start}"""


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    attr = f' class="{e(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def _kv(pairs: list[tuple[str, str]], columns: int = 1) -> str:
    per = max(1, -(-len(pairs) // columns))
    parts = [_table(["key", "value"], [list(p) for p in pairs[i:i + per]], "kv") for i in range(0, len(pairs), per)]
    return '<div class="cols">' + "".join(parts) + "</div>"


def _img(fig, alt: str) -> str:
    from tui.cli.report_draw import png_bytes

    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
