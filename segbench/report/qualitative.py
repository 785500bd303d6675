"""The qualitative grid: a fixed set of validation images × (image, ground truth, each variant's
prediction), coloured with the data set's palette, from the `samples` the evaluation kept in each record.
"""

import json
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..samples import colourise, decode_png
from .figures import DPI, STYLE, Plot, png
from .variants import Variant

PAD = 2       # pixels between tiles
OUTSIDE = 225  # grey: the part of a cell beyond a smaller image (ignored pixels are white)
SCALE = 1.6   # display pixels per image pixel


def grids(vs: list[Variant]) -> list[Plot]:
    """One grid per data set (variants evaluated on the same validation images share one)."""
    by_data: dict[str, list[tuple[Variant, dict[str, Any]]]] = {}
    for v in vs:
        record = next((r for r in sorted(v.ok, key=lambda r: r["spec"]["seed"]) if r.get("samples")), None)
        if record and record["samples"]["indices"]:
            key = json.dumps([record["spec"]["dataset"], record["samples"]["indices"]], sort_keys=True)
            by_data.setdefault(key, []).append((v, record))
    plots = []
    for n, members in enumerate(by_data.values()):
        name = "qualitative.png" if len(by_data) == 1 else f"qualitative-{n + 1}.png"
        plots.append(grid(members, name))
    return plots


def grid(members: list[tuple[Variant, dict[str, Any]]], name: str) -> Plot:
    first = members[0][1]
    data, samples = first["data"], first["samples"]
    palette, ignore = data["palette"], data["ignore_index"]
    rows = [("image", [decode_png(t) for t in samples["images"]]),
            ("ground truth", [colourise(decode_png(t), palette, ignore) for t in samples["targets"]])]
    rows += [(f"{v.label} (seed {r['spec']['seed']})", [colourise(decode_png(t), palette, ignore)
                                                        for t in r["samples"]["predictions"]]) for v, r in members]
    mosaic, centres = _mosaic([tiles for _, tiles in rows])
    height, width = mosaic.shape[:2]
    with matplotlib.rc_context(STYLE | {"axes.grid": False}):
        fig = Figure(figsize=(width * SCALE / DPI + 2.5, height * SCALE / DPI + 0.6))
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_yticks(centres[0], [label for label, _ in rows])
        ax.set_xticks(centres[1], [f"val #{i}" for i in samples["indices"]])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        handles = [Patch(color=np.array(c) / 255, label=n) for n, c in zip(data["class_names"], palette)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        uneven = len({t.shape[:2] for _, tiles in rows for t in tiles}) > 1
        return Plot(name, "Fixed validation images: the image, its ground truth and each variant's prediction "
                    "(lowest seed), in the data set's palette; white = ignored pixels" +
                    ("; grey = beyond a smaller image." if uneven else "."), png(fig))


def _mosaic(rows: list[list[np.ndarray]]) -> tuple[np.ndarray, tuple[list[float], list[float]]]:
    """Tiles (RGB) laid out on a white canvas, each at the top left of a cell as large as the largest
    tile (images of a real data set differ in size); the centres of its rows and columns."""
    h = max(t.shape[0] for tiles in rows for t in tiles)
    w = max(t.shape[1] for tiles in rows for t in tiles)
    cols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + PAD) - PAD, cols * (w + PAD) - PAD, 3), 255, dtype=np.uint8)
    for i, tiles in enumerate(rows):
        for j, tile in enumerate(tiles):
            th, tw = tile.shape[:2]
            top, left = i * (h + PAD), j * (w + PAD)
            canvas[top:top + h, left:left + w] = OUTSIDE   # the part of the cell a smaller image leaves
            canvas[top:top + th, left:left + tw] = tile[..., :3]
    return canvas, ([i * (h + PAD) + h / 2 for i in range(len(rows))],
                    [j * (w + PAD) + w / 2 for j in range(cols)])
