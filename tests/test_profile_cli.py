"""`segbench profile` and the FLOPs column of `segbench models`, through the command line."""

import json

import pytest
from typer.testing import CliRunner

from segbench import models
from segbench.cli import app
from segbench.probe import parameter_counts
from tests.conftest import TINY_SUITE
from tests.test_probe import fcn8s_flops

cli = CliRunner()
QUICK = ["--repeats", "2", "--warmup", "1", "--throughput-batch", "2", "--threads", "1"]


def profile(*args: str):
    return cli.invoke(app, ["profile", *args])


def test_profile_one_model_as_json():
    result = profile("fcn", "--set", "width=0.125", "--set", "skip=8", "--input", "1x3x64x64",
                     "--num-classes", "5", "--json", *QUICK)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    [row] = out["results"]
    assert row["variant"] == "fcn width=0.125 skip=8" and row["options"]["width"] == 0.125
    assert row["params"] == parameter_counts(models.build_on_meta("fcn", 5, skip=8, width=0.125))
    probe = row["probe"]
    assert probe["input_shape"] == [1, 3, 64, 64] and probe["flops"] == fcn8s_flops(0.125, 5, 64)
    assert probe["latency_ms"]["repeats"] == 2 and probe["throughput"]["batch"] == 2
    assert probe["options"]["threads"] == 1 and out["environment"]["device"] == "cpu"


def test_profile_table_names_the_machine_and_the_units():
    result = profile("unet", "--set", "width=0.0625", "--input", "2x1x32x32", "--set", "in_channels=1", *QUICK)
    assert result.exit_code == 0, result.output
    assert "input 2x1x32x32" in result.output and "1 threads" in result.output
    for column in ("GFLOPs", "GMACs", "median ms", "p90 ms", "img/s", "infer MB", "train MB"):
        assert column in result.output
    assert "unet width=0.0625 in_channels=1" in result.output


def test_profile_every_variant_of_a_suite(write_suite):
    suite = write_suite(TINY_SUITE.replace("skip: [32, 8]", "skip: [32, 8], crf: [false, true]"))
    result = profile("--suite", str(suite), "--json", *QUICK)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["results"]
    assert [r["variant"] for r in rows] == ["fcn skip=32 crf=false", "fcn skip=32 crf=true",
                                            "fcn skip=8 crf=false", "fcn skip=8 crf=true"]
    assert all(r["probe"]["input_shape"] == [1, 3, 32, 32] for r in rows)  # the suite's data set size
    assert [r["probe"]["end_to_end_ms"]["postprocess"] for r in rows] == ["argmax", "crf"] * 2
    bigger = json.loads(profile("--suite", str(suite), "--input", "2x3x64x64", "--json", *QUICK).output)
    assert bigger["results"][0]["probe"]["input_shape"] == [2, 3, 64, 64]


@pytest.mark.parametrize("args, message", [
    (["fcn", "--input", "1x3x512"], "--input '1x3x512': expected NxCxHxW"),
    (["fcn", "--input", "1x3x8x8"], "height and width from 16 to 4096"),
    (["fcn", "--set", "skip"], "--set 'skip': expected KEY=VALUE"),
    (["fcn", "--set", "skip=12"], "--set skip=12: Input should be 32, 16 or 8 (got 12)"),
    (["fcn", "--set", "depth=3"], "--set depth=3: unknown option 'depth' for fcn; allowed: skip, width"),
    (["fcn", "--set", "skip=[8, 16]"], "expected KEY=VALUE with one value"),
    (["deeplab", "--set", "version=v1", "--set", "backbone=resnet50"], "v1 (LargeFOV) is VGG16 only"),
    (["fcn", "--set", "in_channels=1"], "--input has 3 channels but --set in_channels=1"),
    (["segformer"], "unknown architecture 'segformer'; registered: deconvnet, deeplab, fcn, unet"),
    ([], "give either an architecture"),
    (["fcn", "--device", "tpu"], "--device 'tpu': allowed: auto, cpu, cuda"),
])
def test_profile_user_errors_name_the_flag_and_exit_2(args, message):
    result = profile(*args)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_profile_suite_errors(write_suite, tmp_path):
    result = profile("fcn", "--suite", str(write_suite(TINY_SUITE)))
    assert result.exit_code == 2 and "not both" in result.stderr
    result = profile("--suite", str(write_suite(TINY_SUITE)), "--set", "skip=8")
    assert result.exit_code == 2 and "--set applies to ARCH" in result.stderr
    result = profile("--suite", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "no such suite file" in result.stderr


def test_models_lists_flops_at_the_input_size():
    result = cli.invoke(app, ["models", "--json", "--width", "0.125", "--num-classes", "5", "--input", "1x3x64x64"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    by_name = {v["variant"]: v for v in listing["variants"]}
    assert listing["input_shape"] == [1, 3, 64, 64]
    assert by_name["FCN-8s"]["flops"] == fcn8s_flops(0.125, 5, 64)
    assert by_name["FCN-8s"]["gmacs"] == by_name["FCN-8s"]["gflops"] / 2
    assert cli.invoke(app, ["models", "--input", "64x64"]).exit_code == 2


def test_a_suite_times_its_crf_on_its_own_first_validation_scene(write_suite, tmp_path, monkeypatch):
    """A `shapes` suite's CRF is timed on its own first validation scene (its composition, its size), as a run
    times it; a real data set is not read (profile does not need it), so the probe's default scene is used."""
    import segbench.crf
    from segbench.config import Suite
    from segbench.data.synthetic import render_scene
    from segbench.profiling import crf_scene_of

    seen = []
    real_crf = segbench.crf.crf_image
    monkeypatch.setattr(segbench.crf, "crf_image", lambda probs, image, params: seen.append(image.copy())
                        or real_crf(probs, image, params))
    text = TINY_SUITE.replace("name: shapes,", "name: shapes, scenes: clear,").replace("skip: [32, 8]", "crf: true")
    result = profile("--suite", str(write_suite(text)), "--json", *QUICK)
    assert result.exit_code == 0, result.output
    clear, _ = render_scene(0, "val", 0, (32, 32), scenes="clear")
    cluttered, _ = render_scene(0, "val", 0, (32, 32), scenes="cluttered")
    assert seen and all((image == clear).all() for image in seen)
    assert not (clear == cluttered).all()     # the default scene would have failed the check above
    voc = Suite.model_validate({"name": "v", "seeds": [0], "train": {"iterations": 1}, "models": [{"arch": "fcn"}],
                                "dataset": {"name": "voc2012", "root": str(tmp_path / "absent")}}).dataset
    assert crf_scene_of(voc) is None
