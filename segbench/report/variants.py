"""Run records grouped into variants (one architecture + options + settings, over seeds)."""

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..identity import DATASET_WHEN_SET, OPTIONS_WHEN_SET, SETTINGS_WHEN_SET
from ..text import option_text

SETTINGS = ("dataset", "train", "eval", "probe")  # spec sections that, with the options, define a variant


@dataclass
class Variant:
    key: str                  # spec.variant_key
    label: str                # spec.label, made unique within the report (see `variants`)
    arch: str
    spec: dict[str, Any]      # the spec of its first record (the seed aside, all its records share it)
    ok: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)   # settings appended to a shared label

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.ok + self.failed


def variants(records: list[dict[str, Any]]) -> list[Variant]:
    """Records grouped by variant, grouped by architecture (in order of first appearance), then suite order.

    Variants that share a label but not their settings (records of several suite versions in one
    folder) get the settings that tell them apart appended, e.g. "fcn skip=8 [train.lr=0.02]".
    """
    grouped: dict[str, Variant] = {}
    for r in records:
        spec = r["spec"]
        v = grouped.setdefault(spec["variant_key"], Variant(spec["variant_key"], spec["label"], spec["arch"], spec))
        (v.ok if r["status"] == "ok" else v.failed).append(r)
    vs = list(grouped.values())
    _disambiguate(vs)
    arch_rank = {arch: i for i, arch in reversed(list(enumerate(v.arch for v in vs)))}
    return sorted(vs, key=lambda v: (arch_rank[v.arch], v.spec["order"], str(v.spec["suite_version"]), v.label))


def coordinates(spec: dict[str, Any]) -> dict[str, str]:
    """Everything that defines a variant as flat `key: JSON value` pairs: options under their own names
    (as in labels), settings dotted ("train.lr"), and the suite version."""
    flat = {"version": json.dumps(spec.get("suite_version"))}
    flat |= {k: json.dumps(v, sort_keys=True) for k, v in (OPTIONS_WHEN_SET | spec["options"]).items()}
    defaults = SETTINGS_WHEN_SET | {"dataset": DATASET_WHEN_SET.get((spec.get("dataset") or {}).get("name"), {})}
    for section in SETTINGS:
        flat |= _flatten(defaults.get(section, {}) | (spec.get(section) or {}), section)
    return flat


def _flatten(value: dict[str, Any], prefix: str) -> dict[str, str]:
    out = {}
    for k, v in value.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}.{k}")
        else:
            out[f"{prefix}.{k}"] = json.dumps(v, sort_keys=True)
    return out


def _disambiguate(vs: list[Variant]) -> None:
    by_label: dict[str, list[Variant]] = {}
    for v in vs:
        by_label.setdefault(v.label, []).append(v)
    for same in by_label.values():
        if len(same) < 2:
            continue
        coords = [coordinates(v.spec) for v in same]
        keys = sorted({k for c in coords for k in c})
        differing = [k for k in keys if len({c.get(k) for c in coords}) > 1]
        for v, c in zip(same, coords):
            v.tags = {k: _plain(c.get(k)) for k in differing}
            v.label = tagged(v.label, v.tags)


def tagged(label: str, tags: dict[str, str]) -> str:
    return f"{label} [{' '.join(f'{k}={x}' for k, x in tags.items())}]" if tags else label


_OPTION = re.compile(r"^(\[?[^=\s\[\]]+=)([^\s\[\]]*)(\]?)$")   # "skip=8", "[train.lr=0.02", "version=2]"


def compact_labels(labels: list[str]) -> list[str]:
    """Labels that differ in one `key=value` word merged, repeatedly, keeping their order:
    ["fcn skip=32", "fcn skip=16", "unet"] → ["fcn skip=32/16", "unet"]; a full grid of options becomes one
    label ("aspp=false/true crf=false/true"), so each merged label stands for exactly the labels it replaced."""
    words = [label.split(" ") for label in labels]
    while _merge_first_pair(words):
        pass
    return [" ".join(w) for w in words]


def _merge_first_pair(words: list[list[str]]) -> bool:
    for i, j in itertools.combinations(range(len(words)), 2):
        union = _merge(words[i], words[j])
        if union is not None:
            words[i] = union
            del words[j]
            return True
    return False


def _merge(a: list[str], b: list[str]) -> list[str] | None:
    """a with its one differing `key=value` word's values joined with b's, or None when they are not so."""
    differ = [k for k, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b) or len(differ) != 1:
        return None
    k = differ[0]
    x, y = _OPTION.match(a[k]), _OPTION.match(b[k])
    if not (x and y and x[1] == y[1] and x[3] == y[3]):
        return None
    return a[:k] + [f"{x[1]}{x[2]}/{y[2]}{x[3]}"] + a[k + 1:]


def _plain(value: str | None) -> str:
    """A JSON value as labels show it: strings unquoted, booleans lower case."""
    if value is None:
        return "–"
    decoded = json.loads(value)
    return option_text(decoded) if isinstance(decoded, (str, bool, int, float)) else value


def machines(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """machine_id → environment of the records computed there, sorted by id."""
    envs = {r["environment"]["machine_id"]: r["environment"] for r in records if r.get("environment")}
    return dict(sorted(envs.items()))
