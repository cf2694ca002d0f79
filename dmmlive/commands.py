"""The OSC commands, each defined once: the table the rest of dmmlive reads.

The listener (drivers/osc.py) answers the addresses of TABLE and checks and normalises
each message with `Op.check`; the Controller (control.py) checks the same way and runs
`Op.method` on the checked arguments; the set log (log.py) journals `journaled(...)`,
the window's mirror (drivers/window.py) runs `mirrored()`; `dmmlive send --help` and
docs/osc.md list them (`help_text`, `markdown`). A new command is one Op here and the
Controller method it names.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from . import checks
from .core.errors import BadArgument

__all__ = ["Arg", "Op", "ArgError", "TABLE", "PREFIX", "KINDS", "get", "names", "dmm", "address_of",
           "mirrored", "journaled", "help_text", "markdown"]

PREFIX = "/dmm/"

KINDS = {   # kind: the OSC type(s) its usage shows
    "ref": "string",                      # name.port, or name (its default port)
    "name": "string",                     # a neuron's or a type's name
    "string": "string",                   # a non-empty string: a path, an address
    "text": "string",                     # a patch text
    "word": "string",                     # the Arg's name itself, literally
    "number": "float",                    # a finite int or float, passed on as a float
    "pairs": "[string float/string]...",  # key value pairs: keys strings, values numbers or strings
    "values": "float [float]",            # one number, or two for an xy pad
}
VARIADIC = ("pairs", "values")            # the rest of the arguments; only last in a form


class ArgError(BadArgument):
    """Arguments that fit no form of a command. Its message says which argument is wrong,
    or is empty when their count or words fit no form (the caller shows the usage)."""


@dataclass(frozen=True)
class Arg:
    """One argument. `name`: as the usage shows it (a variadic one's: its whole usage);
    `kind`: one of KINDS; `what`: its name in error messages (default `name`);
    `optional`: may be left out (only after the others)."""
    name: str
    kind: str
    what: str = ""
    optional: bool = False

    @property
    def usage(self) -> str:
        if self.kind == "word":
            return repr(self.name)
        return f"[{self.name}]" if self.optional else self.name

    @property
    def osc_type(self) -> str:
        return f"[{KINDS[self.kind]}]" if self.optional else KINDS[self.kind]

    def check(self, x):
        what = self.what or self.name
        if self.kind == "number":
            return checks.number(x, what)
        if self.kind == "ref":
            checks.split_ref(checks.text(x, what))
        elif self.kind != "word":
            checks.text(x, what)
        return x


@dataclass(frozen=True)
class Op:
    """One command. `name`: it is sent to `/dmm/<name>`, or with `own_address` to an
    address of its own that comes first in its arguments (a knob's); `forms`: the
    argument lists it takes (several: told apart by their words and count); `doc`: what
    it does; `method`: the Controller method that runs it with the checked arguments;
    `journal`: the kind of set-log line that records it once it took effect ('osc',
    'knob', or 'code': texts, logged as the session applies them; None: not logged);
    `changes_picture`: it changes the network, so the window's mirror runs it too."""
    name: str
    forms: tuple[tuple[Arg, ...], ...]
    doc: str
    method: str
    journal: str | None = None
    changes_picture: bool = False
    own_address: bool = False

    @property
    def address(self) -> str:
        return "<knob address>" if self.own_address else PREFIX + self.name

    @property
    def usage(self) -> str:
        """`dst.port src.port w`, `'start' [path] or 'stop'`."""
        return _usage(self.forms, typed=False)

    @property
    def typed_usage(self) -> str:
        """The usage with the OSC types: `dst.port src.port w (string string float)`."""
        return _usage(self.forms, typed=True)

    @property
    def synopsis(self) -> str:
        """The OSC message: `/dmm/set dst.port src.port w (string string float)`."""
        forms = tuple(f[1:] for f in self.forms) if self.own_address else self.forms
        return f"{self.address} {_usage(forms, typed=True)}"

    def check(self, args) -> list:
        """`args` checked and normalised (numbers as floats), or ArgError."""
        args = list(args)
        fits = [f for f in self.forms if _words_fit(f, args) and _count_fits(f, args)]
        if len(fits) != 1:
            raise ArgError(_surplus(self.forms, args))
        form = fits[0]
        out = []
        for a, x in zip(form, args):
            if a.kind in VARIADIC:
                break
            try:
                out.append(a.check(x))
            except BadArgument as e:
                err = ArgError(str(e))
                # of the right OSC type, a wrong value (a NaN float, an empty name): said alone
                err.value = isinstance(x, str) if a.kind != "number" else \
                    isinstance(x, (int, float)) and not isinstance(x, bool)
                raise err from None
        if form[-1].kind in VARIADIC:
            try:
                out += _rest(form[-1].kind, args[len(out):])
            except BadArgument as e:
                raise ArgError(str(e)) from None
        return out


def _usage(forms, typed: bool) -> str:
    text = " or ".join(" ".join(a.usage for a in f) for f in forms)
    if typed and len(forms) == 1:
        text += f" ({' '.join(a.osc_type for a in forms[0])})"
    return text


def _words_fit(form, args) -> bool:
    return all(isinstance(x, str) and x == a.name for a, x in zip(form, args) if a.kind == "word")


def _count_fits(form, args) -> bool:
    fixed = [a for a in form if a.kind not in VARIADIC]
    rest = len(args) - len(fixed)
    if len(args) < sum(not a.optional for a in fixed):
        return False
    if form[-1].kind == "pairs":
        return rest >= 0 and rest % 2 == 0
    return form[-1].kind == "values" or rest <= 0


def _surplus(forms, args) -> str:
    """`'stop' takes no path`: the words of one form fit, and arguments are left over where
    another form takes one; else ''."""
    worded = [f for f in forms if any(a.kind == "word" for a in f) and _words_fit(f, args)]
    if len(worded) != 1 or len(args) <= len(worded[0]) or worded[0][-1].kind in VARIADIC:
        return ""
    form, i = worded[0], len(worded[0])
    there = [f[i].name for f in forms if len(f) > i]
    words = " ".join(a.usage for a in form if a.kind == "word")
    return f"{words} takes no {there[0]}" if there else ""


def _rest(kind: str, rest: list) -> list:
    if kind == "values":
        if len(rest) not in (1, 2):
            raise BadArgument(f"expected one value (or two for an xy pad), got {len(rest)}")
        return [checks.number(x, "knob value") for x in rest]
    out = []
    for k, v in zip(rest[::2], rest[1::2]):
        if not checks.is_text(k):
            raise BadArgument(f"key {k!r} is not a string")
        if isinstance(v, str):
            out += [k, v]
        elif checks.is_number(v):
            out += [k, float(v)]
        else:
            raise BadArgument(f"value of {k!r} must be a finite number or a string, got {v!r}")
    return out


DST, SRC, REF = Arg("dst.port", "ref"), Arg("src.port", "ref"), Arg("name.port", "ref")

TABLE: tuple[Op, ...] = (
    Op("set", ((DST, SRC, Arg("w", "number", "weight")),),
       "Glide the weight from src.port to dst.port to w, over the patch's fade "
       "(a name alone is its default port).",
       "_op_set", journal="osc", changes_picture=True),
    Op("add", ((DST, SRC, Arg("dw", "number", "weight change")),),
       "Add dw to the weight from src.port to dst.port, at once.",
       "_op_add", journal="osc", changes_picture=True),
    Op("value", ((REF, Arg("x", "number", "value")),),
       "Glide an input's constant (its weight from one.out) to x.",
       "_op_value", journal="osc", changes_picture=True),
    Op("neuron", ((Arg("name", "name"), Arg("type", "name"), Arg("[key value]...", "pairs")),),
       "Declare a neuron (a name taken by another type or other arguments is refused: "
       "see replace); keys: the type's arguments and its inputs' constants.",
       "_op_neuron", journal="osc", changes_picture=True),
    Op("replace", ((Arg("name", "name"), Arg("type", "name"), Arg("[key value]...", "pairs")),),
       "Crossfade a declared neuron to a new type or arguments (its input rows stay); "
       "/dmm/neuron refuses a name that is taken.",
       "_op_replace", journal="osc", changes_picture=True),
    Op("remove", ((Arg("name", "name"),),),
       "Fade out every weight to and from a neuron; it then retires.",
       "_op_remove", journal="osc", changes_picture=True),
    Op("code", ((Arg("patch text", "text"),),),
       "Apply a patch text, as a save of the patch file would.",
       "_op_code", journal="code", changes_picture=True),
    Op("load", ((Arg("path", "string"),),),
       "Apply a patch file from the patch's folder (anywhere with play --allow-load-anywhere).",
       "_op_load", journal="code", changes_picture=True),
    Op("hush", ((Arg("on", "number", optional=True),),),
       "Fade the sound out over the patch's fade and hold silence while the network runs on; "
       "/dmm/hush 0, or the next save, fades it back in.",
       "_op_hush", journal="osc"),
    Op("tempo", ((Arg("bpm", "number", optional=True),),),
       "Set the beat grid's tempo from the next tick, the beat going on where it is (clocks "
       "follow; Link peers too with play --link); reply /dmm/tempo bpm, also without a value.",
       "_op_tempo", journal="osc", changes_picture=True),
    Op("record", ((Arg("start", "word"), Arg("path", "string", optional=True)), (Arg("stop", "word"),)),
       "Start recording the window and the sound to an .mp4 (by default beside the patch), or stop.",
       "_op_record"),
    Op("snapshot", ((Arg("path", "string", optional=True),),),
       "Write the running machine's whole state to a .dmmsnap (by default NAME-TICK.dmmsnap beside "
       "the patch; replied /dmm/ok /dmm/snapshot path once taken): play --from it resumes the set there.",
       "_op_snapshot"),
    Op("get", ((REF,), (DST, SRC)),
       "Reply /dmm/value name.port x: the port's value now (audio: the block's mean); "
       "with two refs, /dmm/value dst.port src.port w: that weight of W.",
       "_op_get"),
    Op("knob", ((Arg("address", "string"), Arg("x [y]", "values")),),
       "Set the knob declared at this address (an xy pad: the knobs at address/x and address/y).",
       "_op_knob", journal="knob", changes_picture=True, own_address=True),
)


def get(name) -> Op | None:
    """The command called `name`, or None."""
    return next((op for op in TABLE if op.name == name), None)


def names() -> tuple[str, ...]:
    return tuple(op.name for op in TABLE)


def dmm() -> tuple[Op, ...]:
    """The commands sent to `/dmm/<name>`."""
    return tuple(op for op in TABLE if not op.own_address)


def address_of(name, args) -> str:
    """The address command `name` came in on (where its errors are replied from)."""
    op = get(name)
    if op is not None and op.own_address:
        try:
            first = list(args)[0]
        except (IndexError, TypeError):
            first = None
        if isinstance(first, str):
            return first
    return f"{PREFIX}{name}"


def mirrored() -> tuple[str, ...]:
    """The commands that change the picture (the window's mirror runs them)."""
    return tuple(op.name for op in TABLE if op.changes_picture)


def journaled(*kinds: str) -> tuple[str, ...]:
    """The commands the set log records in lines of these kinds ('osc', 'knob', 'code')."""
    return tuple(op.name for op in TABLE if op.journal in kinds)


def help_text() -> str:
    """The commands for `dmmlive send --help`: each message, then what it does."""
    lines = ["commands (a bad one is answered with /dmm/error ADDRESS REASON):"]
    for op in TABLE:
        lines += [f"  {op.synopsis}", *textwrap.wrap(op.doc, 88, initial_indent=" " * 6,
                                                     subsequent_indent=" " * 6, break_on_hyphens=False)]
    return "\n".join(lines)


def markdown() -> str:
    """The list of commands docs/osc.md shows (tests/test_commands.py keeps the two equal)."""
    return "\n".join(f"- `{op.synopsis}`: {op.doc}" for op in TABLE)
