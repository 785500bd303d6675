"""Report tables from hand-built records: seed statistics, bold best, references, ablations, failures,
records without probes, mixed machines and mixed suite versions. Expected numbers are computed by hand."""

import csv
import math
import statistics

import pytest

from segbench.report import ablation, document, references
from segbench.report.csvs import variants_csv
from segbench.report.stats import Summary, paired_differences, summarise
from segbench.report.tables import ACCURACY, COST, SPEED, main_table, per_class_table, speed_table
from segbench.report.variants import compact_labels, variants
from tests.report_records import DATASET, TRAIN, make_record

T_975_2 = 4.303   # Student t, 97.5% quantile, 2 degrees of freedom (printed t-tables)

REFERENCE = {"label": "FCN-8s", "arch": "fcn", "dataset": "PASCAL VOC 2012", "split": "test",
             "metrics": {"miou": 0.70}, "source": "Long et al., CVPR 2015, Table 3"}


def suite_records(probe: bool = True) -> list[dict]:
    lat = (lambda x: x) if probe else (lambda x: None)
    return ([make_record("fcn skip=32", 0, s, m, options={"skip": 32}, with_probe=lat(10 + s))
             for s, m in ((0, .60), (1, .62), (2, .64))]
            + [make_record("fcn skip=16", 1, s, m, options={"skip": 16}, with_probe=lat(12)) for s, m in ((0, .65), (1, .66))]
            + [make_record("deeplab crf=false", 2, 0, .55, arch="deeplab", options={"crf": False}, with_probe=lat(20)),
               make_record("deeplab crf=true", 3, 0, .58, arch="deeplab", options={"crf": True}, with_probe=lat(40),
                           bf1=.4),
               make_record("unet", 4, 0, arch="unet", status="failed")])


def row(table, label):
    return next(r for r in table.rows if r[0].text == label)


def test_seed_statistics_by_hand():
    s = summarise([0.60, 0.62, 0.64, None])
    assert (s.mean, s.n) == (pytest.approx(0.62), 3) and s.std == pytest.approx(0.02)
    half = T_975_2 * 0.02 / 3 ** 0.5
    assert s.ci95 == pytest.approx((0.62 - half, 0.62 + half), abs=1e-5)
    assert summarise([0.5]) == Summary(0.5, None, 1) and summarise([0.5]).ci95 is None
    assert summarise([None]) == Summary(None, None, 0)
    diff = paired_differences({0: 0.60, 1: 0.62, 2: 0.64}, {0: 0.65, 1: 0.66})   # seed 2 has no partner
    assert diff.n == 2 and diff.mean == pytest.approx(0.045) and diff.std == pytest.approx(0.01 / 2 ** 0.5)



def test_identical_values_have_no_spread_and_others_the_sample_std():
    # 0.1 * 3 / 3 is 0.10000000000000002 in floats: a float mean leaves a spread of ~1.7e-17
    same = summarise([0.1, 0.1, 0.1])
    assert same.std == 0.0 and same.ci95 == (same.mean, same.mean)
    rows = csv.DictReader(variants_csv(variants([make_record("fcn", 0, s, 0.1) for s in range(3)]), []).splitlines())
    assert next(rows)["miou_std"] == "0"
    # mean 0.515; squared deviations 0.009025 + 0.099225 + 0.027225 + 0.148225 = 0.2837, over n - 1 = 3
    spread = summarise([0.61, 0.2, 0.35, 0.9]).std
    assert spread == pytest.approx(math.sqrt(0.2837 / 3), rel=1e-12)
    assert spread == statistics.stdev([0.61, 0.2, 0.35, 0.9])

def test_main_table_mean_std_seeds_ci_and_bold():
    table = main_table(variants(suite_records()), with_speed=True)
    headers = table.headers
    assert headers[:3] == ["variant", "seeds", "mIoU ↑"] and "latency (ms) ↓" in headers and "params (M) ↓" in headers
    miou, lat = headers.index("mIoU ↑"), headers.index("latency (ms) ↓")
    fcn32, fcn16 = row(table, "fcn skip=32"), row(table, "fcn skip=16")
    assert fcn32[1].text == "3" and fcn32[miou].text == "62.0 ± 2.0" and fcn32[miou].detail == "95% CI 57.0–67.0"
    assert fcn16[miou].text == "65.5 ± 0.7" and fcn16[miou].bold and not fcn32[miou].bold
    assert fcn32[lat].text == "11.00 ± 1.00" and fcn32[lat].bold          # lower latency is better
    assert row(table, "deeplab crf=true")[headers.index("BF1 ↑")].bold
    params = headers.index("params (M) ↓")
    assert fcn32[params].text == "2.00" and not fcn32[params].bold       # no spread; all equal: nothing bold
    assert row(table, "unet")[1].text == "0 (+1 failed)" and row(table, "unet")[miou].text == "–"
    assert table.breaks == {2, 4}                                        # fcn | deeplab | unet


