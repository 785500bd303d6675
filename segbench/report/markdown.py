"""Markdown rendering: GitHub tables; figures are linked from figures/."""

from .document import Bullets, Document, Heading, Text
from .figures import Plot
from .tables import Cell, Table


def escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("*", "\\*")


def _cell(cell: Cell, italic: bool) -> str:
    text = escape(cell.text)
    if cell.bold:
        text = f"**{text}**"
    return f"*{text}*" if italic and cell.has_value else text


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(escape(h) for h in table.headers) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in table.align) + "|"]
    lines += ["| " + " | ".join(_cell(c, i in table.italic) for c in row) + " |" for i, row in enumerate(table.rows)]
    return "\n".join(lines)


def render(doc: Document) -> str:
    parts = [f"# {doc.title}"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"## {block.text}")
        elif isinstance(block, Text):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {escape(item)}" for item in block.items))
        elif isinstance(block, Table):
            parts.append(markdown_table(block))
        elif isinstance(block, Plot):
            parts.append(f"![{block.name}](figures/{block.name})\n\n*{escape(block.caption)}*")
    return "\n\n".join(parts) + "\n"
