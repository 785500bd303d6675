"""The command line end to end, as a user runs it (real subprocesses for `run`)."""

import json
import subprocess
import sys

import numpy as np
import torch
import pytest
from PIL import Image
from typer.testing import CliRunner

from segbench.cli import app
from tests.conftest import REPO, TINY_SUITE

cli = CliRunner()


def segbench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "segbench", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_help_and_version():
    result = cli.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "validate", "schema", "report", "score"):
        assert command in result.output
    assert cli.invoke(app, ["--version"]).output.startswith("segbench ")



@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["schema"], ["report"], ["models"], ["profile"],
                                     ["score"]])
def test_flags_show_no_value_in_help(command):
    result = cli.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "--help" in result.output
    assert "<bool>" not in result.output


def test_run_help_lists_its_flags_without_a_value_and_its_options_with_one():
    result = cli.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.output and "--rerun" in result.output and "<bool>" not in result.output
    assert "<path>" in result.output                                 # options that take a value keep their type

def test_validate_good_and_bad(tiny_suite, write_suite):
    assert cli.invoke(app, ["validate", str(tiny_suite)]).exit_code == 0
    bad = write_suite(TINY_SUITE.replace("lr: 0.01", "lr: -1"), "bad.yaml")
    result = cli.invoke(app, ["validate", str(tiny_suite), str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:6: train.lr: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_dry_run_lists_runs_without_running(tiny_suite, tmp_path):
    result = cli.invoke(app, ["run", str(tiny_suite), "--dry-run", "--results", str(tmp_path / "r")])
    assert result.exit_code == 0
    assert "2 runs" in result.output and "skip=32" in result.output
    assert "lr=0.01" in result.output  # the training settings, which a model entry may override
    assert not (tmp_path / "r").exists()


def test_seeds_flag_replaces_the_suites_seeds(tiny_suite, tmp_path):
    result = cli.invoke(app, ["run", str(tiny_suite), "--dry-run", "--seeds", "0,1,2"])
    assert result.exit_code == 0 and "6 runs" in result.output
    result = cli.invoke(app, ["run", str(tiny_suite), "--dry-run", "--seeds", "0,0"])
    assert result.exit_code == 2 and "--seeds '0,0': expected distinct non-negative integers" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_schema_is_json(tmp_path):
    result = cli.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Suite"


def test_bad_shard_and_missing_suite(tiny_suite, tmp_path):
    result = cli.invoke(app, ["run", str(tiny_suite), "--shard", "4/4"])
    assert result.exit_code == 2 and "--shard '4/4'" in result.stderr
    result = cli.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such suite file" in result.stderr


def test_report_of_a_missing_folder(tmp_path):
    result = cli.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no run records here" in result.stderr


def test_a_failed_run_is_recorded_and_the_suite_goes_on(tmp_path, tiny_suite):
    from segbench.suitefile import load_suite
    from segbench.matrix import expand
    broken, fine = expand(load_suite(tiny_suite))
    checkpoint = tmp_path / "results" / "tiny" / "checkpoints" / f"{broken.train_key}.pt"
    checkpoint.mkdir(parents=True)   # the trained model cannot be saved there

    result = segbench("run", tiny_suite, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    runs = tmp_path / "results" / "tiny" / "runs"
    failed = json.loads((runs / f"{broken.run_id}.json").read_text())
    assert failed["status"] == "failed" and failed["error"]
    assert json.loads((runs / f"{fine.run_id}.json").read_text())["status"] == "ok"
    assert "FAIL  fcn skip=32" in result.stderr and "1 ran, 0 skipped (records exist), 1 failed" in result.stdout
    report = (tmp_path / "reports" / "tiny" / "report.md").read_text()
    assert "## Failed runs" in report and broken.run_id in report
    assert "Traceback" not in result.stderr

    # the next run tries the failed run again and keeps the successful one
    checkpoint.rmdir()
    retry = segbench("run", tiny_suite, "--rerun", cwd=tmp_path)
    assert retry.returncode == 0, retry.stderr
    assert json.loads((runs / f"{broken.run_id}.json").read_text())["status"] == "ok"


def test_a_truncated_checkpoint_is_reported_and_trained_again(tmp_path, tiny_suite):
    from segbench.suitefile import load_suite
    from segbench.matrix import expand
    spec = expand(load_suite(tiny_suite))[0]
    checkpoint = tmp_path / "results" / "tiny" / "checkpoints" / f"{spec.train_key}.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"truncated by a full disk")
    result = segbench("run", tiny_suite, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"warning: checkpoint results/tiny/checkpoints/{spec.train_key}.pt is unreadable" in result.stderr
    assert "2 ran, 0 skipped" in result.stdout and checkpoint.stat().st_size > 1000


def test_an_unwritable_results_folder_stops_before_training(tmp_path, tiny_suite):
    (tmp_path / "results").write_text("a file where the results folder should be")
    result = segbench("run", tiny_suite, cwd=tmp_path)
    assert result.returncode == 2 and "cannot write results/tiny/runs/.writable" in result.stderr
    assert "train" not in result.stderr.split("error:")[0] and "Traceback" not in result.stderr


def write_png(path, array, palette=False):
    img = Image.fromarray(array.astype(np.uint8), mode="L")
    if palette:
        img = img.convert("P")
        img.putpalette([v for i in range(256) for v in (i, 0, 0)])
    img.save(path)


def test_score_png_folders(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    gt = np.zeros((4, 4), np.uint8)
    gt[:, 2:] = 1
    gt[0, 0] = 255
    pred = gt.copy()
    pred[3, 3] = 0  # one class-1 pixel predicted as 0
    write_png(gt_dir / "a.png", gt)
    write_png(pred_dir / "a.png", pred, palette=True)
    out = tmp_path / "s.json"
    result = cli.invoke(app, ["score", "--pred", str(pred_dir), "--gt", str(gt_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    # 15 valid pixels: class 0 has 7 (all right), class 1 has 8 (7 right, 1 predicted as 0)
    assert scores["metrics"]["pixel_acc"] == pytest.approx(14 / 15)
    assert scores["per_class"]["iou"] == pytest.approx([7 / 8, 7 / 8])
    assert scores["num_classes"] == 2


def test_score_bad_inputs(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    write_png(gt_dir / "a.png", np.zeros((4, 4)))
    write_png(gt_dir / "b.png", np.zeros((4, 4)))
    write_png(pred_dir / "a.png", np.zeros((4, 5)))
    args = ["score", "--pred", str(pred_dir), "--gt", str(gt_dir)]
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and "no prediction for 1 of 2 ground-truth files: b.png" in result.stderr
    write_png(pred_dir / "b.png", np.zeros((4, 4)))
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and "size 5x4 differs from the ground truth" in result.stderr
    write_png(pred_dir / "a.png", np.full((4, 4), 9))
    result = cli.invoke(app, args + ["--num-classes", "3"])
    assert result.exit_code == 2 and "a.png" in result.stderr
    Image.new("RGB", (4, 4)).save(pred_dir / "a.png")
    result = cli.invoke(app, args)
    assert result.exit_code == 2 and "a RGB image is not a label map" in result.stderr



def per_class_rows(output: str) -> dict[str, list[str]]:
    """The per-class table of `segbench score`: class index -> [IoU, acc, BF1] cells."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 4 and cells[0].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def test_score_prints_per_class_values(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    gt = np.zeros((4, 4), np.uint8)
    gt[:, 2:] = 1
    pred = gt.copy()
    pred[3, 3] = 0
    write_png(gt_dir / "a.png", gt)
    write_png(pred_dir / "a.png", pred)
    result = cli.invoke(app, ["score", "--pred", str(pred_dir), "--gt", str(gt_dir), "--num-classes", "3"])
    assert result.exit_code == 0, result.output
    # class 0: 8 target pixels all right, 1 false positive; class 1: 7 of 8 right. Every pixel of a 2-wide
    # column is a boundary pixel and the tolerance is under a pixel, so BF1 counts exact matches only:
    # class 0 P = 8/9, R = 1, F1 = 16/17; class 1 P = 1, R = 7/8, F1 = 14/15. Class 2 is absent.
    assert per_class_rows(result.stdout) == {"0": ["88.89", "100.00", "94.12"], "1": ["87.50", "87.50", "93.33"],
                                             "2": ["–", "–", "–"]}
    assert "warning" not in result.stderr


def test_score_warns_of_predictions_without_ground_truth(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    write_png(gt_dir / "a.png", np.zeros((4, 4)))
    for name in ("a", "b", "c", "d", "e", "f", "g", "h"):
        write_png(pred_dir / f"{name}.png", np.zeros((4, 4)))
    out = tmp_path / "s.json"
    result = cli.invoke(app, ["score", "--pred", str(pred_dir), "--gt", str(gt_dir), "--json", str(out)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["images"] == 1                  # only a.png is scored
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "7 predictions" in warning[0]
    assert "b.png, c.png, d.png, e.png, f.png and 2 more" in warning[0]


@pytest.mark.parametrize("jpeg_side", ["pred", "gt"])
def test_score_refuses_jpeg_label_maps_with_the_reason(tmp_path, jpeg_side):
    dirs = {"gt": tmp_path / "gt", "pred": tmp_path / "pred"}
    for side, folder in dirs.items():
        folder.mkdir()
        if side == jpeg_side:
            Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(folder / "a.jpg")
            Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(folder / "b.JPEG", format="JPEG")
        else:
            write_png(folder / "a.png", np.zeros((4, 4)))
    result = cli.invoke(app, ["score", "--pred", str(dirs["pred"]), "--gt", str(dirs["gt"])])
    assert result.exit_code == 2
    assert f"--{jpeg_side} {dirs[jpeg_side]}: the folder holds 2 JPEG files (a.jpg, b.JPEG)" in result.stderr
    assert "label maps must be lossless PNG" in result.stderr
    assert "JPEG compression changes label values" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

@pytest.mark.slow
def test_smoke_suite_end_to_end_and_resume(tmp_path):
    suite = REPO / "suites" / "smoke.yaml"
    first = segbench("run", suite, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    runs = sorted((tmp_path / "results" / "smoke" / "runs").glob("*.json"))
    assert len(runs) == 3
    records = [json.loads(p.read_text()) for p in runs]
    assert {r["spec"]["options"]["skip"] for r in records} == {32, 16, 8}
    for r in records:
        assert r["status"] == "ok"
        assert 0 <= r["metrics"]["miou"] <= 1 and 0 <= r["metrics"]["bf1"] <= 1
        assert r["environment"]["torch"] and r["train"]["loss_curve"]
        assert r["metric_info"]["boundary_tolerance"] == 0.0075
    report_path = tmp_path / "reports" / "smoke" / "report.md"
    report = report_path.read_text()
    for label in ("fcn skip=32", "fcn skip=16", "fcn skip=8"):
        assert f"| {label} | 1 |" in report

    # segbench's own regression gate: accuracy against the committed baseline, with the suite's tolerances
    checked = segbench("check", "results/smoke", "--baseline", REPO / "results" / "baselines" / "smoke.json",
                       "--suite", suite, "--junit", "check.xml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 of 6 checks failed" in checked.stdout and 'tests="6" failures="0"' in (tmp_path / "check.xml").read_text()

    again = segbench("run", suite, cwd=tmp_path)
    assert again.returncode == 0
    assert "0 ran, 3 skipped" in again.stdout
    assert again.stderr.count("skip  fcn") == 3

    regenerated = segbench("report", "results/smoke", "--out", "copy", cwd=tmp_path)
    assert regenerated.returncode == 0
    assert (tmp_path / "copy" / "report.md").read_bytes() == report_path.read_bytes()


def test_run_reports_the_current_suite_and_report_shows_the_whole_folder(tmp_path, tiny_suite, write_suite):
    assert segbench("run", tiny_suite, cwd=tmp_path).returncode == 0
    changed = write_suite(TINY_SUITE.replace("lr: 0.01", "lr: 0.02"), "changed.yaml")
    result = segbench("run", changed, cwd=tmp_path)
    assert result.returncode == 0 and "2 ran, 0 skipped" in result.stdout
    # the terminal gets the main table; the per-class tables and the rest stay in the files
    assert "## Results" in result.stdout and result.stdout.count("| fcn skip=") == 2
    assert "## Per-class IoU" not in result.stdout
    report = (tmp_path / "reports" / "tiny" / "report.md").read_text()
    assert "lr 0.02" in report and report.count("| fcn skip=") == 2 * 3  # main, IoU and BF1 tables
    assert segbench("report", "results/tiny", cwd=tmp_path).returncode == 0
    everything = (tmp_path / "reports" / "tiny" / "report.md").read_text()
    assert everything.count("| fcn skip=32 [train.lr=0.01] |") == 3  # same labels, told apart by setting
    assert everything.count("| fcn skip=") == 4 * 3 + 2  # + the two lr 0.01 → 0.02 ablation rows


def test_models_lists_paper_variants_with_parameter_counts():
    result = cli.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    listing = json.loads(result.output)
    by_name = {v["variant"]: v for v in listing["variants"]}
    assert by_name["FCN-8s"]["params"] == pytest.approx(134e6, rel=0.01)
    small = json.loads(cli.invoke(app, ["models", "--json", "--width", "0.125", "--num-classes", "7"]).output)
    assert all(s["params"] < v["params"] / 20 for s, v in zip(small["variants"], listing["variants"]))
    assert "FCN-32s" in cli.invoke(app, ["models"]).output


def test_out_of_memory_is_recorded_with_the_sizes_that_decide_it(tiny_suite):
    from segbench.matrix import expand
    from segbench.failures import failure_text
    from segbench.suitefile import load_suite

    spec = expand(load_suite(tiny_suite))[0]
    text = failure_text(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore"), spec)
    assert text == ("out of memory at batch 4 (eval batch 4), image size (32, 32): lower the batch size or the "
                    "image size. OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert failure_text(ValueError("bad"), spec) == "ValueError: bad"
