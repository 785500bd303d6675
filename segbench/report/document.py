"""The report as a format-neutral document (headings, text, tables, figures) built from records alone."""

from dataclasses import dataclass
from typing import Any, Union

import matplotlib

from . import claims as claims_, figures, qualitative, references
from .ablation import ablation_table
from .tables import (ACCURACY, SPEED, Table, failures_table, main_columns, main_table, per_class_table,
                     speed_table)
from .variants import Variant, compact_labels, machines, variants

Record = dict[str, Any]


@dataclass
class Heading:
    text: str


@dataclass
class Text:
    text: str


@dataclass
class Bullets:
    items: list[str]


Block = Union[Heading, Text, Bullets, Table, figures.Plot]


@dataclass
class Document:
    title: str
    blocks: list[Block]

    @property
    def plots(self) -> list[figures.Plot]:
        return [b for b in self.blocks if isinstance(b, figures.Plot)]


def build(records: list[Record], refs: list[dict[str, Any]], vs: list[Variant] | None = None,
          claims: list[dict[str, Any]] = ()) -> Document:
    """The report of `records` (and of the suite's `claims`); `vs` = variants(records), when the caller has them."""
    vs = variants(records) if vs is None else vs
    ok = [r for r in records if r["status"] == "ok"]
    envs = machines(ok or records)
    one_machine = len(envs) <= 1
    suites = sorted({(r["spec"]["suite"], r["spec"]["suite_version"]) for r in records})
    title = ", ".join(f"{name} (suite version {version})" for name, version in suites)
    blocks: list[Block] = [Bullets(header_lines(records, vs, envs)), Heading("Results"),
                           Text("Validation split. Metrics ×100; mean ± sample std over the seeds (n in the seeds "
                                "column; the CSV and HTML files add the 95% Student-t interval); ↑/↓ = better "
                                "direction; best measured value per column in bold. Italic rows are published "
                                "numbers on the data set and split named in the row: not comparable with the "
                                "measured rows unless that is the data set measured here."),
                           _with_references(vs, refs, one_machine)]
    if refs:
        blocks.append(Bullets([f"[{i + 1}] {src}" for i, src in enumerate(references.citations(refs))]))
    if not one_machine:
        blocks.append(Heading("Speed by machine"))
        blocks.append(Text("The records come from several machines, so speed and memory are compared within "
                           "one machine only."))
        for mid, env in envs.items():
            blocks += [Text(f"Machine {mid} ({env.get('device_name')}):"), speed_table(vs, mid)]
    if claims:
        blocks += [Heading("Claims"), Text(
            "The suite's claims, judged over seeds: gap = better − worse side, paired by seed (×100, mean ± std); "
            "reproduced when the gap exceeds 2 × the pooled seed std, contradicted when the opposite gap does, "
            "undecided otherwise or with fewer than 2 seeds."),
            claims_.claims_table([claims_.judge(c, vs) for c in claims])]
    ablation = ablation_table(vs, ACCURACY[:2] + (SPEED[:1] if one_machine else []))
    if ablation.rows:
        blocks += [Heading("Ablations"), Text("Variants of one architecture that differ in exactly one option "
                                              "or setting; Δ = after − before, ×100 for metrics, paired by seed "
                                              "(mean ± std over the seeds both have)."), ablation]
    if ok:
        names = ok[0]["data"]["class_names"]
        for key, title_ in (("iou", "Per-class IoU"), ("bf1", "Per-class boundary F1")):
            blocks += [Heading(title_), per_class_table(vs, key, names)]
    failures = failures_table(vs)
    if failures.rows:
        blocks += [Heading("Failed runs"), Text("Runs that raised an error; they count in no statistic above."),
                   failures]
    return Document(title, blocks + _figures(vs, ok, envs))


def _with_references(vs: list[Variant], refs: list[dict[str, Any]], with_speed: bool) -> Table:
    table = main_table(vs, with_speed)
    return references.add_reference_rows(table, [v.arch for v in vs], main_columns(with_speed), refs) if refs else table


