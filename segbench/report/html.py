"""HTML rendering: one self-contained page (inline CSS, figures as base64 data URIs), no scripts."""

import base64
from html import escape

from .document import Bullets, Document, Heading, Text
from .figures import Plot
from .tables import Cell, Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; white-space: nowrap; }
thead th { border-bottom: 2px solid #444; }
tbody + tbody { border-top: 2px solid #888; }
td.r, th.r { text-align: right; } td.l, th.l { text-align: left; }
tr.reference td { font-style: italic; color: #555; }
small { display: block; color: #777; font-size: 0.8em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; } figcaption { font-size: 0.85em; color: #555; }
"""


def _cell(cell: Cell, align: str) -> str:
    text = escape(cell.text)
    if cell.bold:
        text = f"<strong>{text}</strong>"
    if cell.detail:
        text += f"<small>{escape(cell.detail)}</small>"
    return f'<td class="{align}">{text}</td>'


def html_table(table: Table) -> str:
    """A table whose groups (architectures) are tbody sections; reference rows are italic."""
    head = "".join(f'<th class="{a}">{escape(h)}</th>' for h, a in zip(table.headers, table.align))
    lines = ['<div class="wide"><table>', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for i, row in enumerate(table.rows):
        if i in table.breaks:
            lines.append("</tbody><tbody>")
        attr = ' class="reference"' if i in table.italic else ""
        lines.append(f"<tr{attr}>" + "".join(_cell(c, a) for c, a in zip(row, table.align)) + "</tr>")
    lines += ["</tbody>", "</table></div>"]
    return "\n".join(lines)


def render(doc: Document) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{escape(doc.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{escape(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h2>{escape(block.text)}</h2>")
        elif isinstance(block, Text):
            parts.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            parts.append(html_table(block))
        elif isinstance(block, Plot):
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(f'<figure><img alt="{escape(block.name)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
