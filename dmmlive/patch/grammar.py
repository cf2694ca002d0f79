"""Patch text -> network: declarations, rows of W and settings, each checked and placed
(the grammar and the Patch; `parse.parse` reads a text, reusing a previous Patch's
statements through incremental.py where it can).

A patch is Python syntax read with `ast` and never executed (design section 4). The
first error in source order raises a PatchError pointing at the offending node. Rules
the design leaves open, as decided here:
- names may be used before the line that declares them (cycles, self-reference);
- a declaration gives its rows a starting value; `name.port = / += / -=` statements then
  apply in source order, wherever the declaration stands;
- a port the patch mentions anywhere (even `+=`, even with terms that cancel) gets no
  default; an unmentioned port with a default gets it from `one` (`Patch.defaults`);
- an anonymous call is `<prefix>/<type>#k`, prefix the statement's target (`name`,
  `name:port` for a `name.port` statement, `out`); k counts that type's calls under that prefix in source order, so
  two `out.left += sine()` lines give `out:left/sine#1` and `out:left/sine#2`;
- `in_` (any Python keyword plus `_`) names the port `in`, which Python cannot spell;
- a type with no inputs takes its construction arguments positionally: knob("/1/fader1");
- construction arguments are stored with the type's defaults filled in (as the machine
  keeps them), so equal declarations compare equal;
- each setting may appear once; `out = e` / `screen = e` set every input of the sink.
"""
from __future__ import annotations

import ast
import itertools
import keyword
import math
import os
import re
import warnings
from dataclasses import dataclass, field

from ..core.edits import RATE_ARGS, check_rate_args
from ..core.grid import MAX_TEMPO
from ..core.errors import DmmError, did_you_mean, kind_hint
from ..core.registry import NeuronType, Types, compatible
from ..neurons import control  # noqa: F401  (the knob type must exist for patches)
from .errors import PatchError
from .pitch import PitchReader

ONE = ("one", "out")
BUILTIN = ("self", "one", "edits")
SINKS = ("out", "screen")  # known sink names; each is one only while its type is loaded
SETTINGS = {"fade": 0.05, "tempo": 120.0, "size": (640, 360), "fps": 30.0, "seed": 0,
            "schedule": "ordered", "meter": 4, "quant": None,  # quant None: not set (play --quant)
            "netfade": 0.005, "max_neurons": 1024}
SETTING_ARGS = {"fade": "seconds", "tempo": "bpm", "size": "w, h", "fps": "n", "seed": "n",
                "schedule": "'ordered' or 'synchronous'", "meter": "beats per bar", "quant": "beats",
                "netfade": "seconds", "max_neurons": "n"}
MAX_QUANT = 1024  # beats
SCHEDULES = ("ordered", "synchronous")
MAX_SIZE = 8192
MAX_FADE = 30.0  # s: the longest crossfade a save may ask for (`fade(50)` is a typo, not a wish)

STATEMENT_HELP = ("a patch holds only `name = type(...)`, `name.port = expr`, "
                  "`name.port += expr` and settings such as `fade(0.05)`")
OPERATORS = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
             ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}


@dataclass
class Declared:
    """A neuron the patch declares: its type, construction arguments (defaults filled in)
    and where it stands (1-based line and column of its name, or of its call if anonymous)."""
    type: str
    args: dict
    line: int
    col: int


@dataclass
class Patch:
    """A parsed patch.

    `neurons`: {name: Declared} in source order, anonymous ones (`out/sine#1`) included.
    `rows`: {(dst, port): {(src, port): weight}} for every input row the patch mentions
    (a row may be empty when its terms cancel; a constant c is the term (one, out): c).
    `defaults`: {(dst, port): weight from one} for ports with a default the patch leaves alone.
    `settings`: every setting, defaults filled in. `knobs`: {OSC address: knob name}.
    """
    neurons: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    settings: dict = field(default_factory=lambda: dict(SETTINGS))
    knobs: dict = field(default_factory=dict)
    path: str = "<patch>"
    defaults: dict = field(default_factory=dict)

    def __post_init__(self):
        self._init_caches()

    def _init_caches(self) -> None:
        # Not fields (no part of ==, repr or the constructor): what an incremental parse, the
        # diff and PatchChange keep of a Patch (dmmlive/patch/incremental.py).
        self.serial = _serial()    # names this Patch: a later one records it as its base
        self.base_serial = None    # the serial of the Patch this one was parsed against, if any
        self.changes = None        # {dst: W[dst] or None} where this Patch's W differs from the base's
        self.w_built = None        # the full W, built once (shared: treat it as immutable)
        self.stmts = None          # per-statement results, for the next incremental parse (not pickled)
        self.stmt_cache = None     # {statement text: [results]} over stmts
        self.sums = None           # {target: its flat sum's terms}, for sums changed in a few terms
        self.context = None        # (declarations {name: type name}, types) the statements were read in
        self.entry_changes = None  # {(dst, port): {(src, out): w or None}}: entries changed in rows both have
        self.record = None         # what changed against the base, for PatchChange (not pickled)
        self.decl_changes = None   # {name: Declared} new or changed in type or arguments against the base
        self.dropped = None        # the base's neurons this Patch drops
        self.ranges_checked = None  # the types table its constants passed check_ranges with (parse.py)
        self.spans = None          # (the text the statements were read from, each one's start and the end)

    def __getstate__(self):
        state = dict(self.__dict__)
        for k in ("w_built", "stmts", "stmt_cache", "sums", "context", "record", "ranges_checked",
                  "spans"):  # rebuilt where needed
            state[k] = None
        return state

    def __setstate__(self, state):
        self._init_caches()
        self.__dict__.update(state)

    def to_matrix(self) -> tuple[dict, dict]:
        """(W, declare): the patch's full rank-4 W {dst: {port: {src: {out: w}}}}, default
        weights from `one` included, and {name: (type, args)} of every declared neuron.
        W is built once per Patch and shared: treat it as immutable (as every V-value)."""
        declare = {n: (d.type, dict(d.args)) for n, d in self.neurons.items()}
        return self.matrix(), declare

    def matrix(self, base: "Patch | None" = None) -> dict:
        """The full W of `to_matrix`, cached. `base`: the Patch this one was parsed against
        (incrementally, maybe in another process): W is then the base's W with the rows
        that changed replaced, which costs the change, not the patch."""
        if self.w_built is None:
            if (base is not None and self.changes is not None and self.base_serial == base.serial
                    and base.w_built is not None):
                w = dict(base.w_built)
                for d, sub in self.changes.items():
                    if sub:
                        w[d] = sub
                    else:
                        w.pop(d, None)
                self.w_built = w
            else:
                self.w_built = full_matrix(self.rows, self.defaults)
        return self.w_built


