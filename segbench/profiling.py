"""`segbench profile`: the probe of one model, or of every variant of a suite, without training.

Weights are freshly initialised (speed and memory do not depend on their values). The figures and
their method are those of a run record's `probe` block (segbench.probe.measure).
"""

from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import ValidationError
from rich.table import Table as RichTable

from . import data, models
from .config import EvalConfig, ProbeConfig, TrainConfig
from .crf.params import CRFParams
from .entries import EVAL_ONLY_OPTIONS, option_problems, options_model
from .environment import environment, resolve_device
from .errors import UsageError
from .matrix import expand
from .probe import count_flops, measure, parameter_counts
from .suitefile import load_suite
from .tta import MultiScaleInference

DEVICES = ("auto", "cpu", "cuda")


def parse_input(text: str) -> list[int]:
    """'NxCxHxW' (e.g. 1x3x512x512) as [N, C, H, W]; a UsageError naming --input otherwise."""
    try:
        dims = [int(part) for part in text.lower().split("x")]
    except ValueError:
        dims = []
    if len(dims) != 4 or min(dims) < 1 or not (16 <= min(dims[2:]) and max(dims[2:]) <= 4096):
        raise UsageError(f"--input {text!r}: expected NxCxHxW, four positive integers such as 1x3x512x512 "
                         f"(batch x channels x height x width; height and width from 16 to 4096)")
    return dims


def parse_sets(arch: str, items: list[str], channels: int) -> dict[str, Any]:
    """The model options that `--set KEY=VALUE` flags give (values read as YAML, as in a suite's model
    entry), validated like a suite's model entry; `in_channels` follows the input's C unless set."""
    if arch not in models.MODELS:
        raise UsageError(f"unknown architecture {arch!r}; registered: {', '.join(sorted(models.MODELS))}")
    entry = dict(_set_value(item, arch) for item in items)
    entry.setdefault("in_channels", channels)
    problems = option_problems([{"arch": arch, **entry}])
    if problems:
        raise UsageError("; ".join(f"--set {loc[2]}={entry[loc[2]]}: {msg}" if len(loc) > 2 else f"--set: {msg}"
                                   for loc, msg in problems))
    if entry["in_channels"] != channels:
        raise UsageError(f"--input has {channels} channels but --set in_channels={entry['in_channels']}: "
                         f"make them agree")
    return options_model(arch).model_validate(entry).model_dump(mode="json")


def _set_value(item: str, arch: str) -> tuple[str, Any]:
    key, sep, text = (part.strip() for part in item.partition("="))
    try:
        value = yaml.safe_load(text) if sep and key else None
    except yaml.YAMLError:
        value = None
    if value is None or isinstance(value, (list, dict)):
        raise UsageError(f"--set {item!r}: expected KEY=VALUE with one value, e.g. --set output_stride=8 "
                         f"(options of {arch}: {', '.join(options_model(arch).model_fields)})")
    return key, value


