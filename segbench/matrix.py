"""Expansion of a suite into runs, run identities, and sharding."""

import hashlib
import itertools
import json
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import BaseModel

from .config import EvalConfig, ProbeConfig, Reproducible, Suite, TrainConfig, identity
from .dataconfig import DatasetConfig
from .entries import ENTRY_KEYS, ENTRY_LABEL, EVAL_ONLY_OPTIONS, options_model, resolved_train
from .identity import OPTIONS_WHEN_SET
from .text import option_text


@dataclass(frozen=True)
class RunSpec:
    """One run of the matrix: a variant (architecture + resolved options) at one seed."""

    run_id: str                # hash of everything that defines the run's results
    train_key: str             # hash of what affects training only
    variant_key: str           # hash of the run without its seed: what seeds are aggregated over
    label: str                 # human-readable variant name, e.g. "fcn skip=16"
    order: int                 # position of the variant in the suite, for reports
    suite: str
    suite_version: str
    arch: str
    options: dict[str, Any]
    seed: int
    dataset: DatasetConfig
    train: TrainConfig
    eval: EvalConfig
    probe: ProbeConfig         # speed/memory measurement settings: part of run_id, not of train_key
    device: str = field(compare=False)
    reproducible: Reproducible | None = None   # pinned numerics (segbench.determinism); part of every key when set

    def to_dict(self) -> dict[str, Any]:
        """The record's `spec`: every field, the sections as JSON (`reproducible` only when set, like the ids)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)
                if f.name != "reproducible" or self.reproducible}

    @property
    def model_options(self) -> dict[str, Any]:
        """The builder's arguments: the options without the eval-only ones."""
        return {k: v for k, v in self.options.items() if k not in EVAL_ONLY_OPTIONS}


def _plain(value: Any) -> Any:
    return identity(value) if isinstance(value, BaseModel) else value


def short_hash(obj: Any, length: int = 10) -> str:
    """A stable hash of a JSON-able object; key order does not matter."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def expand(suite: Suite) -> list[RunSpec]:
    """The run matrix: each entry's axes as a grid, in suite order, times the seeds."""
    variants = _variants(suite)
    labels = _labels(variants)
    dataset, evaluation, probe = (_plain(section) for section in (suite.dataset, suite.eval, suite.probe))
    pinned = {"reproducible": _plain(suite.reproducible)} if suite.reproducible else {}   # old ids stay when unset
    specs = []
    for order, v in enumerate(variants):
        arch, options, train = v.arch, v.options, _plain(v.train)
        train_opts = {k: x for k, x in options.items() if k not in EVAL_ONLY_OPTIONS}  # = RunSpec.model_options
        variant = {"arch": arch, "options": options, "dataset": dataset, "train": train, "eval": evaluation,
                   "probe": probe, **pinned}
        if v.label:  # a record carries its name: renaming re-evaluates on the same checkpoint
            variant["label"] = v.label
        for seed in suite.seeds:
            train_key = short_hash({"arch": arch, "options": train_opts, "dataset": dataset,
                                    "train": train, "seed": seed, **pinned})
            specs.append(RunSpec(
                run_id=f"{arch}-{short_hash({**variant, 'seed': seed})}", train_key=train_key,
                variant_key=short_hash(variant), label=labels[order], order=order, suite=suite.name,
                suite_version=suite.version, arch=arch, options=options, seed=seed, dataset=suite.dataset,
                train=v.train, eval=suite.eval, probe=suite.probe, device=suite.device,
                reproducible=suite.reproducible))
    return specs


@dataclass(frozen=True)
class _Variant:
    arch: str
    options: dict[str, Any]   # resolved, defaults included
    train: TrainConfig        # resolved training settings
    label: str | None         # the entry's `label:`, if it has one
    entry_axes: tuple[str, ...]  # the options that take several values in the entry


def _variants(suite: Suite) -> list[_Variant]:
    """One per grid point of each entry; duplicates are kept once."""
    seen, variants = set(), []
    for entry in suite.models:
        axes = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        model = options_model(entry["arch"])
        train = resolved_train(suite, entry)
        entry_axes = tuple(k for k, v in axes.items() if len(v) > 1)
        for values in itertools.product(*axes.values()):
            options = model.model_validate(dict(zip(axes, values))).model_dump(mode="json")
            options = {k: v for k, v in options.items() if k not in OPTIONS_WHEN_SET or v != OPTIONS_WHEN_SET[k]}
            key = short_hash([entry["arch"], options, _plain(train)])
            if key not in seen:
                seen.add(key)
                variants.append(_Variant(entry["arch"], options, train, entry.get(ENTRY_LABEL), entry_axes))
    return variants


def _labels(variants: list[_Variant]) -> list[str]:
    """Name each variant: an entry's `label:` plus the options varying within the entry; else the
    architecture plus the options (and training fields) that vary among that architecture's variants."""
    labels = []
    for v in variants:
        if v.label:
            labels.append(" ".join([v.label] + [f"{k}={option_text(_option(v, k))}" for k in v.entry_axes]))
            continue
        others = [o for o in variants if o.arch == v.arch]
        varying = [f"{k}={option_text(x)}" for k, x in v.options.items()
                   if any(o.options.get(k) != x for o in others)]
        varying += [f"train.{k}={option_text(x)}" for k, x in v.train if any(getattr(o.train, k) != x for o in others)]
        labels.append(" ".join([v.arch] + varying))
    return labels


def _option(v: _Variant, key: str) -> Any:
    """An option's value; one of OPTIONS_WHEN_SET is absent at its default."""
    return v.options.get(key, OPTIONS_WHEN_SET.get(key))


def shard(specs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """The runs of shard `index` of `count` (0-based), dealt by their train key's hash: runs sharing a checkpoint
    stay together, and a run keeps its shard when variants or seeds are added to the suite."""
    return [s for s in specs if int(s.train_key, 16) % count == index]


def longest_first(specs: list[RunSpec]) -> list[RunSpec]:
    """`specs` by the images their training sees (steps x batch), most first, ties in matrix order, so that
    jobs taking them in turn end close together; in matrix order when any training counts epochs (whose
    steps depend on the data set's size)."""
    if any(s.train.iterations is None for s in specs):
        return list(specs)
    return sorted(specs, key=lambda s: s.train.iterations * s.train.batch_size, reverse=True)