def full_matrix(rows: dict, defaults: dict) -> dict:
    W: dict = {}
    for (dst, port), terms in rows.items():
        for (src, out), w in terms.items():
            W.setdefault(dst, {}).setdefault(port, {}).setdefault(src, {})[out] = w
    for (dst, port), w in defaults.items():
        W.setdefault(dst, {})[port] = {"one": {"out": w}}
    return W


_COUNT = itertools.count(1)
_NONCE = os.urandom(6).hex()


def _serial() -> tuple:
    """A name no other Patch has, in any process (a forked one shares the nonce and the count)."""
    return (os.getpid(), _NONCE, next(_COUNT))


class _Lin:
    """A linear stream expression: refs with weights, plus a constant (the weight from one)."""
    __slots__ = ("terms", "nodes", "const", "const_node")

    def __init__(self, terms=None, nodes=None, const=0.0, const_node=None):
        self.terms = terms if terms is not None else {}
        self.nodes = nodes if nodes is not None else {}
        self.const = const
        self.const_node = const_node

    @property
    def is_const(self) -> bool:
        return not self.terms

    def scaled(self, c: float) -> "_Lin":
        return _Lin({k: w * c for k, w in self.terms.items()}, self.nodes, self.const * c,
                    self.const_node)

    def plus(self, other: "_Lin", sign: float) -> "_Lin":
        terms = dict(self.terms)
        nodes = dict(self.nodes)
        for k, w in other.terms.items():
            terms[k] = terms.get(k, 0.0) + sign * w
            nodes.setdefault(k, other.nodes[k])
        return _Lin(terms, nodes, self.const + sign * other.const,
                    self.const_node or other.const_node)

    def finite(self) -> bool:
        return math.isfinite(self.const) and all(math.isfinite(w) for w in self.terms.values())

    def row(self) -> dict:
        out = dict(self.terms)
        if self.const_node is not None:
            out[ONE] = out.get(ONE, 0.0) + self.const
        return out