def _figures(vs: list[Variant], ok: list[Record], envs: dict[str, Record]) -> list[Block]:
    blocks: list[Block] = [Heading("Figures")]
    pareto = [figures.pareto_plot(vs, mid, env.get("device_name", ""), "pareto.png" if len(envs) == 1
                                  else f"pareto-{mid}.png") for mid, env in envs.items()]
    pareto = [p for p in pareto if p]
    blocks += pareto or [Text("No accuracy-vs-latency figure: no record has probe measurements.")]
    names = ok[0]["data"]["class_names"] if ok else []
    blocks += [p for p in (figures.per_class_plot(vs, names), figures.loss_plot(vs)) if p]
    blocks += qualitative.grids(vs) or [Text("No qualitative grid: no record holds evaluation samples "
                                             "(records written before segbench kept them).")]
    return blocks


def header_lines(records: list[Record], vs: list[Variant], envs: dict[str, Record]) -> list[str]:
    """What the numbers are: suites, data set and split, training, software, machines, measurement."""
    specs = [r["spec"] for r in records]
    envs_all = [r["environment"] for r in records if r.get("environment")]
    commits = sorted({f"{e['git_commit'][:10]}{' (dirty)' if e.get('git_dirty') else ''}" if e.get("git_commit")
                      else "unknown" for e in envs_all})
    lines = setting_lines("data set", {v.label: f"{_dataset_text(v.spec['dataset'])}; split: val" for v in vs})
    lines += setting_lines("training", {v.label: _train_text(v.spec["train"]) for v in vs})
    lines += [f"boundary F1 tolerance: {t} × image diagonal"
              for t in _distinct(str(s["eval"]["boundary_tolerance"]) for s in specs)]
    crf = _distinct(", ".join(f"{k} {v}" for k, v in s["eval"]["crf"].items())
                    for s in specs if s["options"].get("crf"))
    lines += [f"dense CRF (runs with crf=true): {c}" for c in crf]
    lines += [f"reproducible: {r} (pinned numerics: bit-identical records on one machine)"
              for r in _distinct(", ".join(f"{k} {v}" for k, v in s["reproducible"].items())
                                 for s in specs if s.get("reproducible"))]
    lines.append(f"software: segbench {', '.join(_distinct(e['segbench'] for e in envs_all))}, commit "
                 f"{', '.join(commits)}; torch {', '.join(_distinct(e['torch'] for e in envs_all))}; figures "
                 f"drawn by matplotlib {matplotlib.__version__}")
    for mid, e in envs.items():
        cuda = f", CUDA {e['cuda']}" if e.get("cuda") and str(e.get("device", "")).startswith("cuda") else ""
        lines.append(f"machine {mid}: {e.get('device_name')} ({e.get('device')}{cuda}), {e.get('threads')} threads")
    return lines + _measurement_lines(records)


def setting_lines(what: str, text_of: dict[str, str]) -> list[str]:
    """One `what: text` line per distinct text (label → text, in report order); when the variants do not
    all share one, each line names its variants: `training (FCN skip=32/16, U-Net): ...`."""
    users: dict[str, list[str]] = {}
    for label, text in text_of.items():
        users.setdefault(text, []).append(label)
    if len(users) == 1:
        return [f"{what}: {text}" for text in users]
    return [f"{what} ({', '.join(compact_labels(labels))}): {text}" for text, labels in users.items()]


def _measurement_lines(records: list[Record]) -> list[str]:
    probes = [r["probe"] for r in records if r.get("probe")]
    if not probes:
        return ["speed, memory and FLOPs: not measured in these records (no probe block): shown as –"]
    lines = [f"{what}: {m}" for what in ("latency", "memory", "flops")
             for m in _distinct((p.get("method") or {}).get(what) for p in probes) if m]
    shapes = _distinct("×".join(map(str, p["input_shape"])) for p in probes if p.get("input_shape"))
    return lines + [f"probe input shape (N×C×H×W): {', '.join(shapes)}; GFLOPs are per image; latency is the "
                    "median per image, network and post-processing (end to end)"]


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v is not None))


def _dataset_text(ds: dict[str, Any]) -> str:
    return f"{ds['name']} " + ", ".join(f"{k}={v}" for k, v in ds.items() if k != "name")


def _train_text(train: dict[str, Any]) -> str:
    length = f"{train['iterations']} iterations" if train.get("iterations") else f"{train.get('epochs')} epochs"
    warmup = f", warm-up {train['lr_warmup']}" if train.get("lr_warmup") else ""
    crops = f", the first {train['object_crops']} on object crops" if train.get("object_crops") else ""
    return (f"{train['optimizer']} lr {train['lr']}, batch {train['batch_size']}, {length}, "
            f"poly {train['poly_power']}{warmup}{crops}")
