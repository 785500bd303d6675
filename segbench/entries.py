"""A suite's model entries: options checked against each builder's signature, option combinations the
builder refuses, per-entry `train:` overrides, the normalised entry that the matrix expands, and the
suite's JSON schema with each architecture's options."""

import functools
import inspect
import itertools
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError, create_model

from .config import STRICT, Suite, TrainConfig
from .models import MODELS, build_on_meta
from .schema_errors import describe

# A model entry's `train:` mapping overrides these suite-level training fields for that entry's runs.
TRAIN_OVERRIDE = "train"
# A model entry's `label:` names its variants in reports (+ the options that vary within the entry).
ENTRY_LABEL = "label"
# The keys of a model entry that are not the architecture's options.
ENTRY_KEYS = ("arch", TRAIN_OVERRIDE, ENTRY_LABEL)

# Options every architecture takes that act after training: runs differing only in these share a checkpoint.
EVAL_ONLY_OPTIONS: dict[str, Any] = {
    "crf": (bool, Field(False, description="dense CRF post-processing of the predictions (eval.crf sets it up)")),
    "tta": (bool, Field(False, description="test-time augmentation: mean of the softmax over eval.tta_scales and, "
                                           "with eval.tta_flip, their flips")),
}


@functools.cache
def options_model(arch: str) -> type[BaseModel]:
    """The pydantic model of an architecture's options: its builder's keyword arguments + eval-only ones."""
    builder = MODELS[arch]
    hints = typing.get_type_hints(builder, include_extras=True)
    fields = {name: (hints[name], p.default)
              for name, p in inspect.signature(builder).parameters.items()
              if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return create_model(f"{arch}_options", __config__=STRICT, **fields, **EVAL_ONLY_OPTIONS)



def model_problems(entries: list, train: Any) -> list[tuple[tuple, str]]:
    """(location, message) for each problem in the model entries; `train` is the suite's raw train section."""
    return option_problems(entries) + _train_override_problems(entries, train)


def option_problems(entries: list) -> list[tuple[tuple, str]]:
    """Problems of the entries' architectures and options (their `train:` mappings aside)."""
    problems = []
    for i, entry in enumerate(entries):
        loc = ("models", i)
        if not isinstance(entry, dict):
            problems.append((loc, "a model entry must be a mapping with an 'arch' field"))
            continue
        arch = entry.get("arch")
        if arch not in MODELS:
            what = "missing field 'arch'" if arch is None else f"unknown architecture {arch!r}"
            problems.append((loc + ("arch",), f"{what}; registered: {', '.join(sorted(MODELS))}"))
            continue
        problems += _entry_option_problems(arch, entry, loc) or _builder_problems(arch, entry, loc)
    return problems


def _train_override_problems(entries: list, train: Any) -> list[tuple[tuple, str]]:
    """Problems of each entry's `train:` mapping, checked merged over the suite's `train` section."""
    problems = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or TRAIN_OVERRIDE not in entry:
            continue
        loc, override = ("models", i, TRAIN_OVERRIDE), entry[TRAIN_OVERRIDE]
        if not isinstance(override, dict):
            problems.append((loc, "must be a mapping of training fields (e.g. {optimizer: adamw, lr: 0.003})"))
            continue
        try:
            TrainConfig.model_validate(_merge_train(train if isinstance(train, dict) else {}, override))
        except ValidationError as exc:
            for err in exc.errors():
                where, msg = describe({**err, "loc": ("train", *err["loc"])})  # names TrainConfig's fields
                if where[1:2] and where[1] in override or err["type"] == "value_error":
                    problems.append((loc + where[1:], msg))
    return problems


def _merge_train(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`; an override giving the training length replaces the suite's length."""
    if override.keys() & {"iterations", "epochs"}:
        base = {k: v for k, v in base.items() if k not in ("iterations", "epochs")}
    return {**base, **override}


def resolved_train(suite: Suite, entry: dict[str, Any]) -> TrainConfig:
    """The training settings of an entry's runs: the suite's `train`, overridden by the entry's `train:`."""
    merged = _merge_train(suite.train.model_dump(mode="json"), entry.get(TRAIN_OVERRIDE) or {})
    return TrainConfig.model_validate(merged)


def _builder_problems(arch: str, entry: dict, loc: tuple) -> list[tuple[tuple, str]]:
    """Combinations of valid options that the builder refuses (e.g. DeepLab v1 on a ResNet)."""
    axes = {k: v if isinstance(v, list) else [v] for k, v in entry.items()
            if k not in ENTRY_KEYS and k not in EVAL_ONLY_OPTIONS}
    problems = []
    for values in itertools.product(*axes.values()):
        try:
            build_on_meta(arch, 2, **dict(zip(axes, values)))
        except ValueError as exc:
            if (loc, str(exc)) not in problems:
                problems.append((loc, str(exc)))
    return problems


def _entry_option_problems(arch: str, entry: dict, loc: tuple) -> list[tuple[tuple, str]]:
    model = options_model(arch)
    allowed = ", ".join(model.model_fields)
    problems = []
    for key, value in entry.items():
        if key == ENTRY_LABEL and not (isinstance(value, str) and 0 < len(value) <= 80 and "\n" not in value):
            problems.append((loc + (key,), "a label is one line of text, 1 to 80 characters (e.g. DeepLab-v1 LargeFOV)"))
        if key in ENTRY_KEYS:
            continue
        if key not in model.model_fields:
            problems.append((loc + (key,), f"unknown option {key!r} for {arch}; allowed: {allowed}"))
            continue
        if isinstance(value, list) and not value:
            problems.append((loc + (key,), "an axis needs at least one value"))
        values = value if isinstance(value, list) else [value]
        for j, item in enumerate(values):
            where = loc + (key, j) if isinstance(value, list) else loc + (key,)
            try:
                model.model_validate({key: item})
            except ValidationError as exc:
                problems += [(where, describe(err)[1]) for err in exc.errors()]
    return problems


def normalise_entry(entry: dict) -> dict[str, Any]:
    """{'arch': name, option: [validated values, ...]}: every option as an axis."""
    model = options_model(entry["arch"])
    axes: dict[str, Any] = {"arch": entry["arch"]}
    axes |= {key: entry[key] for key in (TRAIN_OVERRIDE, ENTRY_LABEL) if key in entry}
    for key, value in entry.items():
        if key not in ENTRY_KEYS:
            values = value if isinstance(value, list) else [value]
            axes[key] = [getattr(model.model_validate({key: v}), key) for v in values]
    return axes


def json_schema() -> dict:
    """The suite's JSON schema, with each architecture's options (a value or a list = an axis)."""
    entries = []
    for arch in MODELS:
        fields = {name: (Union[f.annotation, list[f.annotation]], f.default)  # type: ignore[valid-type]
                  for name, f in options_model(arch).model_fields.items()}
        train = (dict[str, Any] | None, Field(None, description="training fields overriding the suite's `train`"))
        label = (str | None, Field(None, description="the variants' name in reports, e.g. DeepLab-v1 LargeFOV"))
        entries.append(create_model(f"{arch}_entry", __config__=STRICT, arch=(Literal[arch], ...),
                                    **{TRAIN_OVERRIDE: train, ENTRY_LABEL: label}, **fields))
    entry_type = Annotated[Union[tuple(entries)], Field(discriminator="arch")] if len(entries) > 1 else entries[0]
    schema_model = create_model("Suite", __base__=Suite, models=(list[entry_type], Field(min_length=1)))
    return schema_model.model_json_schema()