def probe_config(base: dict[str, Any], overrides: dict[str, Any]) -> ProbeConfig:
    """A suite's (or the default) probe settings with the command line's values on top, validated."""
    try:
        return ProbeConfig.model_validate({**base, **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']} (got {err.get('input')!r})") from None


def pick_device(flag: str | None, suite_device: str = "auto") -> torch.device:
    """The --device flag's device, else the suite's (auto: CUDA when available)."""
    if flag not in (None, *DEVICES):
        raise UsageError(f"--device {flag!r}: allowed: {', '.join(DEVICES)}")
    if flag == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch sees no CUDA device; use --device cpu or auto")
    return resolve_device(flag or suite_device)


def profile_variant(label: str, arch: str, options: dict[str, Any], num_classes: int, cfg: ProbeConfig,
                    device: torch.device, crf: CRFParams | None, train: TrainConfig | None = None,
                    evaluation: EvalConfig = EvalConfig(), scene: torch.Tensor | None = None) -> dict:
    """Build one variant (fresh weights) on `device` and probe it (through its test-time augmentation, if any);
    the CRF, if any, is timed on `scene` (segbench.probe.crf_scene)."""
    model = models.build(arch, num_classes, **{k: v for k, v in options.items() if k not in EVAL_ONLY_OPTIONS})
    if options.get("tta"):
        model = MultiScaleInference(model, evaluation.tta_scales, evaluation.tta_flip)
    model.to(device)
    return {"variant": label, "arch": arch, "options": options, "params": parameter_counts(model),
            "probe": measure(model, cfg, options["in_channels"], device, crf, train, scene)}


def profile_model(arch: str, sets: list[str], input_text: str, device_flag: str | None, num_classes: int,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    """`segbench profile ARCH`: one model at the --input shape."""
    n, c, h, w = parse_input(input_text)
    options = parse_sets(arch, sets, c)
    cfg = probe_config({"batch": n, "image_size": [h, w]}, overrides)
    device = pick_device(device_flag)
    crf = CRFParams() if options["crf"] else None
    return {"environment": environment(device),
            "results": [profile_variant(" ".join([arch, *sets]), arch, options, num_classes, cfg, device, crf)]}


def profile_suite(path: Path, input_text: str | None, device_flag: str | None,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    """`segbench profile --suite FILE`: each variant of the suite (first seed), with its probe settings."""
    suite = load_suite(path)
    device = pick_device(device_flag, suite.device)
    if input_text:
        n, _, h, w = parse_input(input_text)
        overrides = {"batch": n, "image_size": [h, w], **overrides}
    num_classes = data.info(suite.dataset).num_classes
    results, seen = [], set()
    specs = expand(suite)
    scene = crf_scene_of(suite.dataset) if any(spec.options.get("crf") for spec in specs) else None
    for spec in specs:
        if spec.variant_key in seen:
            continue
        seen.add(spec.variant_key)
        crf = spec.eval.crf if spec.options.get("crf") else None
        results.append(profile_variant(spec.label, spec.arch, spec.options, num_classes,
                                       probe_config(spec.probe.model_dump(), overrides), device, crf, spec.train,
                                       spec.eval, scene))
    return {"environment": environment(device), "results": results}


def crf_scene_of(dataset: Any) -> torch.Tensor | None:
    """The image a suite's CRF is timed on, as a run times it: the first validation image of a `shapes` suite
    (its own composition), or None for a real data set, which `profile` does not need to be present (the probe
    then times it on a default `shapes` scene)."""
    return data.build(dataset, "val")[0][0] if dataset.name == "shapes" else None


def table(profile: dict[str, Any]) -> RichTable:
    """The profile as a table: one row per variant."""
    env, first = profile["environment"], profile["results"][0]["probe"]
    title = (f"{env['device_name']} ({env['device']}), {first['options']['threads']} threads, input "
             f"{'x'.join(map(str, first['input_shape']))}; latency and end-to-end (e2e) per pass, img/s at batch "
             f"{first['throughput']['batch']}, peak memory of inference and of a training step")
    columns = ("variant", "params M", "GFLOPs", "GMACs", "median ms", "p90 ms", "e2e ms", "img/s",
               "infer MB", "train MB")
    out = RichTable(title=title)
    for col in columns:
        out.add_column(col, justify="left" if col == "variant" else "right")
    for row in profile["results"]:
        p = row["probe"]
        out.add_row(row["variant"], f"{row['params']['total'] / 1e6:.2f}", f"{p['gflops']:.3g}", f"{p['gmacs']:.3g}",
                    f"{p['latency_ms']['median']:.2f}", f"{p['latency_ms']['p90']:.2f}",
                    f"{p['end_to_end_ms']['median']:.2f}", f"{p['throughput']['images_per_s']:.1f}",
                    _mb(p["memory"]["inference_peak_mb"]), _mb(p["memory"]["train_step_peak_mb"]))
    return out


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def paper_variants(num_classes: int, width: float, shape: list[int]) -> list[dict[str, Any]]:
    """`segbench models`: the papers' variants built on the meta device (nothing allocated), with
    parameters and the FLOPs of one forward pass at `shape`."""
    rows = []
    for name, (arch, options) in models.PAPER_VARIANTS.items():
        model = models.build_on_meta(arch, num_classes, **options, width=width, in_channels=shape[1])
        flops = count_flops(model, torch.empty(shape, device="meta"))
        rows.append({"variant": name, "arch": arch, "options": options, "params": parameter_counts(model)["total"],
                     "flops": flops, "gflops": flops / 1e9, "gmacs": flops / 2e9})
    return rows
