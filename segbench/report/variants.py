"""Run records grouped into variants (one architecture + options + settings, over seeds)."""

import json
from dataclasses import dataclass, field
from typing import Any

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
    flat |= {k: json.dumps(v, sort_keys=True) for k, v in spec["options"].items()}
    for section in SETTINGS:
        flat |= _flatten(spec.get(section) or {}, section)
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


def _plain(value: str | None) -> str:
    """A JSON value as labels show it: strings unquoted, booleans lower case."""
    if value is None:
        return "–"
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


def machines(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """machine_id → environment of the records computed there, sorted by id."""
    envs = {r["environment"]["machine_id"]: r["environment"] for r in records if r.get("environment")}
    return dict(sorted(envs.items()))
