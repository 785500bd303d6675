"""Markdown rendering of report tables."""

from .tables import Table


def escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(escape(h) for h in table.headers) + " |",
             "|" + "|".join(":---" if a == "l" else "---:" for a in table.align) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)