class Parser(PitchReader):
    def __init__(self, text: str, path: str, types: Types):
        self.registry = types
        if not isinstance(text, str):
            raise TypeError(f"parse() wants the patch text as a str, not {type(text).__name__}")
        if text.startswith("\ufeff"):  # a byte-order mark an editor left: invisible, not code
            text = text[1:]
        self.text = text
        self.path = str(path)
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.patch = Patch(path=self.path)
        self.sites: dict = {}  # top-level declarations (ast.Call or SumSite), so later lines can be named
        self.decl_rows: dict = {}        # (dst, port) -> (_Lin, node) given by a declaration
        self.ops: list = []              # (dst, port, op, _Lin, statement) from `=` / `+=` / `-=`
        self.counters: dict = {}         # prefix -> {type: calls so far}
        self.prefix = ""
        self.setting_lines: dict = {}
        self.knob_nodes: dict = {}
        self.sums_resolving: set = set()  # named sums whose type is being found (sum_type)

    # ---- positions and errors -------------------------------------------------------------
    def error_at(self, message: str, line, col) -> PatchError:
        n = len(self.lines)
        line = min(max(int(line or 1), 1), n)
        src = self.lines[line - 1]
        col = min(max(int(col or 1), 1), len(src) + 1)
        return PatchError(message, self.path, line, col, src)

    def error(self, message: str, node) -> PatchError:
        return self.error_at(message, *self.pos(node))

    def pos(self, node) -> tuple[int, int]:
        line = getattr(node, "lineno", None) or 1
        off = getattr(node, "col_offset", None) or 0
        return line, self.char_col(line, off)

    def char_col(self, line: int, byte_offset: int) -> int:
        """ast counts columns in UTF-8 bytes; people (and carets) count characters."""
        if not 1 <= line <= len(self.lines):
            return 1
        b = self.lines[line - 1].encode("utf-8", "surrogatepass")
        return len(b[:max(byte_offset, 0)].decode("utf-8", "replace")) + 1

    def attr_pos(self, node: ast.Attribute) -> tuple[int, int]:
        """Where the port name of `name.port` stands."""
        line = node.end_lineno or node.lineno
        off = (node.end_col_offset or 0) - len(node.attr.encode("utf-8"))
        return line, self.char_col(line, off)

    # ---- driver ---------------------------------------------------------------------------
    def run(self) -> Patch:
        tree = self.syntax()
        for st in tree.body:
            self.find_site(st)
        for st in tree.body:
            try:
                self.statement(st)
            except RecursionError:
                raise self.error("this statement is nested too deeply", st) from None
        self.finish()
        return self.patch

    def syntax(self) -> ast.Module:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SyntaxWarnings (escapes...) are not our business
                return ast.parse(self.text, filename=self.path)
        except SyntaxError as e:
            line, col = e.lineno, e.offset
            if line is None and "\0" in self.text:
                line, col = self.locate(self.text.index("\0"))
            raise self.error_at(f"syntax error: {e.msg}", line, col) from None
        except UnicodeEncodeError as e:  # a lone surrogate: no valid source text
            line, col = self.locate(e.start)
            raise self.error_at(f"syntax error: invalid character U+{ord(self.text[e.start]):04X}",
                                line, col) from None
        except (ValueError, RecursionError, MemoryError) as e:
            where = self.text.index("\0") if "\0" in self.text else 0
            msg = "the patch is nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise self.error_at(f"syntax error: {msg}", *self.locate(where)) from None

    def locate(self, index: int) -> tuple[int, int]:
        head = self.text[:index]
        line = len(re.findall(r"\r\n|\r|\n", head)) + 1
        start = max(head.rfind("\n"), head.rfind("\r")) + 1
        return line, index - start + 1

    def find_site(self, st) -> None:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            v = st.value
            if not isinstance(v, ast.Call):
                site = SumSite(v)  # a named sum
            elif isinstance(v.func, ast.Name):
                site = v
            else:
                return
            name = st.targets[0].id
            if name not in self.sites and not self.is_sink_name(name) and name not in BUILTIN:
                self.sites[name] = site

    # ---- statements -----------------------------------------------------------------------
    def statement(self, st) -> None:
        if isinstance(st, ast.Expr):
            v = st.value
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Name):
                return self.setting(v)
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                raise self.error("a string on its own is not part of a patch: "
                                 "write comments with #", st)
            raise self.error(f"{_describe(v)} on its own does nothing: {STATEMENT_HELP}", st)
        if isinstance(st, ast.Assign):
            if len(st.targets) != 1:
                raise self.error("one target per statement: `a = b = ...` is not allowed",
                                 st.targets[1])
            return self.assign(st.targets[0], st.value, "=", st)
        if isinstance(st, ast.AugAssign):
            if not isinstance(st.op, (ast.Add, ast.Sub)):
                sym = {ast.Mult: "*=", ast.Div: "/="}.get(type(st.op), "this operator")
                raise self.error(f"{sym} is not allowed: a row is changed with `=`, `+=` or `-=`", st)
            return self.assign(st.target, st.value, "+=" if isinstance(st.op, ast.Add) else "-=", st)
        raise self.error(f"{_describe(st)} is not part of the patch language: {STATEMENT_HELP}", st)

    def assign(self, target, value, op: str, st) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            if self.is_sink_name(name):
                t = self.sink_type(name, target)
                self.prefix = name
                ports = list(t.inputs)
                lin = self.expr(value, [(name, p, t.inputs[p].kind) for p in ports])
                for p in ports:
                    self.ops.append((name, p, op, lin, st))
                return
            if name in BUILTIN:
                raise self.error(f"{name!r} is built in: it cannot be declared or assigned", target)
            if op != "=":
                hint = ""
                t = self.type_of_decl(name)
                if t is not None and t.default_input:
                    hint = f": write `{name}.{_py(t.default_input)} {op} ...`"
                raise self.error(f"`{name} {op} ...` needs a port{hint}", target)
            if isinstance(value, ast.Call):
                return self.declare(name, target, value)
            return self.declare_sum(name, target, value)
        if isinstance(target, ast.Attribute):
            name, port, kind = self.destination(target)
            self.prefix = f"{name}:{port}"  # neuron names hold no "."
            lin = self.expr(value, [(name, port, kind)])
            self.ops.append((name, port, op, lin, st))
            return
        raise self.error(f"cannot assign to {_describe(target)}: assign to `name` or `name.port`",
                         target)

    def declare(self, name: str, target: ast.Name, call: ast.Call) -> None:
        prev = self.patch.neurons.get(name)
        if prev is not None:
            raise self.error(f"duplicate name {name!r}: already declared on line {prev.line}", target)
        t = self.call_type(call)
        line, col = self.pos(target)
        self.prefix = name
        self.patch.neurons[name] = Declared(t.name, {}, line, col)
        self.patch.neurons[name].args = self.call_args(name, t, call)

    def declare_sum(self, name: str, target: ast.Name, value) -> None:
        """`mix = 0.5*a + 0.5*b`: a named sum, declared as `mix = sum(0.5*a + 0.5*b)` (audio)
        or `sum_kr(...)` (numbers), its output the combination, in the level after its
        terms (no delay in the ordered schedule)."""
        t = self.sum_type(name, value)
        call = ast.copy_location(ast.Call(func=ast.copy_location(ast.Name(id=t.name, ctx=ast.Load()), value),
                                          args=[value], keywords=[]), value)
        self.declare(name, target, call)

    def sum_type(self, name: str, value) -> NeuronType:
        """`sum` for a named sum with an audio stream in it, `sum_kr` for one of numbers."""
        kinds = set()
        resolving = self.sums_resolving
        if name in resolving:  # sums naming each other round: audio
            return self.registry["sum"]
        resolving.add(name)
        try:
            for node in stream_leaves(value):
                if self.pitch_fn(node):
                    continue  # note("a4"), midi(69): a number
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    t = self.call_type(node)
                    out = t.default_output
                elif isinstance(node, ast.Name):
                    if self.is_sink_name(node.id):
                        continue  # reported as such where it is read
                    t, out = self.type_of_ref(node.id, node), None
                    out = t.default_output
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    if self.is_sink_name(node.value.id):
                        continue
                    t = self.type_of_ref(node.value.id, node.value)
                    out = node.attr if t.output_kind(node.attr) else node.attr[:-1] if node.attr.endswith("_") else None
                else:
                    continue
                k = t.output_kind(out) if out else None
                if k:
                    kinds.add(k)
        finally:
            resolving.discard(name)
        if "audio" in kinds:
            return self.registry["sum"]
        if kinds == {"number"}:
            return self.registry["sum_kr"]
        if kinds:
            k = sorted(kinds - {"number"})[0]
            raise self.error(f"`{name} = ...` names a sum of {k} streams, which has no neuron type: "
                             f"feed the sum straight into the input that takes it", value)
        raise self.error(f"`{name} = ...` names no stream: declare a neuron with a call, such as "
                         f"`{name} = sine(freq=220)`, or name a sum of streams, such as "
                         f"`{name} = 0.5*a + 0.5*b`", value)

    def destination(self, target: ast.Attribute) -> tuple[str, str, str]:
        if not isinstance(target.value, ast.Name):
            raise self.error("only `name.port` can be assigned: attribute chains go no deeper", target)
        name = target.value.id
        if self.is_sink_name(name):
            t = self.sink_type(name, target.value)
        else:
            t = self.type_of_ref(name, target.value)
        port = self.port(name, t, target.attr, False, lambda msg: self.error_at(msg, *self.attr_pos(target)))
        return name, port, t.input_kind(port)

    # ---- settings ---------------------------------------------------------------------------
    def setting(self, call: ast.Call) -> None:
        name = call.func.id
        if name not in SETTINGS:
            if name in self.registry and not self.registry[name].pinned:
                raise self.error(f"{name}(...) on its own declares nothing: give it a name, "
                                 f"as in `x = {name}(...)`", call)
            raise self.error(f"unknown setting {name!r}{did_you_mean(name, SETTINGS)}; "
                             f"settings: {', '.join(SETTINGS)}", call.func)
        if name in self.setting_lines:
            raise self.error(f"{name} is set twice (first on line {self.setting_lines[name]})", call)
        self.setting_lines[name] = call.lineno
        if call.keywords:
            raise self.error(f"{name} takes no keyword arguments: write {name}({SETTING_ARGS[name]})",
                             call.keywords[0])
        want = 2 if name == "size" else 1
        if len(call.args) != want:
            where = call.args[want] if len(call.args) > want else call
            raise self.error(f"{name} takes {want} argument{'s' if want > 1 else ''} "
                             f"({SETTING_ARGS[name]}), got {len(call.args)}", where)
        values = [self.constant(a) for a in call.args]
        v, node = values[0], call.args[0]
        if name == "fade":
            if not _number(v) or not 0 <= v <= MAX_FADE:
                raise self.error(f"fade must be a number of seconds from 0 to {MAX_FADE:g}, got {_show(v)}", node)
            v = float(v)
        elif name == "tempo":
            if not _number(v) or not 0 < v <= MAX_TEMPO:
                raise self.error(f"tempo must be a number of beats per minute > 0 and <= {MAX_TEMPO:g}, "
                                 f"got {_show(v)}", node)
            v = float(v)
        elif name == "max_neurons":
            if not _integer(v) or not 1 <= v <= 100000:
                raise self.error(f"max_neurons must be a whole number from 1 to 100000, got {_show(v)}", node)
        elif name == "netfade":
            if not _number(v) or not 0 <= v <= 1:
                raise self.error(f"netfade must be a number of seconds from 0 to 1, got {_show(v)}", node)
            v = float(v)
        elif name == "meter":
            if not _integer(v) or not 1 <= v <= 64:
                raise self.error(f"meter must be a whole number of beats per bar from 1 to 64, got {_show(v)}", node)
        elif name == "quant":
            if not _number(v) or not 0 <= v <= MAX_QUANT:
                raise self.error(f"quant must be a number of beats from 0 (immediate) to {MAX_QUANT}, "
                                 f"got {_show(v)}", node)
            v = float(v)
        elif name == "fps":
            if not _number(v) or v <= 0:
                raise self.error(f"fps must be a number of frames per second > 0, got {_show(v)}", node)
            v = float(v)
        elif name == "seed":
            if not _integer(v) or not 0 <= v < 2 ** 63:
                raise self.error(f"seed must be a whole number from 0 to 2**63-1, got {_show(v)}", node)
        elif name == "size":
            for x, n in zip(values, call.args):
                if not _integer(x) or not 1 <= x <= MAX_SIZE:
                    raise self.error(f"size must be two whole numbers of pixels from 1 to {MAX_SIZE}, "
                                     f"got {_show(x)}", n)
            v = tuple(values)
        elif name == "schedule":
            if v not in SCHEDULES:
                hint = did_you_mean(v, SCHEDULES) if isinstance(v, str) else ""
                raise self.error(f"schedule must be 'ordered' or 'synchronous', got {_show(v)}{hint}", node)
        self.patch.settings[name] = v

    def constant(self, node):
        """A literal number or string, or arithmetic on numbers (ints stay ints)."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, float) and not math.isfinite(v):
                raise self.error(f"not a finite number: {_show(v)}", node)
            return v
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.constant(node.operand)
            if not _integer(v) and not _number(v):
                raise self.error(f"expected a number, got {_show(v)}", node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            a, b = self.constant(node.left), self.constant(node.right)
            for x, n in ((a, node.left), (b, node.right)):
                if not _integer(x) and not _number(x):
                    raise self.error(f"expected a number, got {_show(x)}", n)
            if isinstance(node.op, ast.Div) and b == 0:
                raise self.error("division by zero", node.right)
            try:
                if isinstance(node.op, ast.Add):
                    v = a + b
                elif isinstance(node.op, ast.Sub):
                    v = a - b
                elif isinstance(node.op, ast.Mult):
                    v = a * b
                else:
                    v = a / b
            except OverflowError:
                raise self.error("not a finite number: the arithmetic overflows", node) from None
            if isinstance(v, float) and not math.isfinite(v):
                raise self.error(f"not a finite number: {_show(v)}", node)
            return v
        if self.pitch_fn(node):
            return self.pitch(node)
        raise self.error(f"expected a constant here, not {_describe(node)}", node)

    # ---- calls: declared and anonymous neurons --------------------------------------------
    def call_type(self, call: ast.Call) -> NeuronType:
        f = call.func
        if not isinstance(f, ast.Name):
            raise self.error(f"a neuron type is a plain name such as sine, not {_describe(f)}", f)
        t = self.registry.get(f.id)
        if t is None:
            if self.pitch_fn(call):
                raise self.error(f"{f.id}(...) is a number (Hz), not a neuron: use it where a "
                                 f"number goes, as in sine(freq={f.id}(...))", f)
            if f.id in SETTINGS:
                raise self.error(f"{f.id} is a setting, not a neuron type: "
                                 f"write {f.id}(...) on a line of its own", f)
            choices = [n for n, x in self.registry.items() if not x.pinned]
            raise self.error(f"unknown neuron type {f.id!r}{did_you_mean(f.id, choices)}", f)
        if t.pinned:
            raise self.error(f"type {f.id!r} is built in and cannot be declared again", f)
        return t

    def call_args(self, name: str, t: NeuronType, call: ast.Call) -> dict:
        """Feed the call's stream arguments to `name`'s rows; return its construction args."""
        given: dict = {}     # construction argument -> value
        arg_nodes: dict = {}
        ports: dict = {}     # port -> node
        inputs = [] if t.variadic else list(t.inputs)
        for i, a in enumerate(call.args):
            if isinstance(a, ast.Starred):
                raise self.error("`*` unpacking is not allowed in a patch", a)
            if t.variadic:
                raise self.error(f"{t.name} has no positional inputs: name each port, "
                                 f"as in {t.name}(x=...)", a)
            if not inputs:
                names = list(t.args)
                if i >= len(names):
                    raise self.error(f"{t.name} takes {len(names)} positional argument"
                                     f"{'' if len(names) == 1 else 's'}"
                                     f"{' (' + ', '.join(names) + ')' if names else ''}, "
                                     f"got {len(call.args)}", a)
                given[names[i]] = self.literal(t, names[i], a)
                arg_nodes[names[i]] = a
                continue
            if i >= len(inputs):
                raise self.error(f"{t.name} takes at most {len(inputs)} positional input"
                                 f"{'' if len(inputs) == 1 else 's'} ({', '.join(inputs)}), "
                                 f"got {len(call.args)}", a)
            ports[inputs[i]] = a
        for kw in call.keywords:
            if kw.arg is None:
                raise self.error("`**` unpacking is not allowed in a patch", kw)
            k = kw.arg
            if k in RATE_ARGS and k not in t.args and t.input_kind(k) is None:  # how often it fires
                if k in given:
                    raise self.error(f"argument {k!r} of {t.name} is given twice", kw)
                given[k] = self.literal(t, k, kw.value)
                arg_nodes[k] = kw.value
                continue
            if k in t.args:
                if k in given:
                    raise self.error(f"argument {k!r} of {t.name} is given twice", kw)
                given[k] = self.literal(t, k, kw.value)
                arg_nodes[k] = kw.value
                continue
            port = self.port(None, t, k, False, lambda msg: self.error(msg, kw))
            if port in ports:
                raise self.error(f"input {port!r} of {t.name} is given twice", kw)
            ports[port] = kw.value
        for port, node in ports.items():
            self.decl_rows[(name, port)] = (self.expr(node, [(name, port, t.input_kind(port))]), node)
        own = {k: given.pop(k) for k in RATE_ARGS if k in given}  # every= / hz=: the machine's
        for k in own:
            arg_nodes.pop(k)
        try:
            args = t.check_args(given, f"neuron {name!r}")
        except DmmError as e:
            where = next(iter(arg_nodes.values())) if len(arg_nodes) == 1 else call
            raise self.error(str(e), where) from None
        except Exception as e:  # a type's own check is outside code: report, never crash
            raise self.error(f"{t.name}: bad arguments ({type(e).__name__}: {e})", call) from None
        if own:
            try:
                check_rate_args(t, own, f"neuron {name!r}")
            except DmmError as e:
                raise self.error(str(e), next(kw.value for kw in call.keywords if kw.arg in own)) from None
            args = {**args, **own}
        if t.name == "knob":
            self.add_knob(name, args["address"], call)
        return args

    def add_knob(self, name: str, address: str, call) -> None:
        other = self.patch.knobs.get(address)
        if other is not None:
            line = self.knob_nodes[address].lineno
            raise self.error(f"knob address {address!r} is used already by {other!r} (line {line})", call)
        self.patch.knobs[address] = name
        self.knob_nodes[address] = call

    def literal(self, t: NeuronType, k: str, node):
        """A construction argument: a literal (ast.literal_eval) or constant arithmetic."""
        try:
            v = self.pitch_list(t, k, node)  # note names in a list of numbers: their Hz
            if v is None:
                v = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            try:
                v = self.constant(node)
            except PatchError:
                raise self.error(f"argument {k!r} of {t.name} must be a constant (a number, string, "
                                 f"list or dict), not {_describe(node)}", node) from None
        bad = _bad_literal(v)
        if bad is not None:
            raise self.error(f"argument {k!r} of {t.name}: {bad}", node)
        d = t.args.get(k)  # (every= and hz=, not the type's: checked by check_rate_args)
        if isinstance(d, bool):
            ok, want = isinstance(v, bool), "True or False"
        elif isinstance(d, int):
            ok, want = _integer(v), "a whole number"
        elif isinstance(d, float):
            ok, want = _number(v), "a number"
            if ok:
                v = float(v)
        elif isinstance(d, str):
            ok, want = isinstance(v, str), "a string"
        else:
            ok, want = True, ""
        if not ok:
            raise self.error(f"argument {k!r} of {t.name} must be {want}, got {_show(v)}", node)
        return v

    def anonymous(self, call: ast.Call, dsts) -> _Lin:
        t = self.call_type(call)
        name = self.anonymous_name(t)
        line, col = self.pos(call)
        self.patch.neurons[name] = Declared(t.name, {}, line, col)
        out = t.default_output
        if out is None:
            raise self.error(f"{t.name} has no outputs: it cannot feed {_dst(dsts)}", call)
        self.check_kind(dsts, name, out, t.output_kind(out), call)
        self.patch.neurons[name].args = self.call_args(name, t, call)
        return _Lin({(name, out): 1.0}, {(name, out): call})

    def anonymous_name(self, t: NeuronType) -> str:
        counts = self.counters.setdefault(self.prefix, {})
        counts[t.name] = k = counts.get(t.name, 0) + 1
        return f"{self.prefix}/{t.name}#{k}"

    # ---- names, ports and kinds -------------------------------------------------------------
    def is_sink_name(self, name: str) -> bool:
        t = self.registry.get(name)
        if t is not None:
            return t.pinned and not t.outputs and name not in BUILTIN
        return name in SINKS

    def sink_type(self, name: str, node) -> NeuronType:
        t = self.registry.get(name)
        if t is None:
            raise self.error(f"unknown sink {name!r}: no {name!r} type is loaded", node)
        return t

    def type_of_decl(self, name: str) -> NeuronType | None:
        d = self.patch.neurons.get(name)
        if d is not None:
            return self.registry.get(d.type)
        site = self.sites.get(name)
        if isinstance(site, SumSite):
            return None
        return self.registry.get(site.func.id) if site else None

    def type_of_ref(self, name: str, node) -> NeuronType:
        """The type of a neuron named in an expression or a destination (maybe declared later)."""
        d = self.patch.neurons.get(name)
        if d is not None:
            return self.registry[d.type]
        site = self.sites.get(name)
        if isinstance(site, SumSite):
            return self.sum_type(name, site.value)
        if site is not None:
            return self.call_type(site)  # an unknown type is reported where it is written
        if name in BUILTIN:
            return self.registry[name]
        if self.is_sink_name(name):
            return self.sink_type(name, node)
        known = list(self.sites) + list(BUILTIN) + [s for s in SINKS if s in self.registry]
        hint = did_you_mean(name, known)
        if not hint and name in self.registry:
            hint = f" ({name} is a neuron type: write {name}(...) to make one)"
        raise self.error(f"undeclared name {name!r}{hint}", node)

    def port(self, name, t: NeuronType, port: str, output: bool, fail) -> str:
        """`port` checked against t's inputs or outputs (`in_` stands for the keyword `in`)."""
        kind = t.output_kind if output else t.input_kind
        if kind(port) is not None:
            return port
        if port.endswith("_") and keyword.iskeyword(port[:-1]) and kind(port[:-1]) is not None:
            return port[:-1]
        ports = list(t.outputs if output else t.inputs)
        who = f"{name!r} ({t.name})" if name else t.name
        word = "output" if output else "input"
        msg = f"{who} has no {word} {port!r}{did_you_mean(port, ports)}; {word}s: {', '.join(ports) or 'none'}"
        if not output and not name and t.args:
            msg += f"; arguments: {', '.join(t.args)}"
        raise fail(msg)

    def check_kind(self, dsts, src: str, out: str, sk: str, node) -> None:
        for dst, port, dk in dsts:
            if not compatible(dk, sk):
                raise self.error(f"kind mismatch: {dst}.{port} is {dk} but {src}.{out} is {sk}"
                                 f"{kind_hint(dk, sk)}", node)

    def ref(self, name: str, port: str | None, node, pnode, dsts) -> _Lin:
        if self.is_sink_name(name):
            raise self.error(f"{name!r} is a sink: it has no outputs to read "
                             f"(use the streams that feed it)", node)
        t = self.type_of_ref(name, node)
        if port is None:
            port = t.default_output
            if port is None:
                if t.variadic:
                    raise self.error(f"{name!r} ({t.name}) has no default output: name the port, "
                                     f"as in {name}.x", node)
                raise self.error(f"{name!r} ({t.name}) has no outputs to read", node)
        else:
            port = self.port(name, t, port, True, lambda msg: self.error_at(msg, *pnode))
        self.check_kind(dsts, name, port, t.output_kind(port), node)
        return _Lin({(name, port): 1.0}, {(name, port): node})

    # ---- linear expressions ------------------------------------------------------------------
    def expr(self, node, dsts) -> _Lin:
        """The linear expression at `node`, feeding the rows `dsts` [(dst, port, kind)]."""
        lin = self.linear(node, dsts)
        if lin.const_node is not None:
            for dst, port, dk in dsts:
                if not compatible(dk, "number"):
                    raise self.error(f"kind mismatch: {dst}.{port} is {dk} but a constant "
                                     f"(one.out) is number", lin.const_node)
        return lin

    def linear(self, node, dsts) -> _Lin:
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            chain = []  # a long sum is a deep left spine: walk it without recursion
            while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                chain.append(node)
                node = node.left
            first = self.linear(node, dsts)
            # one accumulator, added to in place: a sum of n terms costs O(n), not O(n²)
            acc = _Lin(dict(first.terms), dict(first.nodes), first.const, first.const_node)
            self.check_finite(acc, node)
            for b in reversed(chain):
                other, sign = self.linear(b.right, dsts), (1.0 if isinstance(b.op, ast.Add) else -1.0)
                for k, w in other.terms.items():
                    acc.terms[k] = v = acc.terms.get(k, 0.0) + sign * w
                    acc.nodes.setdefault(k, other.nodes[k])
                    if not math.isfinite(v):
                        raise self.error("not a finite number: this arithmetic overflows", b)
                acc.const += sign * other.const
                acc.const_node = acc.const_node or other.const_node
                if not math.isfinite(acc.const):
                    raise self.error("not a finite number: this arithmetic overflows", b)
            return acc
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            a, b = self.linear(node.left, dsts), self.linear(node.right, dsts)
            if not a.is_const and not b.is_const:
                raise self.error("a product of two streams is not linear: use mul(a, b)", node)
            return self.check_finite(b.scaled(a.const) if a.is_const else a.scaled(b.const), node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            a, b = self.linear(node.left, dsts), self.linear(node.right, dsts)
            if not b.is_const:
                raise self.error("dividing by a stream is not linear: divide by a constant", node)
            if b.const == 0:
                raise self.error("division by zero", node.right)
            try:
                out = _Lin({k: w / b.const for k, w in a.terms.items()}, a.nodes,
                           a.const / b.const, a.const_node)
            except OverflowError:
                raise self.error("not a finite number: this arithmetic overflows", node) from None
            return self.check_finite(out, node)
        if isinstance(node, ast.BinOp):
            sym = OPERATORS.get(type(node.op), "this operator")
            raise self.error(f"{sym!r} is not allowed in a patch: streams combine with +, - "
                             f"and * or / by a constant", node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return self.linear(node.operand, dsts).scaled(-1.0)
            if isinstance(node.op, ast.UAdd):
                return self.linear(node.operand, dsts)
            sym = "not" if isinstance(node.op, ast.Not) else "~"
            raise self.error(f"{sym!r} is not allowed in a patch: streams combine with +, - "
                             f"and * or / by a constant", node)
        if isinstance(node, ast.Constant):
            v = node.value
            if _number(v):
                return _Lin(const=float(v), const_node=node)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                raise self.error(f"not a finite number: {_show(v)}", node)
            if isinstance(v, str):
                raise self.error(f"expected a number or a stream, got the string {_show(v)}", node)
            raise self.error(f"expected a number or a stream, got {_show(v)}", node)
        if isinstance(node, ast.Name):
            return self.ref(node.id, None, node, None, dsts)
        if isinstance(node, ast.Attribute):
            if not isinstance(node.value, ast.Name):
                raise self.error("only `name` or `name.port` can be read: attribute chains "
                                 "go no deeper", node)
            return self.ref(node.value.id, node.attr, node.value, self.attr_pos(node), dsts)
        if isinstance(node, ast.Call):
            if self.pitch_fn(node):
                return _Lin(const=self.pitch(node), const_node=node)
            return self.anonymous(node, dsts)
        raise self.error(f"{_describe(node)} is not allowed in a stream expression: "
                         f"write sums of weight*name", node)

    def check_finite(self, lin: _Lin, node) -> _Lin:
        if not lin.finite():
            raise self.error("not a finite number: this arithmetic overflows", node)
        return lin

    # ---- rows ---------------------------------------------------------------------------------
    def finish(self) -> None:
        rows: dict = {}
        for key, (lin, _) in self.decl_rows.items():
            rows[key] = lin.row()
        set_at: dict = {}  # the target of each `=` statement -> its line
        for dst, port, op, lin, st in self.ops:
            key = (dst, port)
            if op == "=":
                target = set_target(st)
                if set_at.setdefault(target, st.lineno) != st.lineno:
                    what = target if isinstance(target, str) else f"{target[0]}.{_py(target[1])}"
                    raise self.error(f"{what} is set twice (first on line {set_at[target]}): "
                                     f"write `{what} += ...` to add to it", st)
                rows[key] = lin.row()
                continue
            row = dict(rows.get(key, {}))
            sign = 1.0 if op == "+=" else -1.0
            for k, w in lin.row().items():
                row[k] = row.get(k, 0.0) + sign * w
                if not math.isfinite(row[k]):
                    raise self.error("not a finite number: the weights added up overflow", st)
            rows[key] = row
        self.patch.rows = {key: {k: float(w) for k, w in row.items() if w != 0.0}
                           for key, row in rows.items()}
        # neurons in source order, anonymous ones where their call stands
        order = sorted(self.patch.neurons.items(), key=lambda kv: (kv[1].line, kv[1].col))
        self.patch.neurons = dict(order)
        for name, d in self.patch.neurons.items():
            t = self.registry[d.type]
            if t.variadic:
                continue
            for port, p in t.inputs.items():
                if p.default and (name, port) not in rows:
                    self.patch.defaults[(name, port)] = float(p.default)


# ---- helpers ------------------------------------------------------------------------------------
def _number(v) -> bool:
    """A finite int or float (not a bool, not an int too large for a float)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _show(v) -> str:
    """repr(v), short: a huge int has no repr in Python 3.11 (digit limit) and would crash."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 200:
        return f"an integer of about {int(v.bit_length() * 0.30103)} digits"
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bad_literal(v, depth: int = 0) -> str | None:
    """Why `v` cannot be a construction argument, or None when it can."""
    if depth > 50:
        return "nested too deeply"
    if v is None or isinstance(v, (bool, str)):
        return None
    if isinstance(v, int):
        return None
    if isinstance(v, float):
        return None if math.isfinite(v) else f"not a finite number: {_show(v)}"
    if isinstance(v, (list, tuple)):
        for x in v:
            bad = _bad_literal(x, depth + 1)
            if bad:
                return bad
        return None
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                return f"dict keys must be strings, got {k!r}"
            bad = _bad_literal(x, depth + 1)
            if bad:
                return bad
        return None
    return f"a {type(v).__name__} cannot be a construction argument"


class SumSite:
    """The declaration site of a named sum (`mix = 0.5*a + 0.5*b`): its expression."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def stream_leaves(node):
    """The stream leaves of a linear expression, left to right: names, `name.port` and calls
    (a call's own arguments are its business)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.BinOp):
            stack += [n.right, n.left]
        elif isinstance(n, ast.UnaryOp):
            stack.append(n.operand)
        elif isinstance(n, (ast.Name, ast.Attribute, ast.Call)):
            yield n


def set_target(st):
    """What a `=` statement sets: a sink's name (`out = ...`, every port), or (name, port)
    (`a.freq = ...`, `out.left = ...`): two statements setting the same one is an error (the
    second would silently win); a port statement over a declaration's keyword, or over one
    port of a sink set whole, is the documented override."""
    t = st.targets[0]
    if isinstance(t, ast.Name):
        return t.id
    name, port = t.value.id, t.attr
    return name, port[:-1] if port.endswith("_") and keyword.iskeyword(port[:-1]) else port


def _py(port: str) -> str:
    return port + "_" if keyword.iskeyword(port) else port


def _dst(dsts) -> str:
    return " and ".join(f"{d}.{p}" for d, p, _ in dsts)


_NAMES = {
    ast.Import: "an import", ast.ImportFrom: "an import", ast.FunctionDef: "a def",
    ast.AsyncFunctionDef: "a def", ast.ClassDef: "a class", ast.For: "a loop",
    ast.AsyncFor: "a loop", ast.While: "a loop", ast.If: "an if", ast.With: "a with",
    ast.AsyncWith: "a with", ast.Try: "a try", ast.Return: "a return", ast.Delete: "a del",
    ast.Raise: "a raise", ast.Assert: "an assert", ast.Global: "a global",
    ast.Nonlocal: "a nonlocal", ast.Pass: "a pass", ast.Break: "a break",
    ast.Continue: "a continue", ast.AnnAssign: "an annotated assignment",
    ast.Subscript: "a subscript", ast.Lambda: "a lambda", ast.Starred: "`*` unpacking",
    ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.IfExp: "an if-expression",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "an f-string", ast.Await: "an await", ast.Yield: "a yield",
    ast.YieldFrom: "a yield", ast.NamedExpr: "a := assignment", ast.Slice: "a slice",
    ast.Attribute: "an attribute", ast.Call: "a call", ast.Name: "a name",
    ast.BinOp: "an operation", ast.UnaryOp: "an operation", ast.Constant: "a constant",
}


def _describe(node) -> str:
    for cls in type(node).__mro__:
        if cls in _NAMES:
            return _NAMES[cls]
    if hasattr(ast, "Match") and isinstance(node, ast.Match):
        return "a match"
    return f"a {type(node).__name__}"


# ---- ranges -------------------------------------------------------------------------------------
def check_ranges(patch: Patch, text: str, path: str, types: Types, keys=None) -> None:
    """PatchError at the first input constant out of its port's range (`Port.lo`..`hi`):
    a `delay` time past its `max`, a negative cutoff. Only a row's constant (its weight
    from `one`) is checked: what a stream adds to it is the network's business. `keys`:
    the rows that can fail (those that changed since a Patch that passed), else all; where
    one of them fails, all are read in order for the first."""
    rows = patch.rows
    if keys is not None and not any(_out_of_range(patch, types, k, rows[k]) for k in keys if k in rows):
        return
    for key, row in rows.items():
        bad = _out_of_range(patch, types, key, row)
        if bad is None:
            continue
        d, t, x, why = bad
        lines = text.splitlines()
        line, col = _constant_site(lines, d, *key)
        raise PatchError(f"{t.name} {key[1]} = {x:g} is {why}", path, line, col,
                         lines[line - 1] if 0 < line <= len(lines) else "")


def _out_of_range(patch: Patch, types: Types, key, row):
    """(declaration, type, constant, why) where row `key`'s constant is out of its port's
    range; None where it is in range or has none."""
    x = row.get(ONE)
    if x is None:
        return None
    dst, port = key
    d = patch.neurons.get(dst)
    t = types.get(d.type) if d is not None else None
    p = t.inputs.get(port) if t is not None and not t.variadic else None
    if p is None or (p.lo is None and p.hi is None):
        return None
    why = p.out_of_range(x, d.args)
    return None if why is None else (d, t, x, why)


def _constant_site(lines, d: Declared, dst: str, port: str) -> tuple[int, int]:
    """Where a row's constant is written: the last `dst.port = ...` statement (the start of
    its expression), else the `port=` keyword of the declaring call (its value), else the
    declaration (a positional input)."""
    py = re.escape(_py(port))
    assign = re.compile(rf"^\s*{re.escape(dst)}\s*\.\s*{py}\s*(?:\+=|-=|=(?!=))\s*")
    for i in range(len(lines) - 1, -1, -1):
        m = assign.match(lines[i])
        if m:
            return i + 1, m.end() + 1
    kw = re.compile(rf"\b{py}\s*=(?!=)\s*")
    for i in range(d.line - 1, min(len(lines), d.line + 20)):
        m = kw.search(lines[i], d.col - 1 if i == d.line - 1 else 0)
        if m:
            return i + 1, m.end() + 1
    return d.line, d.col


# ---- loud loops ---------------------------------------------------------------------------------
SATURATING = ("tanh", "clip")  # types whose output stays bounded: a loop through one cannot run away


def loud_loops(patch: Patch, types: Types) -> list:
    """The feedback loops of a patch whose gain is 1 or more: [(neurons of the loop, gain)].

    A loop is a cycle of audio signal inputs (ports named `in`) between neurons, the gain
    the spectral radius of its weights' magnitudes (a delay's own `feedback` constant a
    loop of its own), the neurons taken as passing their input at unity (delays, filters
    in their passband); a loop through a saturating type (tanh, clip) is bounded and left
    out. Such a loop grows until the limiter, or a non-finite reset, stops it."""
    import numpy as np
    edges: dict = {}
    for (dst, port), row in patch.rows.items():
        d = patch.neurons.get(dst)
        if d is None or d.type in SATURATING:
            continue
        t = types.get(d.type)
        if t is None or t.variadic or t.input_kind(port) != "audio":
            continue
        if port == "feedback" and t.name == "delay":
            x = abs(row.get(ONE, 0.0))
            if x:
                edges.setdefault(dst, {})[dst] = edges.get(dst, {}).get(dst, 0.0) + x
            continue
        if port != "in":
            continue
        for (src, _), w in row.items():
            s = patch.neurons.get(src)
            if s is not None and s.type not in SATURATING and w:
                edges.setdefault(dst, {})[src] = edges.get(dst, {}).get(src, 0.0) + abs(w)
    out = []
    for comp in _cycles(edges):
        idx = {n: i for i, n in enumerate(comp)}
        a = np.zeros((len(comp), len(comp)))
        for n in comp:
            for src, w in edges.get(n, {}).items():
                if src in idx:
                    a[idx[n], idx[src]] = w
        growth = float(max(abs(np.linalg.eigvals(a)))) if len(comp) <= 400 else 0.0
        if growth >= 1.0 - 1e-9:
            # a single cycle: its round trip's gain (the product of its weights); several
            # cycles through each other: how much a pass through one neuron grows
            simple = all(np.count_nonzero(a[i]) == 1 for i in range(len(comp)))
            out.append((comp, float(np.prod(a[a != 0])) if simple else growth))
    return out


def _cycles(edges: dict) -> list:
    """The strongly connected groups of `edges` (dst -> {src: w}) that hold a cycle, each
    in the order its neurons were first met (scipy's strong components)."""
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    names = list(dict.fromkeys([n for d, srcs in edges.items() for n in (d, *srcs)]))
    at = {n: i for i, n in enumerate(names)}
    rows = [at[d] for d, srcs in edges.items() for _ in srcs]
    cols = [at[s] for srcs in edges.values() for s in srcs]
    g = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(g, directed=True, connection="strong")
    groups: dict = {}
    for n, label in zip(names, labels):
        groups.setdefault(label, []).append(n)
    return [c for c in groups.values() if len(c) > 1 or c[0] in edges.get(c[0], {})]
