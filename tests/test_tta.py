"""Test-time augmentation: the mean softmax over scales and flips, checked against a plain second computation;
an evaluation-only axis that shares the checkpoint and leaves the ids of runs without it as they were."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segbench.matrix import expand
from segbench.suitefile import load_suite
from segbench.tta import MultiScaleInference
from tests.conftest import REPO, TINY_SUITE


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 3, stride=2, padding=1),
                         nn.Upsample(scale_factor=2, mode="nearest")).eval()


def test_one_scale_without_flip_is_the_models_softmax():
    net, x = small_net(), torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(MultiScaleInference(net, (1.0,), False)(x).exp(), net(x).softmax(1))


def test_scales_and_flips_average_the_softmax_as_computed_by_hand():
    net, x = small_net(), torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        views = []
        for factor in (0.5, 1.5):
            scaled = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
            for flip in (False, True):
                out = net(torch.flip(scaled, [3])) if flip else net(scaled)
                out = torch.flip(out, [3]) if flip else out
                views.append(F.interpolate(out, size=(32, 48), mode="bilinear", align_corners=False).softmax(1))
        expected = torch.stack(views).mean(0)
        torch.testing.assert_close(MultiScaleInference(net, (0.5, 1.5), True)(x).exp(), expected)


def test_a_flip_equivariant_model_gives_the_same_result_with_and_without_flips():
    torch.manual_seed(1)
    pointwise, x = nn.Conv2d(3, 4, 1).eval(), torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(MultiScaleInference(pointwise, (1.0,), True)(x),
                                   MultiScaleInference(pointwise, (1.0,), False)(x))


def test_in_training_mode_it_is_the_model():
    net, x = small_net().train(), torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(MultiScaleInference(net, (0.5, 2.0), True).train()(x), net(x))


def test_tta_is_an_eval_only_axis_and_runs_without_it_keep_their_ids(write_suite):
    plain = expand(load_suite(write_suite(TINY_SUITE)))
    text = TINY_SUITE.replace("batch_norm: true}", "batch_norm: true, tta: [false, true]}")
    text = text.replace("eval: {batch_size: 4}", "eval: {batch_size: 4, tta_scales: [0.75, 1.0]}")
    both = expand(load_suite(write_suite(text, "tta.yaml")))
    assert len(both) == 2 * len(plain)
    with_tta = [s for s in both if s.options.get("tta")]
    without = [s for s in both if not s.options.get("tta")]
    assert {s.train_key for s in with_tta} == {s.train_key for s in without} == {s.train_key for s in plain}
    assert {s.run_id for s in with_tta}.isdisjoint(s.run_id for s in plain)
    assert all("tta" not in s.to_dict()["options"] for s in without)
    assert with_tta[0].eval.tta_scales == (0.75, 1.0)


def test_the_committed_quick_records_keep_their_run_ids():
    """A field or option added since (tta, eval.tta_*) must not change existing run ids, or resume breaks."""
    records = {json.loads(p.read_text())["run_id"]: json.loads(p.read_text())
               for p in (REPO / "results" / "quick" / "runs").glob("*.json")}
    seeds = sorted({r["spec"]["seed"] for r in records.values()})   # committed: the suite run with --seeds
    specs = expand(load_suite(REPO / "suites" / "quick.yaml").model_copy(update={"seeds": seeds}))
    assert len(seeds) == 3 and {s.run_id for s in specs} == set(records)
    for s in specs:
        assert json.loads(json.dumps(s.to_dict())) == records[s.run_id]["spec"]


def test_a_labelled_entry_names_its_tta_axis(write_suite):
    text = TINY_SUITE.replace("{arch: fcn, skip: [32, 8],", "{arch: fcn, label: FCN, skip: 8, tta: [false, true],")
    assert [s.label for s in expand(load_suite(write_suite(text)))] == ["FCN tta=false", "FCN tta=true"]


@pytest.mark.parametrize("bad, message", [("tta_scales: []", "at least 1 item"), ("tta_scales: [0]", "greater than 0")])
def test_tta_scales_are_validated(write_suite, bad, message):
    from segbench.errors import ConfigError

    text = TINY_SUITE.replace("eval: {batch_size: 4}", "eval: {batch_size: 4, " + bad + "}")
    with pytest.raises(ConfigError, match=message):
        load_suite(write_suite(text))


@pytest.mark.slow
def test_a_suite_with_a_tta_axis_runs_and_reports_it_as_an_ablation(tmp_path, write_suite):
    from typer.testing import CliRunner

    from segbench.cli import app

    text = TINY_SUITE.replace("skip: [32, 8]", "skip: 8, tta: [false, true]").replace(
        "eval: {batch_size: 4}", "eval: {batch_size: 4, tta_scales: [0.75, 1.25]}") + "probe: {enabled: false}\n"
    ran = CliRunner().invoke(app, ["run", str(write_suite(text)), "--results", str(tmp_path / "r"),
                                   "--reports", str(tmp_path / "p")])
    assert ran.exit_code == 0, ran.output
    report = (tmp_path / "p" / "tiny" / "report.md").read_text()
    assert "| fcn tta=true | 1 |" in report and "| +tta |" in report


def test_profile_measures_a_tta_variant_through_its_augmentation():
    from segbench import models
    from segbench.probe import count_flops
    from segbench.profiling import profile_model

    fast = {"repeats": 1, "warmup": 0, "throughput_batch": 1, "throughput_repeats": 1}
    tta = profile_model("fcn", ["width=0.0625", "tta=true"], "1x3x64x64", "cpu", 5, fast)["results"][0]
    meta = models.build_on_meta("fcn", 5, width=0.0625)
    views = sum(2 * count_flops(meta, torch.empty(1, 3, round(64 * s), round(64 * s), device="meta"))
                for s in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75))          # each scale, and its flip
    assert tta["probe"]["flops"] == views
