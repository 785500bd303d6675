"""Reading a suite file: YAML with each field's line, validated by the schema (segbench.config) and the
model-entry checks (segbench.entries); every problem is reported at once with file, line and field path."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from .config import Suite
from .entries import model_problems, normalise_entry
from .errors import ConfigError
from .matrix import expand
from .schema_errors import describe


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; every problem is reported at once as a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such suite file")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        raise ConfigError(f"{path}: the suite file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a suite must be a mapping of fields (name, seeds, dataset, ...)")
    lines = _line_index(root)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems = [describe(err) for err in exc.errors()]
        if isinstance(data.get("models"), list):
            problems += model_problems(data["models"], data.get("train"))
        raise _config_error(path, problems, lines) from None
    problems = model_problems(suite.models, data["train"])
    if problems:
        raise _config_error(path, problems, lines)
    suite.models = [normalise_entry(e) for e in suite.models]
    problems = claim_problems(suite)
    if problems:
        raise _config_error(path, problems, lines)
    return suite


def claim_problems(suite: Suite) -> list[tuple[tuple, str]]:
    """Claims that name a variant the suite does not have."""
    if not suite.claims:
        return []
    labels = list(dict.fromkeys(spec.label for spec in expand(suite)))
    return [(("claims", i, side), f"no variant of the suite is labelled {getattr(claim, side)!r}; its variants: "
             + ", ".join(repr(label) for label in labels))
            for i, claim in enumerate(suite.claims) for side in ("better", "worse")
            if getattr(claim, side) not in labels]


def _config_error(path: Path, problems: list[tuple[tuple, str]], lines: dict[tuple, int]) -> ConfigError:
    rendered = []
    for loc, msg in problems:
        while loc and isinstance(loc[-1], int) and loc not in lines:
            loc = loc[:-1]  # a scalar the schema expanded (image_size: 8) is reported once
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
        text = f"{path}:{line}: {_dotted(loc) or '(top level)'}: {msg}"
        if text not in rendered:
            rendered.append(text)
    head = f"{path}: {len(rendered)} problems in the suite:\n" if len(rendered) > 1 else ""
    return ConfigError(head + "\n".join(rendered))


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_index(node: yaml.Node | None, loc: tuple = ()) -> dict[tuple, int]:
    """Map each field path in the YAML document to its 1-based line (keys point at the key)."""
    if node is None:
        return {}
    index = {loc: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            index.update(_line_index(value, loc + (key.value,)))
            index[loc + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, loc + (i,)))
    return index
