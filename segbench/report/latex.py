"""LaTeX rendering: a standalone document (pdflatex) whose booktabs tables can be pasted into a paper."""

import re

from .document import Bullets, Document, Heading, Text
from .figures import Plot
from .tables import Cell, Table

# Characters LaTeX treats specially, and the non-ASCII ones the report uses.
_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "±": r"$\pm$", "×": r"$\times$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "→": r"$\rightarrow$",
            "–": "--", "−": "$-$", "Δ": r"$\Delta$", "<": r"\textless{}", ">": r"\textgreater{}",
            "|": r"\textbar{}", "[": "{[}", "]": "{]}"}   # brackets: never an optional argument
_PATTERN = re.compile("|".join(re.escape(c) for c in _ESCAPES))

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage[a4paper,landscape,margin=1.5cm]{geometry}
\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{textcomp}
\setlength{\parindent}{0pt}
\setlength{\parskip}{4pt}
"""


def escape(text: str) -> str:
    """Text safe in LaTeX: special characters escaped; any other non-ASCII character dropped to '?'."""
    out = _PATTERN.sub(lambda m: _ESCAPES[m.group(0)], text.replace("\n", " "))
    return out.encode("ascii", "replace").decode("ascii")


def _cell(cell: Cell, italic: bool) -> str:
    text = escape(cell.text)
    if cell.bold:
        text = rf"\textbf{{{text}}}"
    return rf"\textit{{{text}}}" if italic and cell.has_value else text


def latex_table(table: Table) -> str:
    """A booktabs tabular, scaled down to the line width when wider."""
    lines = [r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             rf"\begin{{tabular}}{{{''.join(table.align)}}}", r"\toprule",
             " & ".join(escape(h) for h in table.headers) + r" \\", r"\midrule"]
    for i, row in enumerate(table.rows):
        if i in table.breaks:
            lines.append(r"\midrule")
        lines.append(" & ".join(_cell(c, i in table.italic) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    return "\n".join(lines)


def render(doc: Document) -> str:
    parts = [PREAMBLE, r"\begin{document}", rf"\section*{{{escape(doc.title)}}}"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(rf"\subsection*{{{escape(block.text)}}}")
        elif isinstance(block, Text):
            parts.append(escape(block.text) + "\n")
        elif isinstance(block, Bullets):
            parts.append("\n".join([r"\begin{itemize}"] + [rf"\item {escape(i)}" for i in block.items]
                                   + [r"\end{itemize}"]))
        elif isinstance(block, Table):
            parts.append(latex_table(block) + "\n")
        elif isinstance(block, Plot):
            parts.append("\n".join([r"\begin{figure}[htbp]", r"\centering",
                                    rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]"
                                    rf"{{figures/{block.name}}}",
                                    rf"\caption{{{escape(block.caption)}}}", r"\end{figure}"]))
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"
