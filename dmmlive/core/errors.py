"""The error types every rejected call raises; each message names what is wrong."""
from __future__ import annotations

import difflib


class DmmError(Exception):
    """Base of every error dmmlive raises on bad input."""


class UnknownType(DmmError):
    pass


class UnknownNeuron(DmmError):
    pass


class UnknownPort(DmmError):
    pass


class KindMismatch(DmmError):
    pass


class DuplicateName(DmmError):
    pass


class MalformedDelta(DmmError):
    pass


class BadArgument(DmmError):
    pass


def did_you_mean(word: str, choices) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""
