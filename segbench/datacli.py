"""`segbench data`: check a data set, fetch VOC 2012 or SBD, write synthesized trees in the real formats."""

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table as RichTable

from .clikit import err, make_app, out, user_errors
from .errors import UsageError

data_app = make_app("Data sets: check one, download VOC 2012 or SBD, write synthesized trees to try the loaders.")
DATASET_NAMES = ("voc2012", "voc2012_aug")   # a folder data set needs its splits: check it through its suite
FORMATS = ("voc", "sbd", "folder")


def _section(suite_file: Path | None, dataset: str | None, root: Path | None, sbd_root: Path | None):
    """The dataset section to check: a suite's, or one built from --dataset/--root (validated as a suite's)."""
    from pydantic import ValidationError

    from .schema_errors import describe
    from .dataconfig import DATASET_SECTIONS

    if (suite_file is None) == (dataset is None):
        raise UsageError("give a suite file (segbench data check SUITE) or --dataset NAME --root DIR, not "
                         f"{'both' if suite_file else 'neither'}")
    if suite_file is not None:
        from .suitefile import load_suite

        return load_suite(suite_file).dataset
    if dataset not in DATASET_NAMES:
        raise UsageError(f"--dataset {dataset!r}: allowed: {', '.join(DATASET_NAMES)}; check a folder data set "
                         "through its suite (segbench data check SUITE), which names its splits; shapes needs none")
    fields = {"name": dataset, "root": str(root or "data")} | ({"sbd_root": str(sbd_root)} if sbd_root else {})
    try:
        return DATASET_SECTIONS[dataset].model_validate(fields)
    except ValidationError as exc:
        loc, msg = describe({**exc.errors()[0], "loc": ("dataset", *exc.errors()[0]["loc"])})
        raise UsageError(f"--{str(loc[-1]).replace('_', '-')}: {msg}") from None


@data_app.command("check")
@user_errors
def check_cmd(suite_file: Annotated[Optional[Path], typer.Argument(help="A suite whose dataset to check.")] = None,
              dataset: Annotated[Optional[str], typer.Option(help="Instead of a suite: voc2012 or "
                                                            "voc2012_aug.")] = None,
              root: Annotated[Optional[Path], typer.Option(help="The data's folder (with --dataset).")] = None,
              sbd_root: Annotated[Optional[Path], typer.Option(help="SBD's folder (voc2012_aug).")] = None) -> None:
    """Check a data set: layout, split counts against the real data's, every mask; a summary.

    Exit code 0 when it is usable, 2 otherwise (each bad file is named).
    """
    from .data.check import check, count_note

    config = _section(suite_file, dataset, root, sbd_root)
    reports = check(config)

    out.print(_summary(config, reports))
    for r in reports:
        if count_note(r):
            out.print(f"note: {r.split}: {count_note(r)}")
    problems = [p for r in reports for p in r.problems]
    for p in problems[:20]:
        err.print(f"error: {p}", markup=False)
    if problems:
        err.print(f"{len(problems)} unusable files", markup=False)
        raise typer.Exit(2)
    out.print(f"{config.name}: usable ({', '.join(f'{r.images} {r.split}' for r in reports)})")


def _summary(config, reports) -> RichTable:
    """Images per split, then one row per class: its share of the split's non-ignored pixels."""
    from .data import info

    table = RichTable(title=f"{config.name}: images and class pixel frequencies (% of non-ignored pixels)")
    table.add_column("")
    for r in reports:
        table.add_column(r.split, justify="right")
    table.add_row("images", *(str(r.images) for r in reports))
    table.add_row("image sizes", *(str(r.sizes) for r in reports))
    table.add_row("ignored pixels %", *(f"{100 * r.ignored / max(1, r.ignored + int(r.pixels.sum())):.1f}"
                                        for r in reports), end_section=True)
    for c, name in enumerate(info(config).class_names):
        table.add_row(name, *(f"{100 * r.pixels[c] / max(1, int(r.pixels.sum())):.1f}" for r in reports))
    return table


@data_app.command("download")
@user_errors
def download_cmd(name: Annotated[str, typer.Argument(help="voc2012 or sbd.")],
                 root: Annotated[Path, typer.Option(help="Where to put it (VOC: the folder that will hold "
                                                    "VOCdevkit/; SBD: the folder that will hold img/, cls/).")],
                 url: Annotated[Optional[str], typer.Option(help="Archive URL instead of torchvision's.")] = None,
                 md5: Annotated[Optional[str], typer.Option(help="The archive's md5 (with --url).")] = None) -> None:
    """Fetch and extract VOC 2012 or SBD (skipped when already extracted; the md5 is checked)."""
    from .data.download import ensure_sbd, ensure_voc

    fetch = {"voc2012": ensure_voc, "sbd": ensure_sbd}.get(name)
    if fetch is None:
        raise UsageError(f"{name!r}: allowed: voc2012, sbd")
    if md5 and not url:
        raise UsageError("--md5 goes with --url (torchvision's own URL comes with its md5)")
    fetch(root, url, md5)
    out.print(f"{name}: ready in {root}")


@data_app.command("synth")
@user_errors
def synth_cmd(out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
              fmt: Annotated[str, typer.Option("--format", help="voc, sbd or folder.")] = "voc",
              train: Annotated[int, typer.Option(min=2, help="Training images (folder: all images).")] = 8,
              val: Annotated[int, typer.Option(min=2, help="Validation images (voc, sbd).")] = 6,
              seed: Annotated[int, typer.Option(min=0, help="Scene seed.")] = 0) -> None:
    """Write `shapes` scenes as a VOC 2012, SBD or folder tree in the real on-disk formats (JPEG images,
    palette PNG masks with a void band, ImageSets lists; SBD's .mat files), to try the real loaders."""
    from .data import synth

    writers = {"voc": lambda: synth.write_voc(out_dir, train=train, val=val, seed=seed),
               "sbd": lambda: synth.write_sbd(out_dir, train=train, val=val, seed=seed),
               "folder": lambda: synth.write_folder(out_dir, count=train, seed=seed)}
    if fmt not in writers:
        raise UsageError(f"--format {fmt!r}: allowed: {', '.join(FORMATS)}")
    try:
        out.print(f"wrote {writers[fmt]()}")
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})") from None
