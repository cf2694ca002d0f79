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


def kind_hint(dst_kind: str, src_kind: str) -> str:
    """What turns a `src_kind` stream into a `dst_kind` input, for a kind-mismatch message."""
    if dst_kind == "number" and src_kind == "audio":
        return ("; an audio stream gives a number through rms(...) or peak(...), and the "
                "control-rate oscillators sine_kr, saw_kr, tri_kr, square_kr and noise_kr "
                "are numbers to begin with")
    if dst_kind == "image" and src_kind == "audio":
        return "; waveform(...) and spectrum(...) draw an audio stream as an image"
    return ""
