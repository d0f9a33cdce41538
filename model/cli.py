"""Command-line conventions shared by every ``python -m ...`` entry point of the project.

Bad input ends a command with one line on stderr (``prog: error: message``) and exit status 2, with no
usage dump and no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import NoReturn

#: Exit status for bad input.
USAGE_ERROR = 2


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a single line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, message)


def fail(prog: str, message: str) -> NoReturn:
    """Print ``prog: error: message`` (first line of ``message`` only) to stderr and exit with status 2."""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "invalid input"
    print(f"{prog}: error: {first_line}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "a non-negative integer")


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def option_field(default: object, help: str, parse=int) -> dataclasses.Field:
    """A settings dataclass field that is also a command-line option: its ``help`` and its ``parse``
    (text to value, ``ValueError`` on bad text) in the field's metadata, where the CLIs read them."""
    return dataclasses.field(default=default, metadata={"help": help, "parse": parse})
