"""Report figures (matplotlib, headless): accuracy vs latency with the Pareto front, per-class IoU bars,
training loss curves. Each is PNG bytes, identical for identical records (no pyplot state, no metadata).
"""

import io
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .stats import summarise
from .tables import ACCURACY, latency_ms
from .variants import Variant

DPI = 110
STYLE = {"font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7, "legend.fontsize": 6,
         "font.family": "DejaVu Sans", "axes.grid": True, "grid.alpha": 0.3}


@dataclass
class Plot:
    name: str          # file name under figures/
    caption: str
    png: bytes


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    return buffer.getvalue()


def colour(i: int) -> tuple:
    return matplotlib.colormaps["tab20"](i % 20)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both axes (lower x, higher y), by increasing x."""
    front, best = [], -np.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def pareto_plot(vs: list[Variant], machine_id: str, device_name: str, name: str) -> Plot | None:
    """mIoU and BF1 against median latency per image on one machine; None when nothing was probed."""
    points = []
    for i, v in enumerate(vs):
        recs = [r for r in v.ok if r.get("environment", {}).get("machine_id") == machine_id]
        lat = summarise([latency_ms(r) for r in recs]).mean
        if lat is not None:
            points.append((i, v.label, lat, [summarise([c.value(r) for r in recs]).mean for c in ACCURACY[:2]]))
    if not points:
        return None
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(9, 3.6))
        for k, column in enumerate(ACCURACY[:2]):
            ax = fig.add_subplot(1, 2, k + 1)
            xy = [(lat, 100 * acc[k]) for _, _, lat, acc in points if acc[k] is not None]
            for i, label, lat, acc in points:
                if acc[k] is not None:
                    ax.scatter(lat, 100 * acc[k], color=colour(i), s=18, zorder=3)
                    ax.annotate(label, (lat, 100 * acc[k]), xytext=(3, 3), textcoords="offset points", fontsize=5)
            front = pareto_front(xy)
            if front:
                ax.step(*zip(*front), where="post", color="0.4", linestyle="--", linewidth=0.8, marker="o",
                        markersize=8, markerfacecolor="none", label="Pareto front")
                ax.legend(loc="best")
            if xy and max(x for x, _ in xy) > 20 * min(x for x, _ in xy):
                ax.set_xscale("log")
            ax.set_xlabel("median latency per image (ms, end to end)")
            ax.set_ylabel(f"{column.title} ×100 ↑")
            ax.set_title(f"{column.title} vs latency")
        fig.suptitle(f"machine {machine_id}: {device_name}", fontsize=7)
        return Plot(name, f"Accuracy against median latency on machine {machine_id} ({device_name}); "
                    "the dashed line is the Pareto front (faster or more accurate than every point to its right).",
                    png(fig))


def per_class_plot(vs: list[Variant], class_names: list[str]) -> Plot | None:
    """Grouped bars: per-class IoU (mean over seeds) of each variant."""
    measured = [(i, v) for i, v in enumerate(vs) if v.ok]
    if not measured or not class_names:
        return None
    width = 0.8 / len(measured)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(max(6.0, 0.35 * len(class_names) * max(2, len(measured)) / 2), 3.2))
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(class_names))
        for k, (i, v) in enumerate(measured):
            means = [summarise([(r["per_class"]["iou"] + [None] * len(class_names))[c] for r in v.ok]).mean
                     for c in range(len(class_names))]
            ax.bar(x - 0.4 + (k + 0.5) * width, [100 * m if m is not None else 0 for m in means], width,
                   color=colour(i), label=v.label)
        ax.set_xticks(x, class_names, rotation=30, ha="right")
        ax.set_ylabel("IoU ×100 ↑")
        ax.set_ylim(0, 100)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return Plot("per_class_iou.png", "Per-class IoU of each variant (mean over seeds).", png(fig))


def loss_plot(vs: list[Variant]) -> Plot | None:
    """Training loss against step, mean over seeds; one curve per distinct training (variants that differ
    only in evaluation options share their checkpoints and are labelled by what they have in common)."""
    groups: dict[tuple, list[tuple[int, Variant]]] = {}
    for i, v in enumerate(vs):
        if any(r.get("train", {}).get("loss_curve") for r in v.ok):
            groups.setdefault(tuple(sorted(r.get("train_key", r["run_id"]) for r in v.ok)), []).append((i, v))
    curves = []
    for members in groups.values():
        i, first = members[0]
        runs = [r["train"]["loss_curve"] for r in first.ok if r.get("train", {}).get("loss_curve")]
        steps = sorted(set.intersection(*({s for s, _ in c} for c in runs)))
        mean = [float(np.mean([dict(c)[s] for c in runs])) for s in steps]
        label = " ".join(t for t in first.label.split(" ") if all(t in v.label.split(" ") for _, v in members))
        curves.append((i, label, steps, mean, len(runs)))
    if not curves:
        return None
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        for i, label, steps, mean, n in curves:
            ax.plot(steps, mean, color=colour(i), linewidth=1.0, label=f"{label} (n={n})")
        ax.set_xlabel("training step")
        ax.set_ylabel("cross-entropy loss ↓")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return Plot("loss_curves.png", "Training loss (mean over seeds; n = seeds) of each distinct training.",
                    png(fig))
