"""Suite validation: each kind of bad input gives a clear message with file, line and field."""

import json

import pytest

from segbench.entries import json_schema
from segbench.suitefile import load_suite
from segbench.errors import ConfigError
from tests.conftest import REPO, TINY_SUITE


def error_of(write_suite, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(write_suite(text))
    return str(info.value)


def test_valid_suite_resolves_defaults(tiny_suite):
    suite = load_suite(tiny_suite)
    assert suite.name == "tiny" and suite.version == "1"
    assert suite.dataset.image_size == (32, 32)
    assert suite.train.optimizer == "sgd" and suite.train.poly_power == 0.9
    assert suite.eval.boundary_tolerance == 0.0075
    assert suite.models == [{"arch": "fcn", "skip": [32, 8], "width": [0.0625], "batch_norm": [True]}]


def test_every_shipped_suite_validates():
    from tests.conftest import REPO
    for path in sorted((REPO / "suites").glob("*.yaml")):
        load_suite(path)


@pytest.mark.parametrize("old, new, expected", [
    ("version: 1", "version: 1\ncolour: red", ":3: colour: unknown field 'colour'; allowed: name, version"),
    ("seeds: [0]", "seeds: []", ":3: seeds: List should have at least 1 item"),
    ("seeds: [0]", "seeds: [0, 0]", ":3: seeds: seeds must be distinct"),
    ("seeds: [0]", "seeds: [-1]", "seeds[0]: Input should be greater than or equal to 0 (got -1)"),
    ("device: cpu", "device: gpu", ":4: device: Input should be 'auto', 'cpu' or 'cuda' (got 'gpu')"),
    ("lr: 0.01", "lr: -0.5", ":6: train.lr: Input should be greater than 0 (got -0.5)"),
    ("iterations: 2", "iterations: two", "train.iterations: Input should be a valid integer"),
    ("iterations: 2", "epochs: 1, iterations: 2", "train: give exactly one of 'iterations' or 'epochs'"),
    ("image_size: 32", "image_size: 8", ":5: dataset.image_size: Input should be greater than or equal to 16 (got 8)"),
    ("image_size: 32", "image_size: 32, scenes: foggy",
     ":5: dataset.scenes: Input should be 'cluttered', 'clear' or 'scales' (got 'foggy')"),
    ("name: shapes", "name: voc2099", "dataset.name: the data set's name must be one of shapes, voc2012, voc2012_aug, folder (got 'voc2099')"),
    ("skip: [32, 8]", "skip: [32, 12]", ":9: models[0].skip[1]: Input should be 32, 16 or 8 (got 12)"),
    ("skip: [32, 8]", "skip: []", "models[0].skip: an axis needs at least one value"),
    ("width: 0.0625", "width: 0", "models[0].width: Input should be greater than 0 (got 0)"),
    ("batch_norm: true", "bn: true", "models[0].bn: unknown option 'bn' for fcn; allowed: skip, width"),
    ("{arch: fcn, skip: [32, 8], width: 0.0625, batch_norm: true}", "{arch: deconvnet, min_channels: 0}",
     ":9: models[0].min_channels: Input should be greater than or equal to 1 (got 0)"),
    ("arch: fcn", "arch: fcnn", "models[0].arch: unknown architecture 'fcnn'; registered: deconvnet, deeplab, fcn, unet"),
    ("name: tiny", "name: 'bad name/'",
     "name: a suite name names its results and reports folders: letters, digits, '.', '_' and '-' only"),
    ("batch_norm: true}", "batch_norm: true, train: {lrr: 0.1}}",
     ":9: models[0].train.lrr: unknown field 'lrr'; allowed: optimizer, lr, momentum"),
    ("batch_norm: true}", "batch_norm: true, train: {optimizer: adam}}",
     "models[0].train.optimizer: Input should be 'sgd' or 'adamw' (got 'adam')"),
    ("batch_norm: true}", "batch_norm: true, train: 0.1}", "models[0].train: must be a mapping of training fields"),
    ("batch_norm: true}", "batch_norm: true, label: [a, b]}", ":9: models[0].label: a label is one line of text"),
    ("iterations: 2", "iterations: 2, object_crops: 2",
     ":6: train: object_crops (2) must be smaller than iterations (2), so that training ends on whole images"),
    ("iterations: 2", "iterations: 2, lr_warmup: 2",
     ":6: train: lr_warmup (2) must be smaller than iterations (2)"),
    ("batch_norm: true}", "batch_norm: true, train: {lr_warmup: -3}}",
     "models[0].train.lr_warmup: Input should be greater than or equal to 0 (got -3)"),
    ("iterations: 2", "epochs: 3, object_crops: 1", "train: object_crops (1) counts steps: give 'iterations', not 'epochs'"),
    ("batch_norm: true}", "batch_norm: true, train: {object_crops: 5}}",
     ":9: models[0].train: object_crops (5) must be smaller than iterations (2)"),
    ("batch_norm: true}", "batch_norm: true, train: {object_crops: -1}}",
     "models[0].train.object_crops: Input should be greater than or equal to 0 (got -1)"),
])
def test_bad_field_is_reported_with_line_and_path(write_suite, old, new, expected):
    assert old in TINY_SUITE
    message = error_of(write_suite, TINY_SUITE.replace(old, new, 1))
    assert expected in message
    assert "suite.yaml" in message


def test_missing_required_field(write_suite):
    message = error_of(write_suite, TINY_SUITE.replace("seeds: [0]\n", ""))
    assert "seeds: required field is missing" in message


def test_several_problems_are_all_listed(write_suite):
    text = TINY_SUITE.replace("device: cpu", "device: gpu").replace("lr: 0.01", "lr: -1")
    text = text.replace("arch: fcn", "arch: nope")
    message = error_of(write_suite, text)
    assert message.splitlines()[0].endswith("3 problems in the suite:")
    assert len(message.splitlines()) == 4


@pytest.mark.parametrize("text, expected", [
    ("", "the suite file is empty"),
    ("name: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "a suite must be a mapping"),
    ("name: x\nmodels: [fcn]\n", "models[0]: a model entry must be a mapping"),
    ("!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
])
def test_unreadable_files(write_suite, text, expected):
    assert expected in error_of(write_suite, text)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such suite file"):
        load_suite(tmp_path / "absent.yaml")


def test_json_schema_lists_architecture_options():
    schema = json_schema()
    text = json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert "fcn_entry" in text and '"skip"' in text
    assert set(schema["required"]) >= {"name", "seeds", "dataset", "train", "models"}


def test_option_combinations_the_builder_refuses_are_validation_errors(write_suite):
    text = TINY_SUITE.replace("{arch: fcn, skip: [32, 8], width: 0.0625, batch_norm: true}",
                              "{arch: deeplab, version: [v1, v3], backbone: resnet50, width: 0.0625}")
    message = error_of(write_suite, text)
    assert ":9: models[0]: deeplab version v1: v1 (LargeFOV) is VGG16 only" in message
    assert message.count("deeplab version") == 1  # v3 on resnet50 is fine


def test_the_readme_suite_example_is_valid(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    suite = load_suite(path)
    assert [e["arch"] for e in suite.models] == ["fcn", "deeplab", "unet"]


def test_fields_outside_old_run_ids_have_the_defaults_that_readers_fill_in():
    from segbench.config import IDENTITY_WHEN_SET, EvalConfig, TrainConfig
    from segbench.dataconfig import ShapesConfig
    from segbench.identity import DATASET_WHEN_SET, SETTINGS_WHEN_SET

    for section, expected in ((EvalConfig, SETTINGS_WHEN_SET["eval"]), (TrainConfig, SETTINGS_WHEN_SET["train"]),
                              (ShapesConfig, DATASET_WHEN_SET["shapes"])):
        defaults = section.model_construct().model_dump(mode="json")
        assert {k: defaults[k] for k in IDENTITY_WHEN_SET[section]} == expected


def test_new_fields_at_their_defaults_keep_the_run_ids(write_suite):
    """scenes: cluttered and rate_divisor: 1 spelled out expand to the ids of a suite written before them."""
    from segbench.matrix import expand
    plain = TINY_SUITE.replace("{arch: fcn,", "{arch: deeplab, version: v2, backbone: resnet50, aspp: true,"
                                             " width: 0.0625}\n  - {arch: fcn,")
    spelled = plain.replace("image_size: 32,", "image_size: 32, scenes: cluttered,").replace(
        "aspp: true,", "aspp: true, rate_divisor: 1,")
    assert spelled != plain
    ids = [[s.run_id for s in expand(load_suite(write_suite(text, name)))]
           for text, name in ((plain, "plain.yaml"), (spelled, "spelled.yaml"))]
    assert ids[0] == ids[1] and len(ids[0]) == 3
