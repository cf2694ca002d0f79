"""Pitch in a patch: note names and MIDI numbers, turned into Hz when the patch is read.

Scientific pitch notation in equal temperament: a4 = 440 Hz, c4 = MIDI 60 (middle C),
each octave from c to b, so b3 is a semitone below c4. A note name is a letter a to g
(either case), an accidental if any (`#` or `s` sharp, `b` flat) and the octave, an
integer from -1 to 9: `c4`, `C#4`, `cs4`, `db3`, `eb3`, `f#-1`, `b9`. MIDI number n is
440 * 2**((n - 69) / 12) Hz; fractional numbers are allowed (a quarter tone is 0.5).

The patch language (dmmlive/patch/grammar.py) reads `note("a4")` and `midi(69)` as
numbers wherever a number goes, and a string in a list argument of numbers (`seq(...,
values=["a2", "c3", "eb3"])`) as a note name: W holds the Hz, never the names.
"""
from __future__ import annotations

import ast
import math
import re

__all__ = ["FUNCTIONS", "NoteError", "midi_number", "hz", "note_hz", "NOTE_HELP"]

FUNCTIONS = ("note", "midi")  # the pitch functions a patch may call
A4 = 440.0
OCTAVES = (-1, 9)
_NOTE = re.compile(r"([A-Ga-g])([#sSbB]?)(-?[0-9]+)")
_NO_OCTAVE = re.compile(r"[A-Ga-g][#sSbB]?")
_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACC = {"": 0, "#": 1, "s": 1, "b": -1}
NOTE_HELP = "a letter a to g, then # or s (sharp) or b (flat) if any, then the octave: c4, C#4, eb3, f#-1"


class NoteError(ValueError):
    """A string that is not a note name, or a MIDI number with no finite frequency; the
    message says why (the grammar places it at the string)."""


def midi_number(name: str) -> int:
    """The MIDI number of a note name: `midi_number("a4") == 69`, `("c4") == 60`,
    `("c-1") == 0`. NoteError when `name` is not one."""
    if not isinstance(name, str):
        raise NoteError(f"a note name is a string such as 'a4', got {name!r}")
    m = _NOTE.fullmatch(name)
    if m is None:
        if _NO_OCTAVE.fullmatch(name):
            raise NoteError(f"note name {name!r} has no octave: write {name}4 (the octave "
                            f"of middle C: c4 is MIDI 60, a4 is 440 Hz)")
        raise NoteError(f"{name!r} is not a note name: {NOTE_HELP}")
    letter, acc, octave = m.groups()
    octave = int(octave)
    if not OCTAVES[0] <= octave <= OCTAVES[1]:
        raise NoteError(f"note name {name!r}: the octave is from {OCTAVES[0]} to {OCTAVES[1]}, got {octave}")
    return 12 * (octave + 1) + _CLASS[letter.lower()] + _ACC[acc.lower()]


def hz(n: float) -> float:
    """The frequency of MIDI number `n` (fractional allowed): 440 * 2**((n - 69) / 12)."""
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n):
        raise NoteError(f"a MIDI number is a finite number, such as 69 (a4, 440 Hz), got {n!r}")
    try:
        f = A4 * 2.0 ** ((n - 69) / 12)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f) or f == 0.0:
        raise NoteError(f"MIDI number {n!r} has no finite frequency above 0 Hz")
    return f


def note_hz(name: str) -> float:
    """The frequency of a note name: `note_hz("a4") == 440.0`."""
    return hz(midi_number(name))


class PitchReader:
    """The pitch functions of the patch language, for `grammar.Parser` (a mixin: it uses the
    parser's `registry`, `error` and `constant`). `note` and `midi` are pitch functions
    where the loaded types have no type of that name."""

    def pitch_fn(self, node) -> str | None:
        """"note" or "midi" when `node` is a call of that pitch function, else None."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
                and self.registry.get(node.func.id) is None:
            return node.func.id
        return None

    def pitch(self, call) -> float:
        """The Hz of `note("a4")` or `midi(69)` (its argument a constant; an error placed at it)."""
        fn = call.func.id
        example = 'note("a4")' if fn == "note" else "midi(69)"
        if call.keywords:
            raise self.error(f"{fn} takes no keyword arguments: write {example}", call.keywords[0])
        if len(call.args) != 1:
            where = call.args[1] if len(call.args) > 1 else call
            what = "a note name" if fn == "note" else "a MIDI number"
            raise self.error(f"{fn} takes one argument, {what} (as in {example}), got {len(call.args)}", where)
        node = call.args[0]
        if fn == "note":
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                raise self.error(f"note takes a note name (a string such as \"a4\"), not "
                                 f"{_what(node)}; midi(69) takes a MIDI number", node)
            return self.note_at(node.value, node)
        v = self.constant(node)
        if isinstance(v, str):
            raise self.error(f"midi takes a MIDI number, not the string {v!r}: "
                             f"note({v!r}) takes a note name", node)
        try:
            return hz(v)
        except NoteError as e:
            raise self.error(str(e), node) from None

    def note_at(self, name: str, node) -> float:
        try:
            return note_hz(name)
        except NoteError as e:
            raise self.error(str(e), node) from None

    def pitch_list(self, t, k: str, node):
        """A list argument of numbers (`seq`'s values) read item by item: a string is a note
        name (its Hz), a number or constant arithmetic (`note(...)`, `midi(...)` too) itself.
        None when `k` takes no list of numbers or `node` is no list."""
        d = t.args.get(k)
        if not (isinstance(d, (list, tuple)) and d and all(_is_number(x) for x in d)):
            return None
        if not isinstance(node, (ast.List, ast.Tuple)):
            return None
        out = []
        for item in node.elts:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                out.append(self.note_at(item.value, item))
            elif isinstance(item, (ast.Constant, ast.UnaryOp, ast.BinOp, ast.Call)):
                out.append(self.constant(item))
            else:
                return None  # (a nested list...: the argument's own check words it)
        return out if isinstance(node, ast.List) else tuple(out)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _what(node) -> str:
    if isinstance(node, ast.Constant):
        return repr(node.value)
    return "an expression"
