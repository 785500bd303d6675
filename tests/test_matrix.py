"""Matrix expansion and run identity."""

import hashlib

from segbench.suitefile import load_suite
from segbench.matrix import expand, longest_first, shard, short_hash
from tests.conftest import TINY_SUITE


def test_grid_times_seeds_in_suite_order(write_suite):
    text = TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1, 2]").replace(
        "batch_norm: true}", "batch_norm: [true, false]}")
    specs = expand(load_suite(write_suite(text)))
    assert len(specs) == 2 * 2 * 3
    assert [(s.options["skip"], s.options["batch_norm"], s.seed) for s in specs[:4]] == [
        (32, True, 0), (32, True, 1), (32, True, 2), (32, False, 0)]
    assert len({s.run_id for s in specs}) == 12
    assert len({s.variant_key for s in specs}) == 4
    assert specs[0].label == "fcn skip=32 batch_norm=true"


def test_ids_ignore_key_order_and_spelled_out_defaults(write_suite):
    a = expand(load_suite(write_suite(TINY_SUITE, "a.yaml")))
    reordered = TINY_SUITE.replace("{arch: fcn, skip: [32, 8], width: 0.0625, batch_norm: true}",
                                   "{batch_norm: true, width: 0.0625, skip: [32, 8], arch: fcn, dropout: 0.5}")
    reordered = reordered.replace("train: {batch_size: 4, iterations: 2, lr: 0.01}",
                                  "train: {lr: 0.01, iterations: 2, batch_size: 4, optimizer: sgd}")
    b = expand(load_suite(write_suite(reordered, "b.yaml")))
    assert [s.run_id for s in a] == [s.run_id for s in b]
    assert [s.train_key for s in a] == [s.train_key for s in b]


def test_ids_change_with_what_affects_results(write_suite):
    base = expand(load_suite(write_suite(TINY_SUITE, "a.yaml")))[0]
    lr = expand(load_suite(write_suite(TINY_SUITE.replace("lr: 0.01", "lr: 0.02"), "b.yaml")))[0]
    tol = expand(load_suite(write_suite(TINY_SUITE.replace(
        "eval: {batch_size: 4}", "eval: {batch_size: 4, boundary_tolerance: 0.01}"), "c.yaml")))[0]
    assert lr.run_id != base.run_id and lr.train_key != base.train_key
    # an evaluation setting gives a new run on the same trained checkpoint
    assert tol.run_id != base.run_id and tol.train_key == base.train_key


def test_short_hash_is_stable():
    assert short_hash({"b": 1, "a": [1, 2]}) == short_hash({"a": [1, 2], "b": 1})
    # pinned to sha256 of compact, key-sorted JSON: a change would orphan every stored result
    assert short_hash({"b": 1, "a": 2}) == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()[:10]


def test_duplicate_variants_are_run_once(write_suite):
    text = TINY_SUITE + "  - {arch: fcn, skip: 8, width: 0.0625, batch_norm: true}\n"
    assert len(expand(load_suite(write_suite(text)))) == 2


def test_shards_partition_the_runs_and_keep_a_checkpoints_runs_together(write_suite):
    text = TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1, 2]").replace("batch_norm: true}", "batch_norm: true, crf: [false, true]}")
    specs = expand(load_suite(write_suite(text)))
    parts = [shard(specs, i, 4) for i in range(4)]
    assert sorted(s.run_id for p in parts for s in p) == sorted(s.run_id for s in specs)
    home = {s.train_key: i for i, p in enumerate(parts) for s in p}
    assert all(s in parts[home[s.train_key]] for s in specs)   # CRF on and off: one checkpoint, one shard
    assert len([p for p in parts if p]) >= 2                     # 6 checkpoints are not all dealt to one shard


