"""The architecture registry: one builder per architecture, taking explicit keyword arguments."""

from collections.abc import Callable

from torch import nn

from .fcn import fcn

MODELS: dict[str, Callable[..., nn.Module]] = {
    "fcn": fcn,
}


def build(arch: str, num_classes: int, **options) -> nn.Module:
    """Build a registered architecture; an unknown name lists the valid ones."""
    try:
        builder = MODELS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; registered: {', '.join(sorted(MODELS))}") from None
    return builder(num_classes, **options)


