"""Pieces every command shares: library messages in flag terms, warnings as one line, a progress bar,
the default model, list options."""

from __future__ import annotations

import contextlib
import re
import sys
import warnings
from typing import Callable

import click

from genrt.errors import InputError


# Library messages name a parameter in backticks, as the Python API calls it (`batch_size`);
# on the command line it is the option of the command that ran (--batch-size). Library names
# that differ from the option's parameter name:
LIBRARY_NAMES = {"batch_sizes": "batches", "output_range": "value_range", "labels": "label"}
PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def in_flag_terms(message: str, command: click.Command | None) -> str:
    """`message` with each `parameter` written as the command's option (-o, --batch-size), or bare if it has none."""
    flags = {p.name: p.opts[0] for p in (command.params if command else ()) if isinstance(p, click.Option)}
    return PARAMETER.sub(lambda m: flags.get(LIBRARY_NAMES.get(m.group(1), m.group(1)), m.group(1)), message)


@contextlib.contextmanager
def printed_warnings():
    """Print the library's warnings raised in the block (a CPU fallback, say) as `genrt: warning: ...` lines, each once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            context = click.get_current_context(silent=True)
            command = context.command if context is not None else None
            for message in dict.fromkeys(str(w.message).removeprefix("genrt: ") for w in caught):
                click.echo(f"genrt: warning: {in_flag_terms(message, command)}", err=True)


def open_generator(path, device, **overrides):
    """A Generator, with its CPU-fallback warning printed as one `genrt: warning:` line."""
    from genrt.runtime import Generator

    with printed_warnings():
        return Generator(path, device=device, **overrides)


def default_model() -> str:
    from genrt.runtime import default_model_path

    path = default_model_path()
    if path is None:
        raise InputError("no MODEL given and this install has no bundled default model; pass one: genrt sample model.onnx")
    return path


def log(message: str) -> None:
    """A library's progress message, on stderr."""
    click.echo(f"genrt: {message}", err=True)


class ProgressBar:
    """A click progress bar on stderr that appears with the first progress, so set-up errors stay one line.

    `status`: a function whose text is shown after the bar (and then the bar shows an ETA too).
    """

    def __init__(self, length: int, label: str, status: Callable[[], str] | None = None):
        self.length, self.label, self.status, self.bar = length, label, status, None

    def update(self, n: int) -> None:
        if self.bar is None:
            shown = None if self.status is None else (lambda _: self.status())
            self.bar = click.progressbar(length=self.length, label=self.label, file=sys.stderr,
                                         show_eta=self.status is not None, item_show_func=shown)
            self.bar.__enter__()
        self.bar.update(n, current_item=n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def parse_label(label: str | None):
    """--label as the library takes it: an int for digits, else the text (a class name, or "all")."""
    if label is None or label == "all":
        return label
    return int(label) if re.fullmatch(r"-?[0-9]+", label) else label  # ASCII digits only: int("²") fails


def parse_batches(text: str) -> tuple[int, ...]:
    """--batch 1,8,64 as a tuple of positive ints."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--batch must be comma-separated integers like 1,8,64, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"--batch sizes must be at least 1, got {text!r}")
    return values


class Seconds(click.FloatRange):
    """A finite number of seconds (or milliseconds) in [low, high]: click's FloatRange lets nan through."""

    def __init__(self, low: float, high: float):
        super().__init__(low, high)

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number:  # nan compares false with both bounds
            self.fail(f"{value!r} is not a number from {self.min:g} to {self.max:g}.", param, ctx)
        return number

