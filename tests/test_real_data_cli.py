"""Real data from the command line: a small suite through the VOC loader end to end, `segbench data`, the
missing-data stop, and a user folder's bad inputs, each a clear error with exit code 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from segbench.cli import app
from segbench.data.synth import write_folder, write_voc
from segbench.samples import decode_png

SUITE = """\
name: tiny-voc
seeds: [0]
device: cpu
dataset:
  name: voc2012
  root: {root}
  augment: {{scale: [0.5, 1.5], crop: 64}}
  probe_side: 64
train: {{batch_size: 2, iterations: 3, lr: 0.01}}
eval: {{batch_size: 4}}
probe: {{warmup: 1, repeats: 2, throughput_batch: 2, throughput_repeats: 1, crf_repeats: 1}}
models:
  - {{arch: fcn, skip: 8, width: 0.0625, batch_norm: true, crf: [false, true]}}
"""

FOLDER_SUITE = """\
name: mine
seeds: [0]
device: cpu
dataset: {{name: folder, root: {root}, train_list: train.txt, val_list: val.txt, augment: {{crop: 48}}}}
train: {{batch_size: 2, iterations: 2}}
probe: {{enabled: false}}
models:
  - {{arch: fcn, skip: 32, width: 0.0625}}
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.slow
def test_a_small_suite_runs_through_the_voc_loader_records_and_report(tmp_path):
    write_voc(tmp_path / "data", train=4, val=5)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(root=tmp_path / "data"))
    ran = invoke("run", suite, "--results", tmp_path / "results", "--reports", tmp_path / "reports")
    assert ran.exit_code == 0, ran.output
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "results" / "tiny-voc" / "runs").glob("*.json"))]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    for r in records:
        assert r["eval"]["images"] == 5 and r["data"]["num_classes"] == 21
        assert r["data"]["class_names"][15] == "person" and r["data"]["ignore_index"] == 255
        shapes = {decode_png(t).shape for t in r["samples"]["targets"]}
        assert len(shapes) > 1                                   # kept at the images' own sizes
    assert records[0]["train"]["checkpoint"] == records[1]["train"]["checkpoint"]   # crf shares the checkpoint
    report = tmp_path / "reports" / "tiny-voc"
    assert (report / "figures" / "qualitative.png").is_file() and "voc2012" in (report / "report.md").read_text()


def test_data_synth_then_check_reports_counts_and_exits_0(tmp_path):
    assert invoke("data", "synth", "--out", tmp_path, "--format", "voc", "--train", 3, "--val", 2).exit_code == 0
    checked = invoke("data", "check", "--dataset", "voc2012", "--root", tmp_path)
    assert checked.exit_code == 0, checked.output
    assert "3 images where the full data set has 1,464" in checked.output and "usable (3 train, 2 val)" in checked.output


def test_data_check_names_a_broken_mask_and_exits_2(tmp_path):
    voc = write_voc(tmp_path, train=2, val=2)
    mask = sorted((voc / "SegmentationClass").glob("*.png"))[0]
    labels = np.array(Image.open(mask))
    labels[0, 0] = 42
    Image.fromarray(labels, mode="L").save(mask)
    checked = invoke("data", "check", "--dataset", "voc2012", "--root", tmp_path)
    assert checked.exit_code == 2 and f"{mask}: label value 42 is neither a class" in checked.output


def test_a_suite_without_its_data_stops_before_any_model_with_the_missing_data_message(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(root=tmp_path / "absent"))
    ran = invoke("run", suite, "--results", tmp_path / "results")
    assert ran.exit_code == 2 and "PASCAL VOC 2012 not found" in ran.output
    assert "segbench data download voc2012" in ran.output and "Traceback" not in ran.output
    assert not (tmp_path / "results" / "tiny-voc" / "checkpoints").exists()
    assert invoke("run", suite, "--dry-run").exit_code == 0


def break_folder(root, fault):
    """One fault in a written folder tree; returns the file the error must name."""
    stem = (root / "train.txt").read_text().split()[0]
    mask, image = root / "masks" / f"{stem}.png", next((root / "images").glob(f"{stem}.*"))
    if fault == "missing mask":
        mask.unlink()
        return mask, "missing"
    if fault == "size mismatch":
        Image.fromarray(np.zeros((7, 9), np.uint8), mode="L").save(mask)
        return mask, "differs from its image"
    if fault == "label outside the classes":
        labels = np.array(Image.open(mask))
        labels[1, 1] = 99
        Image.fromarray(labels, mode="L").save(mask)
        return mask, "label value 99 is neither a class"
    image.write_bytes(b"not an image")
    return image, "cannot read the image"


