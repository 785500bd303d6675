"""The README's quick-suite table is generated from the committed records (docs/readme_tables.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.report_records import make_record, probe

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "docs" / "readme_tables.py"


def _generator():
    spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(label: str, order: int, seed: int, miou: float, bf1: float, *, latency: float, gflops: float,
            options: dict | None = None, arch: str = "fcn") -> dict:
    record = make_record(label, order, seed, miou, bf1=bf1, arch=arch, options=options)
    record["metrics"]["pixel_acc"] = 0.8 + seed / 100
    record["probe"] = probe(latency, gflops=gflops)
    return record


def test_readme_quick_table_is_up_to_date():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_on_a_stale_readme(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace("| FCN skip=8 | ", "| FCN skip=8 | 99.9 | ", 1), encoding="utf-8")
    result = subprocess.run([sys.executable, str(SCRIPT), "--check", "--readme", str(stale)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "-| FCN skip=8 | 99.9 |" in result.stdout and "is stale" in result.stdout
    assert stale.read_text(encoding="utf-8") != readme     # --check never writes


def test_table_of_hand_made_records():
    """Two seeds of one variant give mean ± sample std (none for GFLOPs, which seeds cannot change)."""
    records = [
        _record("fcn skip=32", 0, 0, 0.40, 0.20, latency=6.04, gflops=0.0454, options={"skip": 32}),
        _record("fcn skip=32", 0, 1, 0.50, 0.30, latency=6.16, gflops=0.0454, options={"skip": 32}),
        _record("fcn skip=8", 1, 0, 0.625, 0.25, latency=12.24, gflops=0.0456, options={"skip": 8}),
        _record("U-Net", 2, 0, 0.3, 0.35, latency=9.0, gflops=0.096, arch="unet"),
    ]
    expected = (
        "| variant | mIoU | BF1 | pixel acc | GFLOPs | latency (ms, end to end) |\n"
        "|:---|---:|---:|---:|---:|---:|\n"
        "| fcn skip=32 | 45.0 ± 7.1 | 25.0 ± 7.1 | 80.5 ± 0.7 | 0.045 | 6.1 ± 0.1 |\n"
        "| fcn skip=8 | 62.5 | 25.0 | 80.0 | 0.046 | 12.2 |\n"
        "| U-Net | 30.0 | 35.0 | 80.0 | 0.096 | 9.0 |\n"
    )
    assert _generator().quick_table(records) == expected


def test_table_goes_between_the_markers():
    gen = _generator()
    readme = f"intro\n{gen.START}\nold table\n{gen.END}\nafter\n"
    assert gen.with_table(readme, "| new |\n") == f"intro\n{gen.START}\n| new |\n{gen.END}\nafter\n"
