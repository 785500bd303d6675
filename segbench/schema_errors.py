"""How a suite's schema error reads: a pydantic error as a location in the file and a message in the user's
terms (an unknown key lists the fields its section allows)."""

from pydantic import BaseModel

from .config import Claim, CheckConfig, EvalConfig, ProbeConfig, Reference, ReferenceMetrics, Reproducible, Suite, \
    TrainConfig
from .crf.params import CRFParams
from .dataconfig import DATASET_SECTIONS, Augment

SECTIONS: dict[tuple, type[BaseModel]] = {
    (): Suite, **{("dataset", name): section for name, section in DATASET_SECTIONS.items()},
    **{("dataset", name, "augment"): Augment for name in DATASET_SECTIONS if name != "shapes"},
    ("train",): TrainConfig, ("eval",): EvalConfig,
    ("eval", "crf"): CRFParams, ("probe",): ProbeConfig, ("reference",): Reference, ("reproducible",): Reproducible,
    ("check",): CheckConfig, ("claims",): Claim,
    ("reference", "metrics"): ReferenceMetrics}


def describe(err: dict) -> tuple[tuple, str]:
    """A pydantic error as (location, message in the user's terms)."""
    tagged = tuple(err["loc"])
    loc = _untagged(tagged)
    kind = err["type"]
    if kind == "extra_forbidden":
        section = SECTIONS.get(tuple(p for p in tagged[:-1] if not isinstance(p, int)))  # list items: their model
        allowed = f"; allowed: {', '.join(section.model_fields)}" if section else ""
        return loc, f"unknown field {loc[-1]!r}{allowed}"
    if kind == "missing":
        return loc, "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return loc + ("name",), f"the data set's name must be one of {', '.join(DATASET_SECTIONS)}" + (
            f" (got {err['ctx']['tag']!r})" if kind == "union_tag_invalid" else "")
    msg = err["msg"].removeprefix("Value error, ")
    if kind not in ("value_error",) and "input" in err and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return loc, msg


def _untagged(loc: tuple) -> tuple:
    """pydantic locates an error in the `dataset` union under the data set's name ('dataset', 'voc2012',
    'root'); the suite file has no such level."""
    return loc[:1] + loc[2:] if loc[:1] == ("dataset",) and loc[1:2] and loc[1] in DATASET_SECTIONS else loc
