"""Checks of input from outside (OSC messages, commands, the command line), shared by the
OSC listener, the Controller and `dmmlive send`; a failed check raises a BadArgument
that says what was expected and what came instead."""
from __future__ import annotations

import difflib
import math
import numbers

from .core.errors import BadArgument, did_you_mean

__all__ = ["ERROR", "OK", "VALUE", "is_number", "number", "is_text", "text", "split_ref", "did_you_mean",
           "did_you_mean_address"]

ERROR = "/dmm/error"   # the reply to a command that failed: [address, reason]
VALUE = "/dmm/value"   # the reply to /dmm/get: [name.port, x]
TEMPO = "/dmm/tempo"  # the reply to /dmm/tempo: the tempo in bpm
OK = "/dmm/ok"         # the reply to any other command that succeeded: [address, its arguments...]


def is_number(x) -> bool:
    """Whether `x` is a finite real number (int, float or numpy's), not a bool."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:   # an int too large for a float
        return False


def number(x, what: str) -> float:
    """`x` as a float, or BadArgument naming `what` unless it is a finite number."""
    if not is_number(x):
        raise BadArgument(f"{what} must be a finite number, got {x!r}")
    return float(x)


def is_text(x) -> bool:
    """Whether `x` is a non-empty string."""
    return isinstance(x, str) and x != ""


def text(x, what: str) -> str:
    """`x`, or BadArgument naming `what` unless it is a non-empty string."""
    if not is_text(x):
        raise BadArgument(f"{what} must be a non-empty string, got {x!r}")
    return x


def split_ref(ref: str) -> tuple[str, str | None]:
    """`"name.port"` -> `("name", "port")`, `"name"` -> `("name", None)`."""
    name, _, port = ref.partition(".")
    if not name:
        raise BadArgument(f"expected 'neuron.port', got {ref!r}")
    return name, (port or None)


def did_you_mean_address(word: str, choices, prefix: str = "") -> str:
    """` (did you mean /dmm/set?)`: the OSC address among `prefix + choice` that `word`
    (an address less `prefix`) comes closest to, or ''."""
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{near[0]}?)" if near else ""