def test_reference_rows_are_italic_after_their_architecture_and_never_bold():
    vs = variants(suite_records())
    columns = ACCURACY + COST + SPEED
    table = references.add_reference_rows(main_table(vs, True), [v.arch for v in vs], columns, [REFERENCE])
    labels = [r[0].text for r in table.rows]
    assert labels[2] == "FCN-8s (PASCAL VOC 2012 test) [1]" and table.italic == {2}
    ref = table.rows[2]
    assert ref[1].text == "paper" and ref[2].text == "70.0" and not ref[2].bold and ref[3].text == "–"
    assert row(table, "fcn skip=16")[2].bold                               # the best measured stays bold
    assert table.breaks == {3, 5}
    assert references.published(0.6225) == "62.25" and references.published(0.622) == "62.2"


def test_ablation_steps_are_read_off_the_options_and_paired_by_seed():
    vs = variants(suite_records())
    table = ablation.ablation_table(vs, ACCURACY[:2] + SPEED[:1])
    assert [r[0].text for r in table.rows] == ["fcn", "deeplab"]
    skip, crf = table.rows
    assert [c.text for c in skip[1:]] == ["skip 32 → 16", "+4.5 ± 0.7", "+0.0 ± 0.0", "+1.50 ± 0.71"]
    assert [c.text for c in crf[1:]] == ["+crf", "+3.0", "+10.0", "+20.00"]


def test_ablation_chain_of_three_and_a_two_by_two_grid():
    recs = [make_record(f"fcn skip={k}", i, 0, m, options={"skip": k}) for i, (k, m) in
            enumerate(((32, .50), (16, .56), (8, .55)))]
    grid = [(False, False, .40), (False, True, .45), (True, False, .50), (True, True, .52)]
    recs += [make_record(f"deeplab aspp={str(a).lower()} crf={str(c).lower()}", 3 + i, 0, m, arch="deeplab",
                         options={"aspp": a, "crf": c}) for i, (a, c, m) in enumerate(grid)]
    table = ablation.ablation_table(variants(recs), ACCURACY[:1])
    rows = [(r[0].text, r[1].text, r[2].text) for r in table.rows]
    assert rows == [("fcn", "skip 32 → 16", "+6.0"), ("fcn", "skip 16 → 8", "−1.0"),
                    ("deeplab aspp=false", "+crf", "+5.0"), ("deeplab crf=false", "+aspp", "+10.0"),
                    ("deeplab crf=true", "+aspp", "+7.0"), ("deeplab aspp=true", "+crf", "+2.0")]


def test_records_without_probe_show_dashes_and_say_so():
    doc = document.build(suite_records(probe=False), [])
    table = next(b for b in doc.blocks if hasattr(b, "headers"))
    lat = table.headers.index("latency (ms) ↓")
    assert {r[lat].text for r in table.rows} == {"–"}
    assert row(table, "fcn skip=32")[table.headers.index("GFLOPs ↓")].text == "–"
    header = doc.blocks[0].items
    assert any("not measured in these records" in line for line in header)
    assert any("no record has probe measurements" in getattr(b, "text", "") for b in doc.blocks)


def test_several_machines_split_the_speed_columns():
    recs = [make_record("fcn skip=32", 0, 0, .6, options={"skip": 32}, with_probe=10, machine="aaaa1111"),
            make_record("fcn skip=32", 0, 1, .6, options={"skip": 32}, with_probe=99, machine="bbbb2222"),
            make_record("fcn skip=16", 1, 0, .7, options={"skip": 16}, with_probe=12, machine="aaaa1111")]
    vs = variants(recs)
    doc = document.build(recs, [])
    main = next(b for b in doc.blocks if hasattr(b, "headers"))
    assert "latency (ms) ↓" not in main.headers and "GFLOPs ↓" in main.headers
    a, b = speed_table(vs, "aaaa1111"), speed_table(vs, "bbbb2222")
    assert [(r[0].text, r[2].text) for r in a.rows] == [("fcn skip=32", "10.00"), ("fcn skip=16", "12.00")]
    assert [(r[0].text, r[1].text, r[2].text) for r in b.rows] == [("fcn skip=32", "1", "99.00")]
    assert a.rows[0][2].bold and not b.rows[0][2].bold
    assert sum("machine aaaa1111" in line or "machine bbbb2222" in line for line in doc.blocks[0].items) == 2
    assert {p.name for p in doc.plots} >= {"pareto-aaaa1111.png", "pareto-bbbb2222.png"}


