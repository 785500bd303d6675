"""The report's files: LaTeX escaping and structure (compiled when pdflatex exists), self-contained HTML
(rendered in headless Chromium when it exists), CSV contents, byte-identical re-rendering, `--format`."""

import base64
import csv
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segbench import records
from segbench.cli import app
from segbench.report import latex, parse_formats, references, render
from tests.report_records import PALETTE, make_record

REFERENCE = {"label": "A&B_1 {x} 50% #2 $3 ~^\\", "arch": "fcn", "dataset": "PASCAL VOC 2012", "split": "val",
             "metrics": {"miou": 0.6225}, "source": "Chen et al., ICLR 2015, Table 1(a)"}


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    recs = [make_record("fcn skip=32", 0, s, m, options={"skip": 32}, with_probe=10 + s)
            for s, m in ((0, .60), (1, .62), (2, .64))]
    recs += [make_record("fcn skip=16", 1, 0, .65, options={"skip": 16}, with_probe=12),
             make_record("unet", 2, 0, arch="unet", status="failed")]
    for r in recs:
        records.write_record(folder, r)
    references.save(folder, "unit", "1", [REFERENCE])
    return folder


def test_latex_escapes_every_special_character():
    assert latex.escape("a_b%c&d#e$f{g}h~i^j\\k") == (r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i"
                                                     r"\textasciicircum{}j\textbackslash{}k")
    assert latex.escape("62.0 ± 2.0 × [1] –") == r"62.0 $\pm$ 2.0 $\times$ {[}1{]} --"


def test_latex_structure(results, tmp_path):
    render(results, tmp_path / "out", formats=("tex",))
    text = (tmp_path / "out" / "report.tex").read_text()
    assert text.count(r"\begin{document}") == text.count(r"\end{document}") == 1
    for env in ("tabular", "itemize", "figure"):
        assert text.count(rf"\begin{{{env}}}") == text.count(rf"\end{{{env}}}") > 0
    for tabular in re.findall(r"\\begin\{tabular\}.*?\\end\{tabular\}", text, re.S):
        lines = tabular.splitlines()
        assert lines[1] == r"\toprule" and lines[3] == r"\midrule" and lines[-2] == r"\bottomrule"
    assert r"\textit{A\&B\_1 \{x\} 50\% \#2 \$3 \textasciitilde{}\textasciicircum{}\textbackslash{} " in text
    assert r"\textbf{65.0}" in text and r"\textit{62.25}" in text
    assert "fcn skip=32 & 3 & 62.0 $\\pm$ 2.0 &" in text


@pytest.mark.latex
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_latex_compiles(results, tmp_path):
    out = tmp_path / "out"
    render(results, out, formats=("tex",))
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=out,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


class _Structure(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.problems = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("script", "link", "iframe") or attrs.get("href", "").startswith("http"):
            self.problems.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"</{tag}>")


def test_html_is_one_self_contained_balanced_page(results, tmp_path):
    out = tmp_path / "out"
    render(results, out, formats=("html", "md"))
    parser = _Structure()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    assert parser.problems == [] and parser.stack == []
    figures = sorted((out / "figures").glob("*.png"))
    assert len(parser.images) == len(figures) == 4      # pareto, per-class bars, loss curves, qualitative grid
    inlined = sorted(base64.b64decode(src.removeprefix("data:image/png;base64,")) for src in parser.images)
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert inlined == sorted(p.read_bytes() for p in figures)


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_html_renders_in_headless_chromium(results, tmp_path):
    out = tmp_path / "out"
    render(results, out, formats=("html",))
    shot = tmp_path / "shot.png"
    # a fresh profile and no background traffic: CI machines may be offline and share the user's home
    done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1400,5000", f"--screenshot={shot}", (out / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    disk = (pixels == PALETTE[1]).all(axis=1).sum()    # the palette's dark red exists only inside the figures
    assert disk > 200


def test_csv_files_hold_the_raw_runs_and_the_seed_statistics(results, tmp_path):
    out = tmp_path / "out"
    render(results, out, formats=("csv",))
    assert sorted(p.name for p in out.iterdir()) == ["runs.csv", "variants.csv"]
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert len(runs) == 5 and [r["miou"] for r in runs[:3]] == ["0.6", "0.62", "0.64"]
    failed = runs[-1]
    assert failed["status"] == "failed" and "loss became nan" in failed["error"] and failed["miou"] == ""
    rows = {r["variant"]: r for r in csv.DictReader((out / "variants.csv").open())}
    fcn32 = rows["fcn skip=32"]
    half = 4.303 * 0.02 / 3 ** 0.5                      # Student t(0.975, 2) from a printed table
    assert float(fcn32["miou_mean"]) == pytest.approx(0.62) and float(fcn32["miou_std"]) == pytest.approx(0.02)
    assert float(fcn32["miou_ci95_low"]) == pytest.approx(0.62 - half, abs=1e-4) and fcn32["miou_n"] == "3"
    assert float(fcn32["latency_ms_mean"]) == 11.0 and rows["fcn skip=16"]["miou_ci95_low"] == ""
    assert rows["unet"]["runs_ok"] == "0" and rows["unet"]["runs_failed"] == "1"
    ref = rows[REFERENCE["label"]]
    assert ref["kind"] == "reference" and ref["miou_mean"] == "0.6225" and ref["split"] == "val"


def test_rendering_twice_gives_byte_identical_files(results, tmp_path):
    first, second = render(results, tmp_path / "a"), render(results, tmp_path / "b")
    names = [p.relative_to(tmp_path / "a") for p in first]
    assert names == [p.relative_to(tmp_path / "b") for p in second] and len(names) == 9
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_format_flag(results, tmp_path):
    cli = CliRunner()
    bad = cli.invoke(app, ["report", str(results), "--out", str(tmp_path / "x"), "--format", "md,pdf"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "--format 'md,pdf': unknown format 'pdf'; allowed: md, tex, csv, html" in bad.stderr
    assert not (tmp_path / "x").exists()
    good = cli.invoke(app, ["report", str(results), "--out", str(tmp_path / "y"), "--format", "html,md"])
    assert good.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == ["figures", "report.html", "report.md"]
    assert parse_formats(" CSV , tex ") == ("tex", "csv")


def test_a_folder_of_failed_runs_still_renders_every_format(tmp_path):
    folder = tmp_path / "results"
    for seed in (0, 1):
        records.write_record(folder, make_record("unet", 0, seed, arch="unet", status="failed"))
    written = render(folder, tmp_path / "out")
    assert sorted(p.name for p in written) == ["report.html", "report.md", "report.tex", "runs.csv", "variants.csv"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| unet | 0 (+2 failed) | – |" in md and md.count("RuntimeError: loss became nan at step 3") == 2
    assert "No qualitative grid" in md and "no record has probe measurements" in md
