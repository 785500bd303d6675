"""How option and setting values read in labels and tables."""

from typing import Any


def option_text(value: Any) -> str:
    """A value as labels show it: booleans lower case (as in YAML), everything else as str()."""
    return str(value).lower() if isinstance(value, bool) else str(value)
