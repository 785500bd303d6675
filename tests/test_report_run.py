"""What the reports need from a run: kept predictions, samples in records, references.json, and a
results folder that regenerates its report byte for byte (how the committed example stays honest)."""

import json

import matplotlib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from segbench import data, models
from segbench.cli import app
from segbench.dataconfig import ShapesConfig
from segbench.suitefile import load_suite
from segbench.data.transforms import normalise
from segbench.errors import ConfigError
from segbench.evaluate import evaluate
from segbench.report import render
from segbench.samples import decode_png, encode_png, sample_indices
from tests.conftest import REPO, TINY_SUITE

SPEC = ShapesConfig(name="shapes", image_size=[32, 32], train_samples=4, val_samples=5, seed=0, void_border=0)
REFERENCE = """reference:
  - {label: FCN-8s, arch: fcn, dataset: PASCAL VOC 2012, split: test, metrics: {miou: 0.622},
     source: "Long et al., CVPR 2015, Table 3"}
"""


def test_sample_indices_spread_over_the_split():
    assert sample_indices(200) == [0, 66, 133, 199]
    assert sample_indices(3) == [0, 1, 2] and sample_indices(0) == []


def test_evaluate_keeps_the_predictions_of_the_asked_indices():
    torch.manual_seed(0)
    val = data.Cached(data.build(SPEC, "val"))
    model = models.build("deconvnet", val.num_classes, width=0.0625).eval()   # the cheapest at 32 px
    keep = [0, 2, 3, 4]   # batch size 2: first of a batch, second of a batch, and the last, short batch
    kept = evaluate(model, val, 2, 0.0075, torch.device("cpu"), keep=keep)["kept"]
    assert sorted(kept) == keep
    for i in keep:
        assert kept[i].dtype.name == "uint8" and (kept[i] == _argmax(model, val, i)).all()
    shifted = evaluate(model, val, 2, 0.0075, torch.device("cpu"), keep=[1],
                       postprocess=lambda logits, images: (logits.argmax(1) + 1) % val.num_classes)["kept"]
    assert (shifted[1] == (_argmax(model, val, 1) + 1) % val.num_classes).all()


def _argmax(model, val, i):
    """The model's prediction for validation image i, computed directly."""
    image, _ = val[i]
    with torch.inference_mode():
        return model(normalise(image[None], val.mean, val.std, torch.device("cpu"))).argmax(1)[0].numpy()


def test_a_run_keeps_samples_and_references_and_its_report_regenerates_exactly(tmp_path, write_suite):
    suite = write_suite(TINY_SUITE.replace("val_samples: 4", "val_samples: 5") + "probe: {enabled: false}\n" + REFERENCE)
    cli = CliRunner()
    ran = cli.invoke(app, ["run", str(suite), "--results", str(tmp_path / "results"),
                           "--reports", str(tmp_path / "reports")])
    assert ran.exit_code == 0, ran.output
    results = tmp_path / "results" / "tiny"
    refs = json.loads((results / "references.json").read_text())
    assert refs["references"] == [{"label": "FCN-8s", "arch": "fcn", "dataset": "PASCAL VOC 2012", "split": "test",
                                   "metrics": {"miou": 0.622}, "source": "Long et al., CVPR 2015, Table 3"}]
    val = data.build(SPEC, "val")
    for path in sorted((results / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        samples = record["samples"]
        assert samples["indices"] == [0, 1, 3, 4]
        model = models.build("fcn", val.num_classes, **{k: v for k, v in record["spec"]["options"].items()
                                                         if k != "crf"})
        model.load_state_dict(torch.load(results / "checkpoints" / f"{record['train_key']}.pt")["state_dict"])
        model.eval()
        for i, image, target, pred in zip(samples["indices"], samples["images"], samples["targets"],
                                          samples["predictions"]):
            assert (decode_png(image) == val[i][0].permute(1, 2, 0).numpy()).all()
            assert (decode_png(target) == val[i][1].numpy()).all()
            assert (decode_png(pred) == _argmax(model, val, i)).all()
    report = tmp_path / "reports" / "tiny"
    md = (report / "report.md").read_text()
    assert "| *FCN-8s (PASCAL VOC 2012 test) [1]* | *paper* | *62.2* |" in md
    assert "- [1] Long et al., CVPR 2015, Table 3" in md and (report / "figures" / "qualitative.png").is_file()
    again = cli.invoke(app, ["report", str(results), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0
    files = sorted(p.relative_to(report) for p in report.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    for name in files:
        assert (report / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


@pytest.mark.parametrize("entry, expected", [
    ("{label: X, dataset: VOC, split: val, metrics: {miou: 0.5}, source: S, year: 2015}",
     "reference[0].year: unknown field 'year'; allowed: label, arch, dataset, split, metrics, source"),
    ("{label: X, dataset: VOC, split: val, metrics: {miou: 62.2}, source: S}",
     "reference[0].metrics.miou: Input should be less than or equal to 1 (got 62.2)"),
    ("{label: X, dataset: VOC, split: val, metrics: {iou: 0.5}, source: S}",
     "reference[0].metrics.iou: unknown field 'iou'; allowed: miou, bf1, pixel_acc, mean_acc, fwiou"),
    ("{label: X, dataset: VOC, split: val, metrics: {}, source: S}",
     "reference[0].metrics: give at least one of miou, bf1, pixel_acc, mean_acc, fwiou"),
    ("{label: X, arch: segnet, dataset: VOC, split: val, metrics: {miou: 0.5}, source: S}",
     "reference[0].arch: unknown architecture 'segnet'; registered: deconvnet, deeplab, fcn, unet"),
    ("{label: X, dataset: VOC, metrics: {miou: 0.5}, source: S}", "reference[0].split: required field is missing"),
])
def test_bad_reference_entries_are_reported(write_suite, entry, expected):
    with pytest.raises(ConfigError) as info:
        load_suite(write_suite(TINY_SUITE + f"reference:\n  - {entry}\n"))
    assert expected in str(info.value) and ":11:" in str(info.value)


def test_large_samples_are_stored_as_thumbnails():
    labels = np.zeros((300, 400), np.uint8)
    labels[:, 200:] = 5
    small = decode_png(encode_png(labels))
    assert small.shape == (96, 128) and set(np.unique(small)) == {0, 5}     # nearest: no new labels
    image = np.full((300, 400, 3), 200, np.uint8)
    assert decode_png(encode_png(image, labels=False)).shape == (96, 128, 3)
    assert decode_png(encode_png(labels[:64, :64])).shape == (64, 64)      # small ones stay as they are


@pytest.mark.skipif(not (REPO / "results" / "quick" / "runs").is_dir() or
                    not (REPO / "reports" / "quick" / "report.md").is_file(),
                    reason="the quick suite's example report and records are not committed yet")
def test_the_committed_example_report_regenerates_from_its_records(tmp_path):
    committed = REPO / "reports" / "quick"
    written = render(REPO / "results" / "quick", tmp_path)
    same_renderer = f"matplotlib {matplotlib.__version__}" in (committed / "report.md").read_text()
    for path in written:
        name = path.relative_to(tmp_path)
        if same_renderer or (path.suffix not in (".png", ".html") and name.name != "report.md"):
            assert (committed / name).read_bytes() == path.read_bytes(), f"reports/quick/{name} is stale"