def test_same_labels_from_two_suite_versions_are_told_apart_and_both_headed():
    faster = TRAIN | {"lr": 0.02}
    recs = [make_record("fcn skip=32", 0, 0, .5, options={"skip": 32}),
            make_record("fcn skip=32", 0, 0, .6, options={"skip": 32}, suite_version="2", train=faster)]
    labels = [v.label for v in variants(recs)]
    assert labels == ["fcn skip=32 [train.lr=0.05 version=1]", "fcn skip=32 [train.lr=0.02 version=2]"]
    assert ablation.ablation_table(variants(recs), ACCURACY).rows == []   # two things changed: no ablation step
    same_version = recs[:1] + [make_record("fcn skip=32", 0, 0, .6, options={"skip": 32}, train=faster)]
    step = ablation.ablation_table(variants(same_version), ACCURACY[:1]).rows
    assert [[c.text for c in r] for r in step] == [["fcn skip=32", "train.lr 0.02 → 0.05", "−10.0"]]  # label order
    doc = document.build(recs, [])
    assert doc.title == "unit (suite version 1), unit (suite version 2)"
    trainings = [line for line in doc.blocks[0].items if line.startswith("training")]
    assert trainings == [f"training (fcn skip=32 [train.lr={lr} version={v}]): sgd lr {lr}, batch 4, 10 iterations, "
                         "poly 0.9" for lr, v in ((0.05, 1), (0.02, 2))]


def test_header_names_the_variants_of_each_training_and_data_set():
    recs = [make_record("fcn skip=32", 0, 0, options={"skip": 32}),
            make_record("fcn skip=16", 1, 0, options={"skip": 16}),
            make_record("unet", 2, 0, arch="unet", train=TRAIN | {"lr": 0.02, "iterations": 20})]
    recs[2]["spec"]["dataset"] = DATASET | {"val_samples": 6}
    header = document.build(recs, []).blocks[0].items
    assert [line for line in header if line.startswith(("training", "data set"))] == [
        "data set (fcn skip=32/16): shapes image_size=[16, 16], train_samples=8, val_samples=4, seed=0, "
        "void_border=0; split: val",
        "data set (unet): shapes image_size=[16, 16], train_samples=8, val_samples=6, seed=0, void_border=0; "
        "split: val",
        "training (fcn skip=32/16): sgd lr 0.05, batch 4, 10 iterations, poly 0.9",
        "training (unet): sgd lr 0.02, batch 4, 20 iterations, poly 0.9"]


def test_header_names_the_warm_up_and_the_object_crop_stage():
    staged = TRAIN | {"lr_warmup": 3, "object_crops": 4}
    header = document.build([make_record("deconvnet", 0, 0, arch="deconvnet", train=staged)], []).blocks[0].items
    assert [line for line in header if line.startswith("training")] == [
        "training: sgd lr 0.05, batch 4, 10 iterations, poly 0.9, warm-up 3, the first 4 on object crops"]


def test_one_shared_training_keeps_one_plain_line():
    header = document.build(suite_records(), []).blocks[0].items
    assert [line for line in header if line.startswith("training")] == [
        "training: sgd lr 0.05, batch 4, 10 iterations, poly 0.9"]


def test_compact_labels_merge_one_option_at_a_time_and_only_exactly():
    assert compact_labels(["FCN skip=32", "FCN skip=16", "FCN skip=8", "U-Net"]) == ["FCN skip=32/16/8", "U-Net"]
    grid = [f"v2 aspp={a} crf={c}" for a in ("false", "true") for c in ("false", "true")]
    assert compact_labels(grid) == ["v2 aspp=false/true crf=false/true"]
    assert compact_labels(grid[:3]) == ["v2 aspp=false crf=false/true", "v2 aspp=true crf=false"]   # not a grid
    apart = ["a x=1 y=2", "a x=2 y=1", "a skip=8", "b skip=16"]   # two words differ, or a word that is no option
    assert compact_labels(apart) == apart
    assert compact_labels(["f skip=8 [train.lr=0.05 version=1]", "f skip=8 [train.lr=0.02 version=1]"]) == [
        "f skip=8 [train.lr=0.05/0.02 version=1]"]


def test_per_class_table_has_classes_as_columns():
    recs = [make_record("a", 0, 0, per_class_iou=[0.9, 0.4, 0.2]), make_record("a", 0, 1, per_class_iou=[0.7, None, 0.4]),
            make_record("b", 1, 0, arch="unet", per_class_iou=[0.85, 0.1, 0.35])]
    table = per_class_table(variants(recs), "iou", ["background", "disk", "ring"])
    assert table.headers == ["variant", "background", "disk", "ring"]
    assert [c.text for c in table.rows[0]] == ["a", "80.0", "40.0", "30.0"]   # None: left out of the mean
    assert [c.bold for c in table.rows[0][1:]] == [False, True, False]
    assert [c.bold for c in table.rows[1][1:]] == [True, False, True]
