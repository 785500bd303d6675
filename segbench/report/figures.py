"""Report figures (matplotlib, headless): accuracy vs latency with the Pareto front, per-class IoU bars,
training loss curves. Each is PNG bytes, identical for identical records (no pyplot state, no metadata).
"""

import io
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import labels
from .stats import summarise
from .tables import ACCURACY, latency_ms
from .variants import Variant

DPI = 110
STYLE = {"font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7, "legend.fontsize": 6,
         "font.family": "DejaVu Sans", "axes.grid": True, "grid.alpha": 0.3}
MARKER_PT = 4      # radius of the Pareto front's rings, the largest markers of the Pareto figure (points)
KEY_ROWS = 20      # rows of the Pareto figure's key before it takes another column


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
    points = pareto_points(vs, machine_id)
    if not points:
        return None
    with matplotlib.rc_context(STYLE):
        fig = pareto_figure(points, f"machine {machine_id}: {device_name}")
        return Plot(name, f"Accuracy against median latency on machine {machine_id} ({device_name}); "
                    "the dashed line is the Pareto front (faster or more accurate than every point to its right); "
                    "points are numbered as in the key on the right.", png(fig))


def pareto_points(vs: list[Variant], machine_id: str) -> list[tuple[int, str, float, list]]:
    """(colour index, label, mean latency in ms, [mean mIoU, mean BF1]) of each variant probed on the machine."""
    points = []
    for i, v in enumerate(vs):
        recs = [r for r in v.ok if r.get("environment", {}).get("machine_id") == machine_id]
        lat = summarise([latency_ms(r) for r in recs]).mean
        if lat is not None:
            points.append((i, v.label, lat, [summarise([c.value(r) for r in recs]).mean for c in ACCURACY[:2]]))
    return points


def pareto_figure(points: list[tuple[int, str, float, list]], title: str) -> Figure:
    """Two panels (mIoU, BF1) whose points carry numbers, and the key of the numbers beside them."""
    fig = Figure(figsize=(9, 3.6), dpi=DPI)
    FigureCanvasAgg(fig)   # the label placement measures texts with its renderer
    handles = [Line2D([], [], color=colour(i), marker="o", markersize=4, linestyle="none", label=f"{n + 1}  {label}")
               for n, (i, label, _, _) in enumerate(points)]
    front: list = []
    for k, column in enumerate(ACCURACY[:2]):
        ax = fig.add_subplot(1, 2, k + 1)
        line = _pareto_panel(ax, points, k)
        front = front or line   # one key entry for the front
        ax.set_xlabel("median latency per image (ms, end to end)")
        ax.set_ylabel(f"{column.title} ×100 ↑")
        ax.set_title(f"{column.title} vs latency")
    handles += front
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1 + (len(handles) - 1) // KEY_ROWS)
    fig.suptitle(title, fontsize=7)
    return fig


def _pareto_panel(ax, points: list[tuple[int, str, float, list]], k: int) -> list:
    """Panel k's points, front and numbers; returns the front's line (empty when there is none)."""
    numbered = [(str(n + 1), i, lat, 100 * acc[k]) for n, (i, _, lat, acc) in enumerate(points) if acc[k] is not None]
    for _, i, x, y in numbered:
        ax.scatter(x, y, color=colour(i), s=18, zorder=3)
    front = pareto_front([(x, y) for _, _, x, y in numbered])
    line = ax.step(*zip(*front), where="post", color="0.4", linestyle="--", linewidth=0.8, marker="o",
                   markersize=2 * MARKER_PT, markerfacecolor="none", label="Pareto front") if front else []
    if numbered and max(x for *_, x, _ in numbered) > 20 * min(x for *_, x, _ in numbered):
        ax.set_xscale("log")
    ax.set_xlim(ax.get_xlim())   # fixed now: the numbers are placed in display coordinates
    ax.set_ylim(ax.get_ylim())
    steps = [((x0, y0), (x1, y0)) for (x0, y0), (x1, _) in zip(front, front[1:])]
    steps += [((x1, y0), (x1, y1)) for (_, y0), (x1, y1) in zip(front, front[1:])]
    number_points(ax, [(x, y) for _, _, x, y in numbered], [t for t, *_ in numbered], steps)
    return line


def number_points(ax, xy: list[tuple[float, float]], texts: list[str], segments: list = ()) -> list:
    """Each text beside its data point, inside the axes, clear of the points, of the line segments
    ((x, y), (x, y) in data coordinates) and of one another where the space allows."""
    renderer = ax.figure.canvas.get_renderer()
    notes = [ax.annotate(t, p, xytext=(0, 0), textcoords="offset points", ha="left", va="bottom", fontsize=6,
                         color="0.1", zorder=4) for t, p in zip(texts, xy)]
    sizes = [tuple(n.get_window_extent(renderer).size) for n in notes]
    anchors = [tuple(a) for a in ax.transData.transform(xy)] if xy else []
    px = ax.figure.dpi / 72   # pixels per point
    radius = MARKER_PT * px
    obstacles = [(x - radius, y - radius, x + radius, y + radius) for x, y in anchors]
    for a, b in segments:
        (xa, ya), (xb, yb) = ax.transData.transform([a, b])
        obstacles.append((min(xa, xb) - px, min(ya, yb) - px, max(xa, xb) + px, max(ya, yb) + px))
    x0, y0, x1, y1 = ax.bbox.extents
    boxes = labels.place_labels(anchors, sizes, (x0 + 1, y0 + 1, x1 - 1, y1 - 1), obstacles, gap=radius + px)
    for note, box, (x, y) in zip(notes, boxes, anchors):
        note.xyann = ((box[0] - x) / px, (box[1] - y) / px)
    return notes


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
