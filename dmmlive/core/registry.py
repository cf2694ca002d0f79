"""The table of neuron types and the `neuron_type` decorator that fills it."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import BadArgument, UnknownType, did_you_mean

KINDS = {"number", "audio", "vvalue"}  # open: the video layer adds "image"

# A weight may join these (destination kind, source kind) pairs; a number also
# feeds audio and image inputs by broadcast.
BROADCAST = {("audio", "number"), ("image", "number")}


# A kind that lives outside numpy (image: GPU textures) registers a backend factory:
# BACKENDS[kind](machine) -> the object the machine hands to that kind's neurons.
BACKENDS: dict = {}

# TICK_VM["vm"]: the compiled tick (neurons/tickvm.py), where the neuron library is loaded;
# without it every tick runs in Python.
TICK_VM: dict = {}


def register_kind(kind: str, backend=None) -> None:
    KINDS.add(kind)
    if backend is not None:
        BACKENDS[kind] = backend


def compatible(dst_kind: str, src_kind: str) -> bool:
    return dst_kind == src_kind or (dst_kind, src_kind) in BROADCAST


@dataclass(frozen=True)
class Port:
    """An input port: its kind, the constant it takes when a patch does not give it one,
    and where a constant given to it makes sense: `lo`..`hi` (None: no bound; a string:
    the construction argument of that name, e.g. a delay's `max`) in `unit`. Checked where
    people type values (patches, OSC), not in the core (a network may go anywhere)."""
    kind: str
    default: float = 0.0
    lo: float | str | None = None
    hi: float | str | None = None
    unit: str = ""

    def bounds(self, args: dict | None = None) -> tuple:
        """(lo, hi) as numbers (None: no bound), the named arguments read from `args`."""
        def b(x):
            if isinstance(x, str):
                v = (args or {}).get(x)
                return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
            return x
        return b(self.lo), b(self.hi)

    def range_text(self, args: dict | None = None) -> str:
        """'0 to 2 s (max=2)', '>= 0 Hz', '' where the port has no range."""
        lo, hi = self.bounds(args)
        if lo is None and hi is None:
            return ""
        unit = f" {self.unit}" if self.unit else ""
        text = f"{lo:g} to {hi:g}{unit}" if lo is not None and hi is not None else \
            f">= {lo:g}{unit}" if lo is not None else f"<= {hi:g}{unit}"
        named = [f"{x}={(args or {}).get(x)!r}" for x in (self.lo, self.hi) if isinstance(x, str)]
        return text + (f" ({', '.join(named)})" if named else "")

    def out_of_range(self, x: float, args: dict | None = None) -> str | None:
        """None when the constant `x` is in range, else why not: 'out of range: 0 to 2 s'."""
        lo, hi = self.bounds(args)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            return f"out of range: {self.range_text(args)}"
        return None


def ranged(default: float, lo=None, hi=None, unit: str = "", kind: str | None = None) -> Port:
    """A port spec with a range (see Port), for `neuron_type(inputs=...)`: its kind is the
    type's `kind=` unless given."""
    return Port(kind or "", float(default), lo, hi, unit)


@dataclass
class NeuronType:
    """One neuron type: named, kinded ports and an activation function.

    Non-batched types are called once per neuron: `fn(inputs, state) -> {output: value}`
    with `state` a dict the neuron keeps. Batched types are called once per group of
    neurons sharing the type and construction arguments: `fn(state, rate, **inputs)`
    with every input an array whose first axis runs over the group (audio `(n, B)`,
    number `(n,)`) and `state` a namespace of per-neuron arrays; they return the
    output array (one output) or a dict of arrays.
    """
    name: str
    inputs: dict[str, Port]
    outputs: dict[str, str]
    fn: Callable
    variadic: str | None = None  # the kind of every port of a variadic type
    batched: bool = False
    state: Any = None           # dict name -> initial value, or a callable; see neuron_type
    args: dict = field(default_factory=dict)  # construction arguments and their defaults
    doc: str = ""
    pinned: bool = False
    frame: bool = False         # fires on frame ticks (image types)
    check: Callable | None = None  # check(args) raises DmmError on bad construction arguments
    passthrough: bool = False   # variadic: each input is the output of its name (the machine skips the call)
    constant: bool = False      # no inputs, outputs from its arguments alone: called once, kept

    @property
    def default_input(self) -> str | None:
        return next(iter(self.inputs), None)

    @property
    def default_output(self) -> str | None:
        return next(iter(self.outputs), None)

    def input_kind(self, port: str) -> str | None:
        if self.variadic:
            return self.variadic
        p = self.inputs.get(port)
        return p.kind if p else None

    def output_kind(self, port: str) -> str | None:
        if self.variadic:
            return self.variadic
        return self.outputs.get(port)

    def check_args(self, args: dict, where: str) -> dict:
        """The full construction arguments (defaults filled), or BadArgument."""
        out = dict(self.args)
        for k, v in args.items():
            if k not in self.args:
                raise BadArgument(f"{where}: type {self.name!r} has no argument {k!r}"
                                  f"{did_you_mean(k, self.args)}; its arguments: {', '.join(self.args) or 'none'}")
            out[k] = v
        if self.check is not None:
            self.check(out)
        return out

    def summary(self) -> str:
        if self.variadic:
            ports = f"any {self.variadic} ports (each input feeds the output of the same name)"
        else:
            ins = ", ".join(f"{k}:{p.kind}" + (f"={p.default:g}" if p.default else "")
                            + (f" [{p.range_text(self.args)}]" if p.range_text(self.args) else "")
                            for k, p in self.inputs.items())
            outs = ", ".join(f"{k}:{v}" for k, v in self.outputs.items())
            ports = f"({ins}) -> ({outs})"
        args = "".join(f" [{k}={v!r}]" for k, v in self.args.items())
        return f"{self.name}{args} {ports}"


class Types(dict):
    """A table of neuron types, name -> NeuronType: what one machine (and the patches
    parsed for it) can declare. `STANDARD` holds dmmlive's library (and the types a
    program registers with `neuron_type`); a machine takes it, or a table of its own
    made from it (`STANDARD.copy()` plus a folder of shaders, test types, a replay's
    shaders), so nothing global is swapped and put back."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.shaders: dict = {}  # file -> the definition behind each shader-file type (gfx.types)
        self.compiled = None     # (sources, errors) of the last headless compile (gfx.types.compile_shaders)

    def get_type(self, name: str) -> NeuronType:
        try:
            return self[name]
        except KeyError:
            raise UnknownType(f"unknown neuron type {name!r}{did_you_mean(name, self)}") from None

    def add(self, t: NeuronType, replace: bool = True) -> NeuronType:
        if not replace and t.name in self:
            raise ValueError(f"neuron type {t.name!r} exists already")
        self[t.name] = t
        return t

    def neuron_type(self, name: str, **spec):
        """`neuron_type` registering into this table."""
        return neuron_type(name, types=self, **spec)

    def copy(self) -> "Types":
        """A table of its own with these types in it (a shader file loaded or reloaded in
        the copy, or a type added to it, leaves this one as it is)."""
        t = Types(self)
        for d in self.shaders.values():  # each table owns its shader files' definitions
            d.copy_into(t)
        return t


STANDARD = Types()
TYPES = STANDARD  # the name the library has always exported
RESERVED_STATE = {"args", "block", "n", "names", "into", "grid", "audio_in"}  # attributes of a batched group's state


def _ports(spec, kind: str | None) -> dict[str, Port]:
    out = {}
    for name, s in (spec or {}).items():
        if isinstance(s, Port):
            if not s.kind and kind is None:
                raise ValueError(f"port {name!r} gives a range but the type has no kind=")
            out[name] = s if s.kind else Port(kind, s.default, s.lo, s.hi, s.unit)
        elif isinstance(s, str):
            out[name] = Port(s)
        elif isinstance(s, tuple):
            out[name] = Port(s[0], float(s[1]))
        elif isinstance(s, (int, float)):
            if kind is None:
                raise ValueError(f"port {name!r} gives a default but the type has no kind=")
            out[name] = Port(kind, float(s))
        else:
            raise ValueError(f"bad port spec {name!r}: {s!r}")
        if out[name].kind not in KINDS:
            raise ValueError(f"port {name!r}: unknown kind {out[name].kind!r}")
    return out


def neuron_type(name: str, *, inputs=None, outputs=None, kind: str | None = None,
                variadic: str | None = None, batched: bool = False, state=None,
                args: dict | None = None, pinned: bool = False, replace: bool = True,
                check: Callable | None = None, frame: bool | None = None, types: Types | None = None,
                passthrough: bool = False, constant: bool = False):
    """Register the decorated function as the neuron type `name`, in `types` (default:
    the standard table every machine starts from).

    `inputs`: {port: kind} or {port: default} (a number default takes `kind`, and in
    a patch becomes the weight from `one` when the port is not given) or
    {port: (kind, default)}. `outputs`: {port: kind}, or a list of names of kind
    `kind`; default `{"out": kind}`. `variadic="vvalue"` makes every port name valid,
    each input feeding the output of the same name (the authors' `identity`).

    `state`: for a batched type, {field: initial scalar} (one float64 per neuron) or
    `init(names, args, ctx) -> {field: ndarray with first axis len(names)}` where
    `ctx` has `rate`, `block`, `seed` and `tempo`; a neuron keeps its rows while it
    stays in the network. For a non-batched type, a dict copied per neuron or
    `init(args) -> dict`.
    `args`: construction arguments with their defaults (part of the type's identity).
    `frame`: fires on frame ticks only (default: when an output is of kind image).
    `check(args)`: runs when a neuron is declared and raises a DmmError (naming the
    file, value...) so a bad argument rejects the edit instead of failing mid-tick.
    `constant`: a type without inputs whose outputs depend on its arguments alone (`const`):
    the machine calls it once after it is declared and keeps its outputs.
    `passthrough` (variadic types): the function returns its inputs as they are, so the
    machine may skip calling it (`identity`).

    A vvalue output is immutable once returned (as every V-value): return a new dict
    to change it. Returning the very object returned last tick says "unchanged" and
    costs nothing (it is not walked and pruned again).
    """
    def wrap(fn):
        if outputs is None:
            outs = {} if variadic else {"out": kind}
        elif isinstance(outputs, dict):
            outs = dict(outputs)
        else:
            outs = {o: kind for o in outputs}
        for o, k in outs.items():
            if k not in KINDS:
                raise ValueError(f"type {name!r}: output {o!r} has unknown kind {k!r}")
        clash = RESERVED_STATE & set(state if isinstance(state, dict) else ())
        if batched and clash:
            raise ValueError(f"type {name!r}: state fields {sorted(clash)} are reserved names")
        doc = inspect.getdoc(fn) or ""
        t = NeuronType(name=name, inputs=_ports(inputs, kind), outputs=outs, fn=fn,
                       variadic=variadic, batched=batched, state=state,
                       args=dict(args or {}), doc=doc, pinned=pinned, check=check, passthrough=passthrough,
                       constant=constant and not inputs and not batched,
                       frame=bool(frame) if frame is not None else "image" in outs.values())
        (STANDARD if types is None else types).add(t, replace)
        fn.neuron_type = t
        return fn
    return wrap


def get_type(name: str, types: Types | None = None) -> NeuronType:
    return (STANDARD if types is None else types).get_type(name)


def first_line(doc: str) -> str:
    return doc.strip().splitlines()[0] if doc.strip() else ""
