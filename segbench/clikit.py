"""What every segbench command shares: the Typer app class (flags shown without a value in --help), the
consoles, and the decorator that turns a user error into one paragraph and its exit code."""

import functools

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from .errors import SegbenchError


class _ValuelessFlags:
    """Mixin: a flag's --help line shows no metavar (typer 0.29's rich help prints `<bool>` after flags)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""   # rich help prints a metavar in place of the type
        return params


class _Command(_ValuelessFlags, TyperCommand):
    pass


class _Group(_ValuelessFlags, TyperGroup):
    pass


class Typer(typer.Typer):
    """A Typer whose commands are `_Command`s unless told otherwise."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


def make_app(help_text: str) -> Typer:
    """An app (or command group) with segbench's settings: Markdown help, no completion, no rich tracebacks."""
    return Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                 rich_markup_mode="markdown", help=help_text)


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(command):
    """Print a SegbenchError as one paragraph (no traceback) and exit with its code."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SegbenchError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
    return wrapper