def test_a_run_keeps_its_shard_when_the_suite_grows(write_suite):
    """Dealing by position moved runs when a variant was added before them; a hash of the train key does not."""
    small = expand(load_suite(write_suite(TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1]"))))
    grown_text = TINY_SUITE.replace("seeds: [0]", "seeds: [0, 1, 2, 3]").replace(
        "models:\n", "models:\n  - {arch: unet, width: 0.0625}\n")
    grown = expand(load_suite(write_suite(grown_text, "grown.yaml")))
    for count in (2, 3, 5):
        before = {s.run_id: i for i in range(count) for s in shard(small, i, count)}
        after = {s.run_id: i for i in range(count) for s in shard(grown, i, count)}
        assert {run: after[run] for run in before} == before


def test_eval_only_options_share_the_trained_checkpoint(write_suite):
    text = TINY_SUITE.replace("batch_norm: true}", "batch_norm: true, crf: [false, true]}")
    specs = expand(load_suite(write_suite(text)))
    assert len(specs) == 4
    by_skip = {}
    for s in specs:
        by_skip.setdefault(s.options["skip"], []).append(s)
    for plain, with_crf in by_skip.values():
        assert plain.train_key == with_crf.train_key and plain.run_id != with_crf.run_id
        assert "crf" not in with_crf.model_options
    assert specs[1].label == "fcn skip=32 crf=true"


def test_a_model_entry_can_override_training(write_suite):
    text = TINY_SUITE.replace("batch_norm: true}", "batch_norm: true}\n"
                              "  - {arch: fcn, skip: 8, width: 0.0625, batch_norm: true, train: {optimizer: adamw, lr: 0.003}}")
    specs = expand(load_suite(write_suite(text)))
    plain, tuned = specs[1], specs[2]
    assert plain.options == tuned.options
    assert (plain.train.optimizer, plain.train.lr) == ("sgd", 0.01)
    # the override replaces only the fields it names; the rest comes from the suite's train section
    assert tuned.train == plain.train.model_copy(update={"optimizer": "adamw", "lr": 0.003})
    assert tuned.train_key != plain.train_key and tuned.variant_key != plain.variant_key
    assert tuned.label == "fcn skip=8 train.optimizer=adamw train.lr=0.003"
    assert plain.label == "fcn skip=8 train.optimizer=sgd train.lr=0.01"


def test_an_override_of_the_length_replaces_the_suites_length(write_suite):
    text = TINY_SUITE.replace("batch_norm: true}", "batch_norm: true, train: {epochs: 3}}")
    spec = expand(load_suite(write_suite(text)))[0]
    assert (spec.train.epochs, spec.train.iterations) == (3, None)


def test_an_entry_label_names_its_variants_by_the_entrys_own_axes(write_suite):
    text = TINY_SUITE.replace("batch_norm: true}", "batch_norm: true, label: FCN-VGG16, crf: [false, true]}")
    specs = expand(load_suite(write_suite(text)))
    assert [s.label for s in specs] == ["FCN-VGG16 skip=32 crf=false", "FCN-VGG16 skip=32 crf=true",
                                        "FCN-VGG16 skip=8 crf=false", "FCN-VGG16 skip=8 crf=true"]
    unlabelled = expand(load_suite(write_suite(text.replace(" label: FCN-VGG16,", ""), "b.yaml")))
    # renaming re-evaluates (new run ids) on the same trained checkpoints
    assert [s.train_key for s in specs] == [s.train_key for s in unlabelled]
    assert not {s.run_id for s in specs} & {s.run_id for s in unlabelled}


def _with_entries(write_suite, *entries: str):
    """TINY_SUITE's FCN entry followed by `entries`, expanded."""
    fcn = "skip: [32, 8], width: 0.0625, batch_norm: true}"
    return expand(load_suite(write_suite(TINY_SUITE.replace(fcn, fcn + "".join(f"\n  - {e}" for e in entries)))))


def test_longest_first_orders_trainings_by_images_seen_ties_in_matrix_order(write_suite):
    specs = _with_entries(write_suite, "{arch: unet, width: 0.0625, train: {iterations: 3}}",
                          "{arch: deconvnet, width: 0.0625, train: {batch_size: 2, iterations: 5}}")
    assert [s.arch for s in specs] == ["fcn", "fcn", "unet", "deconvnet"]
    # images seen: fcn 4 x 2 = 8 each, unet 4 x 3 = 12, deconvnet 2 x 5 = 10
    assert [(s.arch, s.options.get("skip")) for s in longest_first(specs)] == [
        ("unet", None), ("deconvnet", None), ("fcn", 32), ("fcn", 8)]


def test_longest_first_keeps_matrix_order_when_a_training_counts_epochs(write_suite):
    specs = _with_entries(write_suite, "{arch: unet, width: 0.0625, train: {iterations: null, epochs: 1}}",
                          "{arch: deconvnet, width: 0.0625, train: {batch_size: 2, iterations: 5}}")
    assert [s.train.iterations for s in specs] == [2, 2, None, 5]
    assert longest_first(specs) == specs