@pytest.mark.parametrize("fault", ["missing mask", "size mismatch", "label outside the classes", "unreadable image"])
def test_a_folders_bad_input_is_named_with_exit_code_2(tmp_path, fault):
    root = write_folder(tmp_path / "mine", count=6)
    culprit, words = break_folder(root, fault)
    suite = tmp_path / "suite.yaml"
    suite.write_text(FOLDER_SUITE.format(root=root))
    ran = invoke("run", suite, "--results", tmp_path / "results")
    assert ran.exit_code == 2, ran.output
    assert str(culprit) in ran.output and words in ran.output and "Traceback" not in ran.output


def test_a_bad_classes_file_is_named(tmp_path):
    root = write_folder(tmp_path / "mine", count=4)
    (root / "classes.yaml").write_text("names: [a, b]\ncolors: [[0, 0, 0]]\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(FOLDER_SUITE.format(root=root))
    ran = invoke("run", suite, "--results", tmp_path / "results")
    assert ran.exit_code == 2 and f"{root / 'classes.yaml'}: `colors:` needs one [r, g, b]" in ran.output


def test_a_folder_with_a_seeded_split_loads(tmp_path):
    from segbench import data
    from segbench.dataconfig import FolderConfig

    root = write_folder(tmp_path / "mine", count=10, split="none")
    cfg = FolderConfig(name="folder", root=str(root), val_fraction=0.3, split_seed=1)
    train, val = data.build(cfg, "train"), data.build(cfg, "val")
    assert (len(train), len(val)) == (7, 3) and not {p.stem for p in train.images} & {p.stem for p in val.images}
    again = data.build(FolderConfig(name="folder", root=str(root), val_fraction=0.3, split_seed=1), "val")
    assert again.images == val.images and train.num_classes == 7 and train.info.ignore_index == 255


def test_a_classes_file_without_colours_gets_vocs(tmp_path):
    from segbench.data.folder import read_classes
    from segbench.data.voc import voc_colormap

    (tmp_path / "classes.yaml").write_text("names: [bg, a, b]\n")
    info = read_classes(tmp_path / "classes.yaml")
    assert info.palette == tuple(voc_colormap()[:3]) and info.ignore_index == 255 and info.background == 0


def test_folder_images_are_found_in_any_case_and_a_stem_twice_is_refused(tmp_path):
    from segbench import data
    from segbench.dataconfig import FolderConfig

    root = write_folder(tmp_path / "mine", count=6)
    for path in (root / "images").glob("*.jpg"):
        path.rename(path.with_suffix(".JPG"))
    cfg = FolderConfig(name="folder", root=str(root), train_list="train.txt", val_list="val.txt")
    assert any(p.suffix == ".JPG" for p in data.build(cfg, "train").images + data.build(cfg, "val").images)
    first = sorted((root / "images").iterdir())[0]
    (root / "images" / f"{first.stem}.jpeg").write_bytes(first.read_bytes())
    with pytest.raises(Exception, match="a second image of stem"):
        data.build(cfg, "train")


def test_data_check_on_a_folder_names_every_bad_mask(tmp_path):
    root = write_folder(tmp_path / "mine", count=6)
    stems = (root / "train.txt").read_text().split()[:2]
    for stem in stems:
        labels = np.array(Image.open(root / "masks" / f"{stem}.png"))
        labels[0, 0] = 77
        Image.fromarray(labels, mode="L").save(root / "masks" / f"{stem}.png")
    suite = tmp_path / "suite.yaml"
    suite.write_text(FOLDER_SUITE.format(root=root))
    checked = invoke("data", "check", suite)
    assert checked.exit_code == 2 and all(f"{stem}.png: label value 77" in checked.output for stem in stems)


def test_a_16_bit_png_image_is_read_as_8_bits(tmp_path):
    from segbench.data.files import read_image

    values = np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 541
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)   # a 16-bit greyscale PNG (mode I;16)
    image = read_image(path)
    assert image.dtype == torch.uint8 and image.shape == (3, 12, 10)
    expected = values.astype(np.int64) * 255 // 65535
    assert all(np.array_equal(channel, expected) for channel in image.numpy())


def test_bad_data_flags_and_outputs_are_one_line_errors(tmp_path, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("x")
    synth = invoke("data", "synth", "--out", target, "--format", "voc")
    assert synth.exit_code == 2 and "--out" in synth.output and "Traceback" not in synth.output
    md5 = invoke("data", "download", "voc2012", "--root", tmp_path, "--md5", "0" * 32)
    assert md5.exit_code == 2 and "--md5 goes with --url" in md5.output
    monkeypatch.setenv("SEGBENCH_EMPTY", "")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(root="${SEGBENCH_EMPTY}"))
    ran = invoke("validate", suite)
    assert ran.exit_code == 2 and "SEGBENCH_EMPTY is not set or empty" in ran.output
