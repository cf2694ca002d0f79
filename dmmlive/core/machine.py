"""The dataflow matrix machine: W held by Self, the two-stroke cycle, both schedules.
Its edit path is core/edits.py, its glides core/glides.py, its frame clock core/frames.py
(mixins of Machine); compiling W into the plan core/compiler.py."""
from __future__ import annotations

import collections
import copy
from fractions import Fraction
from itertools import repeat
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import declare, flatv, vv
from .compiler import build, compile_plan
from .edits import EDITS, LEAD, NOTHING, Edits, split_port  # noqa: F401  (split_port: part of this module's face)
from .errors import BadArgument, MalformedDelta, UnknownNeuron, UnknownPort, did_you_mean
from .frames import Frames
from .glides import Glides
from .grid import BLOCK, MAX_TEMPO, Grid
from .plan import (BUILTIN, DENSE, Decl, Decls, Plan, _finite, all_finite, dyn_args, dyn_fill, dyn_kernel,
                   matvec_into, spmm_add)
from .registry import STANDARD, TICK_VM, Types, neuron_type

SELF_DELTA = ("self", "delta")
MAX_INPUTS = 8  # the input channels a machine keeps a block of (`input` neurons, neurons/inputs.py)

SCHEDULES = ("synchronous", "ordered")


# The built-in neurons: the machine computes them itself; the entries give them
# their ports, kinds and help text.
@neuron_type("self", inputs={"delta": "vvalue"}, outputs={"matrix": "vvalue", "decls": "vvalue"}, pinned=True)
def _self(inputs, state):
    """The network matrix W; each up movement adds what arrives on `delta` to it.

    `decls` shows the declarations as a V-value ({name: {type: {args JSON: 1}}}); a ΔW's
    ":declare" section in that form declares neurons (core/declare.py)."""
    raise AssertionError("computed by the machine")


@neuron_type("one", outputs={"out": "number"}, pinned=True)
def _one(inputs, state):
    """The constant 1: a constant c on a port is the weight c from `one`."""
    raise AssertionError("computed by the machine")


@neuron_type("edits", outputs={"delta": "vvalue"}, pinned=True)
def _edits(inputs, state):
    """Emits the edits queued from outside (patch reloads, OSC, Machine.edit) each tick."""
    raise AssertionError("computed by the machine")


def initial_state(t, args, rate: int, block: int, limiter: bool = True) -> dict:
    """A new state dict of a non-batched neuron of type `t` with construction arguments
    `args`, in a machine at `rate` Hz and `block` samples a tick."""
    spec = t.state
    st = copy.deepcopy(spec(args) if callable(spec) else dict(spec or {}))
    st.setdefault("args", args)
    if "rate" in st:
        st["rate"] = rate
    if "limiter" in st:
        st["limiter"] = limiter
    st.setdefault("ticks_per_second", rate / block)
    return st


def carry_rows(dst, src, r) -> None:
    """dst[r[i]] = src[i] wherever r[i] >= 0: block copies of the runs where both step by
    one (a layout by change moves rows in a few blocks), a gather where they are many."""
    keep = np.flatnonzero(r >= 0)
    if not len(keep):
        return
    t = r[keep]
    cut = np.flatnonzero((np.diff(keep) != 1) | (np.diff(t) != 1)) + 1
    if len(cut) > 32:
        dst[t] = src[keep]
        return
    for a, b in zip([0, *cut.tolist()], [*cut.tolist(), len(keep)]):
        dst[t[a]:t[a] + b - a] = src[keep[a]:keep[a] + b - a]


class Machine(Edits, Glides, Frames):
    """A dataflow matrix machine. `tick()` runs one two-stroke cycle. `types`: the table
    of neuron types it can declare (default: the standard one, `registry.STANDARD`)."""
    compiled_tick = True  # run the usual tick through a compiled table (neurons/tickvm.py) where it can
    _program = None       # that table and the Python between its runs (_make_program)
    _steps_seen = None    # the steps of the last usual tick (a table is made for steps run twice)

    def __init__(self, schedule: str = "ordered", rate: int = 48000, block: int = 128,
                 fps: float = 30.0, seed: int = 0, limiter: bool = True,
                 size: tuple = (640, 360), gpu=None, images: bool = True,
                 types: Types | None = None, publish_frames: bool = False):
        self.types = STANDARD if types is None else types
        if schedule not in SCHEDULES:
            raise BadArgument(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
        if int(block) < 1 or int(rate) < 1:
            raise BadArgument(f"rate and block must be positive, got rate={rate} block={block}")
        self.schedule = schedule
        self.rate, self.block, self.fps, self.seed = int(rate), int(block), float(fps), int(seed)
        self.limiter = bool(limiter)
        if not fps > 0:
            raise BadArgument(f"fps must be > 0, got {fps!r}")
        self.size = (int(size[0]), int(size[1]))
        self.images = bool(images)  # False: frame neurons never fire (a sound-only engine)
        # a sound-only engine may publish what its frame neurons would get at each frame
        # tick instead (`frames_out`, see core/frames.py): a picture is drawn from them elsewhere
        self.publish_frames = bool(publish_frames) and not self.images
        self.frames_out: collections.deque = collections.deque(maxlen=64)
        self.gpu = gpu            # the image backend (made on first need from BACKENDS["image"])
        self.frame = -1           # the last frame computed (frame k falls at time k / fps)
        self.frame_tick = False   # whether the last tick computed a frame
        self._fps = Fraction(self.fps).limit_denominator(1000)
        self._Yi: dict = {}       # (neuron, port) -> image outputs
        self._Xi: dict = {}       # (neuron, port) -> image inputs
        self._rings: dict = {}    # audio inputs of frame neurons -> their recent samples
        self._ctx = SimpleNamespace(rate=self.rate, block=self.block, seed=self.seed, tempo=120.0)
        self.grid = Grid(self.rate)  # the beat clock (core/grid.py): clocks and quantised edits
        # the sound card's input this tick, a row per channel (`input` neurons read it): the
        # engine, `render --input` or a replayed log fill it in place before each tick
        self.audio_in = np.zeros((MAX_INPUTS, self.block), np.float32)
        self.t = 0  # up movements done
        self._decls: Decls = Decls()
        for n in BUILTIN:
            self._decls[n] = Decl.make(self.types[n], {})
        for n, t in self.types.items():  # the sinks (out, screen) are pinned too
            if t.pinned and n not in BUILTIN:
                self._decls[n] = Decl.make(t, {})
        self._W: dict = {"self": {"delta": {"edits": {"delta": 1.0}}}}
        self._queue: list = []     # [_Edit] waiting for the edits neuron
        self._pending_decls: dict = {}  # declarations of queued and in-flight edits
        self._inflight: list = []  # [_Edit] emitted by edits, not yet added into W by self
        self._fades: list = []     # [_Fade] weight glides in progress
        self._xfade = 0            # counter for the names of neurons fading out
        self._cleanup_after_fade: dict = {}  # name~k -> its input rows, removed when its fade ends
        self._Y = {"number": np.zeros(0), "audio": np.zeros((0, self.block), np.float32)}
        self._X = {"number": np.zeros(0), "audio": np.zeros((0, self.block), np.float32)}
        self._Yv: dict = {}   # (neuron, port) -> V-value outputs
        self._vports: dict = {}  # variadic neuron -> the ports of its last outputs
        self._fired: dict = {}   # slow neuron (every > 1) -> the tick it last fired
        self._any_slow = False   # whether any declared neuron is slow (found at each compile)
        self._vflat = vv.FlatCache()  # V-values flattened to (shape, leaves) for flat sums
        self._flatv = None       # a cluster of identity neurons run as an array (core/flatv.py)
        self._flatv_retry = 0    # the tick from which to look for one again
        self._run = None         # the usual tick's steps and what they were made for (_steps)
        self._Xv: dict = {}   # (neuron, port) -> V-value inputs
        self._state: dict = {}    # non-batched neuron -> dict
        self._gstate: dict = {}   # group key -> {"names": [...], "arrays": {name: ndarray}}
        self._plan: Plan | None = None
        self._ent = None           # W's runnable entries by row (compiler.Entries)
        self._dirty = True         # the plan is compiled again before the next tick
        self._changed_rows: set = set()   # what changed since: W's rows, declarations,
        self._changed_names: set = set()  # glides (see _restructure)
        self._active_changed = False
        self._fresh = False
        self._value_rows: set = set()  # rows whose weights the plan took in place since
        self._row_srcs: dict = {}      # row -> the neurons whose entries in it changed (None: any)
        self._idle: set = set()        # neurons to retire at the next compile if inactive
        self._born: set = set()        # neurons declared since the last compile (not run yet)
        self._dormant: set = set()     # declared, retired (state freed): a link revives them
        self._pinned = None            # the pinned neurons' names (found at the first compile)
        self._self_read = False        # Self's input is the one it added (see set_schedule)
        self._self_parts = None        # Self's input terms [(source, w, value)] this tick
        self._self_seen = []           # the last ones (kept: Self's input, summed when read)
        self._kept: dict = {}          # constant neuron -> the declaration its kept outputs are of
        self._wroute = None  # (ΔW, the W it made, compiles, leaves): that ΔW again goes in in place
        self._pend = None    # (W, edits queued, W with them in): pending_matrix, kept while both hold
        self.netfade = 0.005  # s: network-written changes to number and audio weights glide (0: jump)
        self.max_neurons = 1024  # the most live neurons the network may declare itself up to
        self._net_last: dict = {}      # a source writing into self.delta -> the last tick it wrote
        self._net_backlog = collections.OrderedDict()  # name -> (Decl, defaults) the network declared, to install
        self._net_memo: dict = {}      # source -> its last ":declare" section, read, and (compiles, max_neurons)
        self._net_budget = [-1, 0]     # [tick, installs left in it] (edits.NET_DECLARE_PER_TICK)
        self._w_read = False           # a neuron reads self.matrix (W is lent to the network)
        self._active: set = set()
        self.reports: collections.deque = collections.deque(maxlen=256)
        self.on_report = None
        self._reported: set = set()
        self.compiles = 0  # how many times W was compiled into a plan
        self.before_tick: list = []  # callables f(machine) run before each tick (timed commands)
        self._compile()
        self._set_dense("number", ("one", "out"), 1.0)

    # ---- declaring and wiring (immediate) -------------------------------------------
    def add(self, name: str, type: str, **args) -> "Machine":
        """Declare neuron `name` of `type` now; ports with defaults get their weight from `one`."""
        decl = self._check_declare({name: (type, args)}, self._live_decls())[name]
        if name in self._dormant:  # declared anew: the dormant one is forgotten first
            self._forget({name})
        self._install({name: decl})
        self._restructure(names=(name,))
        delta = self._defaults(name, decl, set())
        if delta:
            self._add_to_w(delta)
        return self

    def connect(self, dst: str, src: str, weight: float = 1.0) -> "Machine":
        """Set W[dst neuron][dst port][src neuron][src port] = weight now."""
        dn, dp, sn, sp_ = self._resolve_link(dst, src, self._decls)
        if not vv.is_number(weight) or not np.isfinite(weight):
            raise MalformedDelta(f"weight for {dst} <- {src} must be a finite number, got {weight!r}")
        row = vv.path(self._W, dn, dp, sn, sp_)
        cur = row if vv.is_number(row) else 0.0
        self._add_to_w({dn: {dp: {sn: {sp_: float(weight) - cur}}}})
        return self

    def set_output(self, name: str, port: str, value: Any) -> None:
        """Set the current output `name.port` (an initial value)."""
        kind = self._port_kind(name, port, output=True)
        if kind == "vvalue":
            if not isinstance(value, dict) and not vv.is_number(value):
                raise BadArgument(f"{name}.{port} is a vvalue output: give a dict or a number, not {value!r}")
            try:
                vv.validate(value, f"{name}.{port}")
            except ValueError as e:
                raise BadArgument(str(e)) from None
            self._deflate()  # an output set from outside: the array program ends
            self._Yv[(name, port)] = vv.prune(vv.number(value) if vv.is_number(value) else value)
            if self._decls[name].type.variadic:  # one of the ports its next firing replaces
                self._vports[name] = tuple(dict.fromkeys(self._vports.get(name, ()) + (port,)))
        else:
            if self._dirty:
                self._compile()
            self._set_dense(kind, (name, port), value)

    # ---- settings (edits through Self: core/edits.py) ------------------------------------
    def compile(self, fresh: bool = True) -> None:
        """Compile the plan now (a tick compiles it anyway after W has changed), from
        scratch, or (`fresh=False`) by what changed since the last compile, if nothing
        then only the part every such compile does: to time it."""
        if fresh:
            self._restructure(fresh=True)
        elif not self._dirty:
            self._restructure(active=True)
        self._compile()

    def set_schedule(self, schedule: str) -> None:
        if schedule not in SCHEDULES:
            raise BadArgument(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
        if schedule != self.schedule:
            if self.t and self._plan is not None:
                # Between the two, Self's input is read once: synchronous, Self adds at tick
                # t+1 what reached it by tick t; ordered, what reaches it in the same tick.
                if schedule == "ordered":  # what the last tick sent Self goes in now
                    row = [t for lv in self._plan.levels for k, t in lv.vrows if k == ("self", "delta")]
                    self._take([self._vsum(row[0])] if row else [], list(self._inflight))
                else:  # Self added the last tick's at its end: the next tick reads it again
                    self._self_read = True
            self.schedule = schedule
            self._restructure(fresh=True)

    @property
    def tempo(self) -> float:
        """The beat grid's tempo (bpm). Set, it changes from the next tick's first sample
        on, the beat position continuous (core/grid.py)."""
        return self.grid.tempo

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        if not vv.is_number(bpm) or not 0 < bpm <= MAX_TEMPO:
            raise BadArgument(f"tempo must be a number of beats per minute > 0 and <= {MAX_TEMPO:g}, got {bpm!r}")
        self._ctx.tempo = float(bpm)
        self.grid.set_tempo(bpm, self.t * self.block)

    def quant_at(self, beats: float) -> int:
        """The sample an edit queued now lands on when quantised to `beats` (`edit(at=)`):
        the first start of a multiple of `beats` on the grid it can still reach exactly."""
        return self.grid.next_multiple((self.t + LEAD) * self.block, beats)

    @property
    def beat(self) -> float:
        """The beat position of the next tick's first sample (0 at the machine's start)."""
        return self.grid.beat(self.t * self.block)

    # ---- snapshots (core/snapshot.py) -----------------------------------------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_run"] = None  # views into the machine's arrays (a pickle would copy them): made again
        state["_program"] = state["_steps_seen"] = None  # (addresses of them)
        return state

    def snapshot(self, extra=None) -> bytes:
        """The machine's whole state as bytes (`extra`: any object kept beside it):
        `Machine.restore(data)` ticks on sample-identically (core/snapshot.py)."""
        from .snapshot import snapshot
        return snapshot(self, extra)

    @classmethod
    def restore(cls, data: bytes, types: Types | None = None) -> "Machine":
        """The machine a `snapshot()` holds (its neuron types found in `types`, default the
        standard table; hooks and on_report are not in it: attach them again)."""
        from .snapshot import restore
        return restore(data, types)

    # ---- reading -----------------------------------------------------------------------
    @property
    def matrix(self) -> dict:
        """W as a V-value (a copy)."""
        return copy.deepcopy(self._W)

    @property
    def neurons(self) -> dict:
        """{name: type name} of every declared neuron (not the dormant ones: `dormant`)."""
        return {n: d.type.name for n, d in self._decls.items() if n not in self._dormant}

    @property
    def dormant(self) -> set:
        """Neurons that retired when their links went (state freed) and stay declared: a
        link the network writes to one revives it, fresh; an edit declares it anew."""
        return set(self._dormant)

    @property
    def active(self) -> list:
        if self._dirty:
            self._compile()
        return list(self._plan.active)

    def output(self, name: str, port: str | None = None):
        port = port or self._default_port(name, output=True)
        kind = self._port_kind(name, port, output=True)
        if kind == "vvalue":
            if name == "self":
                return self.matrix
            self._unflat(name, port)
            return copy.deepcopy(self._Yv.get((name, port), {}))
        if self._dirty:
            self._compile()
        row = self._plan.out_index[kind].get((name, port))
        if row is None:
            return 0.0 if kind == "number" else np.zeros(self.block, np.float32)
        v = self._Y[kind][row]
        return float(v) if kind == "number" else v.copy()

    def input(self, name: str, port: str | None = None):
        port = port or self._default_port(name, output=False)
        kind = self._port_kind(name, port, output=False)
        if (name, port) == SELF_DELTA:
            return copy.deepcopy(self._sum_of([(y, w) for _, w, y in self._self_seen]))
        if kind == "vvalue":
            self._unflat(name, port)
            return copy.deepcopy(self._Xv.get((name, port), {}))
        row = self._plan.in_index[kind].get((name, port)) if self._plan else None
        if row is None:
            return 0.0 if kind == "number" else np.zeros(self.block, np.float32)
        v = self._X[kind][row]
        return float(v) if kind == "number" else v.copy()

    @property
    def context(self):
        """What batched types' state initialisers get (`rate`, `block`, `seed`, `tempo`,
        and what the control layer keeps there, e.g. knob values)."""
        return self._ctx

    def declaration(self, name: str):
        """The running declaration of `name` (its type and arguments), or None."""
        return self._decls.get(name)

    def group_row(self, name: str):
        """(the state arrays of the group batched neuron `name` runs in, its row), or None
        while it is not running."""
        d = self._decls.get(name)
        gs = self._gstate.get(d.key) if d is not None else None
        if gs is None or name not in gs["names"]:
            return None
        return gs["arrays"], gs["names"].index(name)

    def state_of(self, name: str) -> dict:
        """The state dict of a non-batched neuron (created if it has not fired yet)."""
        d = self._decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, self._decls)}")
        if name not in self._state:
            self._state[name] = self._initial_state(d)
        return self._state[name]

    def sound(self) -> np.ndarray:
        """The last block that reached `out`, after the NaN guard and the limiter: (B, 2) float32."""
        st = self._state.get("out")
        if st is None or "sound" not in st:
            return np.zeros((self.block, 2), np.float32)
        return st["sound"]

    def describe(self) -> str:
        """A short text summary of the network: neurons, their types and their rows."""
        lines = []
        for n, d in self._decls.items():
            lines.append(f"{n} = {d.type.name}" + "".join(f" {k}={v!r}" for k, v in d.args.items()))
            for inp, srcs in sorted(self._W.get(n, {}).items()):
                terms = " + ".join(f"{w:g}*{s}.{o}" for s, outs in srcs.items() for o, w in outs.items())
                lines.append(f"    .{inp} = {terms}")
        return "\n".join(lines)

    # ---- the two-stroke cycle --------------------------------------------------------
    def tick(self, n: int = 1) -> None:
        """Run `n` two-stroke cycles (down movement, then up movement)."""
        with np.errstate(all="ignore"):  # non-finite outputs are caught and muted, not warned
            for _ in range(int(n)):
                for hook in self.before_tick:
                    hook(self)
                if self._dirty:
                    self._compile()
                self._vflat.sweep()
                if self._flatv is None and self.t >= self._flatv_retry:
                    self._flatv = flatv.build(self._plan, self.schedule, self._Yv, self._vflat)
                    if self._flatv is None:
                        self._flatv_retry = self.t + flatv.RETRY
                self.t += 1
                self.grid.arr[BLOCK] = (self.t - 1) * self.block
                k0, k = self._frames_of(self.t)
                self.frame_tick = self.images and k > k0
                if self.frame_tick:
                    self.frame = k
                publishing = self.publish_frames and k > k0
                if publishing:
                    self.frame = k
                    self._frame_rec = []
                self._run_steps(publishing)
                if publishing:
                    self.frames_out.append({"tick": self.t, "frame": self.frame, "time": self._frame_time(),
                                            "neurons": self._frame_rec})
                if self._fades:
                    self._advance_fades()

    def _steps(self) -> list:
        """A tick's steps, level by level: (level, its groups' calls, its singles), a group's
        call being what `_group_call` makes of it and a namespace kept from tick to tick
        (not made at each call). Made again when the plan or an array they view was
        replaced (a compile), which is checked once a tick."""
        X, Y, r = self._X, self._Y, self._run
        if r is not None and r[0] is self._plan and r[1] is X["number"] and r[2] is X["audio"] \
                and r[3] is Y["number"] and r[4] is Y["audio"] and r[5] is self._gstate:
            return r[6]
        steps = []
        for lv in self._plan.levels:
            calls = []
            for g in lv.groups:
                c = self._group_call(g)
                outs = c[3]
                # one output whose block the compiled check takes (the usual kernel): checked inline
                one = outs[0][3] if len(outs) == 1 and outs[0][3].size <= 4096 \
                    and outs[0][3].flags.c_contiguous else None
                # (group, kernel, namespace, inputs, state views, state arrays, outputs, default
                # output, that one output's block or None)
                calls.append((g, g.type.fn, SimpleNamespace(**c[2]), c[0], c[1], self._gstate[g.key]["arrays"],
                              outs, g.type.default_output, one))
            steps.append((lv, calls, lv.singles))
        self._run = (self._plan, X["number"], X["audio"], Y["number"], Y["audio"], self._gstate, steps)
        return steps

    def _run_steps(self, publishing=False) -> None:
        """The two strokes, level by level: a level's down movement, then its up movement
        (groups, then singles), then its frame record when `publishing`.

        A level's dense rows between compiles, with no glide (the usual tick), run with the
        views and matrices kept from the last time (`Level.steady`): its number rows, its
        changing audio rows, and the constant audio rows whose weights changed in place
        filled again; otherwise `_down_dense` (which makes that cache again)."""
        steps = self._steps()
        usual = self.compiled_tick and not (publishing or self._fades or self._flatv is not None)
        p = self._program
        made = p is not None and p.steps is steps and p.epoch == p.vm.EPOCH[0] and p.rings == len(self._rings)
        if usual and made and p.levels is not None:  # (levels None: no table for these steps)
            for lv, steady in p.levels:
                if lv.steady is not steady:  # (made again after a tick that glided)
                    made = False
                    break
                if not lv.filled:  # constants to fill again (a glide's end): this tick in Python
                    break
                if lv.stale:  # constants written in place (a fader, a network's weight): filled now, as
                    # `one` is all they read (the rows are the level's own: no kernel reads them before)
                    lv.refill(self._X["audio"][lv.rows["audio"]], self._Y["number"])
            else:
                return self._run_program(p)
        X, Y, rate, t = self._X, self._Y, self.rate, self.t
        Xn, Xa, Yn0, Ya0 = X["number"], X["audio"], Y["number"], Y["audio"]
        for lv, calls, singles in steps:
            c = lv.steady
            if c is not None and lv.filled and not self._fades and c[0] is Xn and c[1] is Xa \
                    and c[2] is Yn0 and c[3] is Ya0:
                _, _, Yn, Ya, mn, xn, xa, dyn = c
                if xn is not None:
                    if mn is not None:
                        matvec_into(mn, Yn, xn)
                    else:
                        xn[...] = 0.0
                if xa is not None:
                    runs, (np_, ni, nd), (ap, ai, ad) = dyn
                    dyn_kernel(runs, np_, ni, nd, Yn, ap, ai, ad, Ya, xa)
                if lv.stale:
                    lv.refill(Xa[lv.rows["audio"]], Yn)
            else:
                self._down_dense(lv)
            if self._rings or lv.irows or lv.vrows:
                self._down_rest(lv)
            prog = self._flatv  # (after the down movement: where it could not run it ended)
            if prog is not None and lv is prog.level:
                singles = prog.singles  # the cluster's identities fired with its array (in _down)
                Yv, cache = self._Yv, self._vflat
                for u, i in prog.readers:  # the outputs other rows read, as dicts
                    Yv[u] = prog.value(i, cache)
            for call in calls:
                self._fire_group(call, t, rate)
            if singles:
                self._fire_singles(singles)
            if publishing:
                self._publish(lv)
        if usual and not made:
            if self._steps_seen is steps:  # (a plan that lasts: not one a network compiles every tick)
                self._program = self._make_program(steps)
            self._steps_seen = steps

    def _fire_group(self, call, t, rate) -> None:
        """A group's call (one of `_steps`'): its kernel, its outputs into its rows."""
        g, fn, ns, ins, views, arrays, outs, default, one = call
        if g.every > 1:  # a slow group: on its ticks only, its outputs held between
            if t % g.every:
                return
            for n in g.names:
                self._fired[n] = t
        try:
            out = fn(ns, rate, **ins)
        except Exception as e:
            self.report(g.key, f"{g.type.name} group failed: {type(e).__name__}: {e}")
            out = None
        if views:
            d = ns.__dict__
            for k, v in views.items():  # a function may rebind rather than write in place
                if d[k] is not v:
                    arrays[k][g.state_slice] = d[k]
                    d[k] = v
        if one is not None and out is one:  # wrote into its rows and returned them
            if not _finite(one):
                self._mute_rows(g, outs[0][0], outs[0][1], outs[0][2])
        else:
            self._group_out(g, out, outs, default)

    def _make_program(self, steps):
        """The usual tick's `steps` as a compiled table (neurons/tickvm.py: each level's steady
        down movement and the groups of the types it knows) and the Python between its
        runs (the other groups, the singles, a level's V-value and image rows), in the
        order `_run_steps` takes them; None where a level is not steady yet (the tick after
        a compile) or no table can be made. Made at the end of a usual tick."""
        vm = TICK_VM.get("vm")
        if vm is None:
            return None
        X, Y = self._X, self._Y
        table, items, calls_at, levels, sinks = vm.Table(), [], {}, [], []
        rings = len(self._rings)  # (frame neurons' audio rings: added as they first fire, never outside a
        #                          compile otherwise, so their count tells when the program is old)
        none = SimpleNamespace(vm=vm, epoch=vm.EPOCH[0], steps=steps, levels=None, rings=rings)  # (not for these)
        ring_rows = {self._plan.in_index["audio"].get(key) for key in self._rings}
        seg = 0

        def python(item):
            nonlocal seg
            if len(table.ints) > seg:
                items.append((0, seg, len(table.ints)))
            seg = len(table.ints)
            items.append(item)
        for lv, calls, singles in steps:
            c = lv.steady
            if c is None or not lv.filled or c[0] is not X["number"] or c[1] is not X["audio"] \
                    or c[2] is not Y["number"] or c[3] is not Y["audio"]:
                return None  # (not steady yet: the next tick)
            if not vm.down(table, c):
                return none
            if lv.rows["audio"].stop > lv.rows["audio"].start or lv.rows["number"].stop > lv.rows["number"].start:
                levels.append((lv, c))  # (what can need filling again: see _run_steps)
            if not calls and not lv.irows and len(lv.vrows) == 1 and lv.vrows[0][0] == SELF_DELTA \
                    and all(src == EDITS for src, _ in lv.vrows[0][1]) and [x.name for x in singles] == ["self"]:
                # Self's level where only the edits reach it: its usual tick is nothing to add
                python((4, (lv, [(src, w, NOTHING) for src, w in lv.vrows[0][1]]),
                        self._program_singles(singles, table, sinks)))
                continue
            ra = lv.rows["audio"]
            if lv.irows or lv.vrows or any(r is not None and ra.start <= r < ra.stop for r in ring_rows):
                python((3, lv, None))
            for call in calls:
                g, outs = call[0], call[6]
                i = None
                if all(kind in DENSE for _, kind, _, _ in outs):
                    i = vm.group(table, g, call[3], call[4], {port: rows for port, _, _, rows in outs}, self.rate,
                                 self.block, self.grid.arr, self.audio_in)
                if i is None:
                    python((1, call, None))
                else:
                    calls_at[i] = call
            if singles:
                python((2, self._program_singles(singles, table, sinks), None))
        python(None)
        ints, floats = table.arrays()
        return SimpleNamespace(vm=vm, epoch=vm.EPOCH[0], steps=steps, levels=levels, items=items[:-1],
                               ints=ints, floats=floats, keep=table.keep, calls_at=calls_at, sinks=sinks,
                               rings=rings)

    def _run_program(self, p) -> None:
        """A usual tick through its program (`_make_program`)."""
        run, ints, floats, t, rate = p.vm.run, p.ints, p.floats, self.t, self.rate
        for k in p.sinks:
            k.ready(ints)
        for kind, a, b in p.items:
            if kind == 0:
                o = run(ints, floats, a, b)
                while o < b:  # an operation's output went non-finite: muted, then the rest
                    g, outs, default = p.calls_at[o][0], p.calls_at[o][6], p.calls_at[o][7]
                    self._group_out(g, {port: rows for port, _, _, rows in outs}, outs, default)
                    o = run(ints, floats, o + 1, b)
            elif kind == 1:
                self._fire_group(a, t, rate)
            elif kind == 2:
                self._fire_program_singles(a)
            elif kind == 3:
                self._down_rest(a)
            elif self._Yv.get(EDITS) is NOTHING and not (self._inflight or self._self_read or self._net_backlog):
                self._self_parts, self._self_seen = None, a[1]  # (what _down_rest and _fire_self come to
                self._Yv[("self", "matrix")] = self._W          # with nothing reaching Self)
            else:
                self._down_rest(a[0])
                self._fire_program_singles(b)

    def _fire_program_singles(self, singles) -> None:
        """A level's singles as `_program_singles` made them."""
        for code, s, sink in singles:
            if code == 0:
                self._fire_self()
            elif code == 1:
                self._fire_edits()
            elif code == 5:
                sink.done(self._single_state(s))
            elif code == 3 or self.frame_tick:
                self._fire_singles(s)  # (a run of them: `_program_singles`)

    def _program_singles(self, singles, table, sinks) -> list:
        """A level's singles as the program fires them: [(code, single(s), sink)]: 0 Self, 1
        the edits, 5 the `out` sink, its block made in the table (`tickvm.Sink`, added to
        `sinks`), 3 a run of the others (`_fire_singles`, one call), 4 a run of frame
        neurons (the same, on frame ticks only); `one` not at all (it does nothing)."""
        out, Xa = [], self._X["audio"]
        for s in singles:
            d, ty = s.decl, s.decl.type
            if s.name == "one" or (ty.constant and self._kept.get(s.name) is d):
                continue
            if d.every > 1:
                out.append((3, [s], None))
            elif s.name == "self":
                out.append((0, s, None))
            elif s.name == "edits":
                out.append((1, s, None))
            elif ty.frame:
                out.append((4, [s], None))
            elif all(k == "audio" for k, _ in s.inputs.values()) \
                    and (k := TICK_VM["vm"].sink(table, s, {p: Xa[w] for p, (_, w) in s.inputs.items()})):
                sinks.append(k)
                out.append((5, s, k))
            else:
                out.append((3, [s], None))
        merged = []  # runs of singles fired alike in one call (a research network's thousand identities)
        for e in out:
            if merged and e[0] in (3, 4) and merged[-1][0] == e[0]:
                merged[-1][1].extend(e[1])
            else:
                merged.append(e)
        return merged

    def _steady(self, lv) -> None:
        """What the steady down movement (`_run_steps`) keeps of a level: the arrays it was made for, the number
        matrix, the number rows and the audio rows (None where there are none)."""
        X, Y = self._X, self._Y
        rn, ra = lv.rows["number"], lv.rows["audio"]
        mn = lv.mats.get(("number", "number"))
        if mn is not None and not (mn.dtype == X["number"].dtype == Y["number"].dtype):
            lv.steady = None
            return
        xn = X["number"][rn] if rn.stop > rn.start else None
        xa = X["audio"][ra] if ra.stop > ra.start and lv.dyn_runs else None
        dyn = dyn_args(lv, ra.stop - ra.start) if xa is not None else None
        lv.steady = (X["number"], X["audio"], Y["number"], Y["audio"], mn, xn, xa, dyn)

    def _down_dense(self, lv) -> None:
        for kind in DENSE:
            rows = lv.rows[kind]
            if rows.stop == rows.start:
                continue
            X = self._X[kind]
            m = lv.mats.get((kind, kind))
            if kind == "number":
                if m is not None and m.dtype == X.dtype == self._Y["number"].dtype:
                    matvec_into(m, self._Y["number"], X[rows])
                else:
                    X[rows] = m @ self._Y["number"] if m is not None else 0.0
            elif lv.filled and not self._fades:
                # only the rows fed by something other than `one` change between compiles
                if lv.dyn_runs:
                    dyn_fill(lv, self._Y["number"], self._Y["audio"], X[rows])
                if lv.stale:  # constants changed in place
                    lv.refill(X[rows], self._Y["number"])
            else:
                # one pass: the broadcast constants (number -> audio), then the audio
                # product accumulated in place (no temporary block matrix)
                Xr = X[rows]
                mn = lv.mats.get(("audio", "number"))
                if mn is not None:
                    Xr[...] = (mn @ self._Y["number"])[:, None]
                else:
                    Xr[...] = 0.0
                if m is not None:
                    spmm_add(m, self._Y["audio"], Xr)
                lv.filled = not self._fades
                lv.stale.clear()
            for f, mats in zip(self._fades, lv.fade_mats):
                if not mats or self.t < f.start:
                    continue
                left = self._ramp(f)  # the part of the change not yet applied
                for (dk, sk), m in mats.items():
                    if dk != kind:
                        continue
                    if kind == "number":
                        X[rows] -= float(left[-1]) * (m @ self._Y["number"])
                    elif sk == "audio":
                        X[rows] -= (m @ self._Y["audio"]) * left[None, :]
                    else:
                        X[rows] -= (m @ self._Y["number"]).astype(np.float32)[:, None] * left[None, :]
        if lv.rows["audio"].stop == lv.rows["audio"].start and not self._fades:
            lv.filled = True  # (no audio rows to fill: the level's steady path holds at once)
        if lv.filled and not self._fades and not lv.stale:
            self._steady(lv)

    def _down_rest(self, lv) -> None:
        """A level's rings, image rows and V-value rows."""
        if self._rings:  # frame neurons' audio inputs computed in this level: keep the samples
            rows = lv.rows["audio"]
            for key, ring in self._rings.items():
                row = self._plan.in_index["audio"].get(key)
                if row is not None and rows.start <= row < rows.stop:
                    ring.push(self._X["audio"][row])
        if lv.irows and self.frame_tick:
            gpu = self._gpu()
            Yi, Yn, idx = self._Yi, self._Y["number"], self._plan.out_index["number"]
            for key, terms in lv.irows:
                imgs, const = [], 0.0
                for src, w, kind in terms:
                    if kind == "image":
                        img = Yi.get(src)
                        if img is not None:
                            imgs.append((img, w))
                    else:
                        const += w * float(Yn[idx[src]])
                self._Xi[key] = gpu.combine(key, imgs, const)
        vrows = lv.vrows
        prog = self._flatv
        if prog is not None and lv is prog.level:
            if prog.run():  # the cluster's rows and outputs, as an array; the other rows below
                vrows = prog.vrows
            else:
                self._deflate()
        for key, terms in vrows:
            if key == SELF_DELTA:  # what Self adds, term by term (see _fire_self); their sum
                if self._any_slow:  # is made only when read (`input("self", "delta")`)
                    terms = self._fresh_terms(terms)
                Yv = self._Yv
                self._self_parts = self._self_seen = [(src, w, Yv.get(src)) for src, w in terms]
                continue
            self._Xv[key] = self._vsum(terms)

    def _deflate(self) -> None:
        """End the array program (core/flatv.py): every unit's V-value made a dict again."""
        prog, self._flatv = self._flatv, None
        if prog is not None:
            flatv.materialize(prog, self._Yv, self._Xv, self._vflat)
        self._flatv_retry = self.t + 1

    def _unflat(self, name, port) -> None:
        """Where (name, port) is a unit of the array program, make its dicts now."""
        prog = self._flatv
        if prog is not None and (name, port) in prog.index:
            flatv.materialize(prog, self._Yv, self._Xv, self._vflat, (name, port))

    def _fresh_terms(self, terms) -> list:
        """Self's delta terms, but those of slow neurons (`every` > 1) that did not fire for
        this reading: Self adds what reaches it every tick, so a held ΔW would be added
        again and again; it is added once, on its neuron's own clock (the tick after it
        fired in the synchronous schedule, the same tick in the ordered one)."""
        when = self.t if self.schedule == "ordered" else self.t - 1
        fired, decls = self._fired, self._decls
        out = []
        for src, w in terms:
            d = decls.get(src[0])
            if d is None or d.every == 1 or fired.get(src[0]) == when:
                out.append((src, w))
        return out

    def _sum_of(self, ys) -> dict:
        """sum_w w * y over [(y, w)]: flat where every y has one shape, else the dict walk."""
        got = vv.flat_sum(ys, self._vflat)
        if got is not None:
            return got
        acc = {}
        for y, w in ys:
            if y:
                acc = vv.add_into(acc, vv.scale(y, w) if w != 1.0 else y, pruned=True)
        return acc

    def _vsum(self, terms) -> dict:
        """The vvalue input sum_w w * output over a row's terms. Where every term's V-value
        has one shape (the same leaf paths in the same order: the usual case), the leaves
        are summed as flat lists (`vv.flat_sum`), to the bit what the dict walk gives."""
        Yv = self._Yv
        return self._sum_of([(Yv.get(src), w) for src, w in terms])

    def _fire_singles(self, singles) -> None:
        t = self.t
        for s in singles:
            name = s.name
            if s.decl.type.frame and not self.frame_tick:
                continue
            if s.decl.every > 1:
                if t % s.decl.every:
                    continue
                self._fired[name] = t
            if name == "self":
                self._fire_self()
            elif name == "edits":
                self._fire_edits()
            elif name == "one":
                pass
            elif s.decl.type.passthrough:
                self._fire_identity(s)
            elif s.decl.type.constant and self._kept.get(name) is s.decl:
                pass  # its outputs, from its arguments alone, are those of its first firing
            else:
                self._fire_single(s)
                if s.decl.type.constant:
                    self._kept[name] = s.decl

    def _fire_identity(self, s) -> None:
        """A passthrough type (`identity`: each input to the output of its name) without
        the call: what `_fire_single` does with its `dict(inputs)`, for the research
        networks' most common neuron."""
        Xv = self._Xv
        self._variadic_outputs(s.name, {port: Xv.get(where, {}) for port, (_, where) in s.inputs.items()})

    def _variadic_outputs(self, name, out: dict) -> None:
        """A variadic neuron's outputs: those of `out`, cleaned; the ports it had and not
        now are dropped."""
        Yv = self._Yv
        for port in self._vports.get(name, ()):
            if port not in out:
                Yv.pop((name, port), None)
        self._vports[name] = tuple(out)
        for port, v in out.items():
            key = (name, port)
            Yv[key] = self._clean_v(v, Yv.get(key))

    def _fire_single(self, s) -> None:
        X, Xv = self._X, self._Xv
        inputs = {}
        for port, (kind, where) in s.inputs.items():
            if kind == "vvalue":
                inputs[port] = Xv.get(where, {})
            elif kind == "image":
                inputs[port] = self._Xi.get(where)
            elif kind == "number":
                inputs[port] = float(X["number"][where])
            else:
                inputs[port] = X[kind][where]
        st = self._single_state(s)
        if s.decl.type.frame:
            self._frame_state(s, st)
        try:
            out = s.decl.type.fn(inputs, st)
        except Exception as e:  # a failing neuron is muted, reported, never fatal
            self.report(s.name, f"{s.name} ({s.decl.type.name}) failed: {type(e).__name__}: {e}")
            out = {}
        if not isinstance(out, dict):
            out = {}
        t = s.decl.type
        if t.variadic:
            self._variadic_outputs(s.name, out)
            return
        for port, (kind, where) in s.outputs.items():
            v = out.get(port)
            if kind == "vvalue":
                self._Yv[where] = self._clean_v(v if v is not None else {}, self._Yv.get(where))
            elif kind == "image":
                self._Yi[where] = v
            else:
                self._set_dense(kind, (s.name, port), 0.0 if v is None else v, row=where)

    def _single_state(self, s) -> dict:
        """The state dict of single `s`, made at its first firing."""
        st = self._state.get(s.name)
        if st is None:
            st = self._state[s.name] = self._initial_state(s.decl)
        return st

    def _group_call(self, g):
        """What a group's call is made of: its input views, its state views, the rest of its
        state namespace, and its outputs [(port, kind, rows, their view)]."""
        X, Y, arrays = self._X, self._Y, self._gstate[g.key]["arrays"]
        ins = {port: (X[kind][sl] if sl is not None else None) for port, (kind, sl) in g.inputs.items()}
        views = {k: a[g.state_slice] for k, a in arrays.items()}
        # a slow group's firing stands for `every` ticks: its block is as long (an LFO in Hz stays in Hz)
        # `into`: the output rows themselves, for a kernel that writes its result there
        # (returning that very view saves a copy)
        rows = {port: Y[kind][sl] for port, (kind, sl) in g.outputs.items()}
        into = {port: v for port, v in rows.items()  # (kernels' `output_rows` checks the shape only)
                if v.dtype == np.float32 and v.flags.c_contiguous}
        base = dict(args=g.args, block=self.block * g.every, n=len(g.names), names=g.names, into=into,
                    grid=self.grid.arr, audio_in=self.audio_in, **views)
        outs = [(port, kind, sl, rows[port]) for port, (kind, sl) in g.outputs.items()]
        return ins, views, base, outs

    def _group_out(self, g, out, outs, default) -> None:
        """A group's outputs into its rows, muted where not finite."""
        if len(outs) == 1 and out is not None and not isinstance(out, dict):
            port, kind, sl, block = outs[0]  # one output, returned alone (the usual kernel)
            if out is not block:
                block[...] = out
            if not all_finite(block):
                self._mute_rows(g, port, kind, sl)
            return
        if not isinstance(out, dict):
            out = {default: out}
        for port, kind, sl, block in outs:
            v = out.get(port)
            if v is None:
                block[...] = 0.0
                continue
            if v is not block:  # (a kernel that wrote into its rows returned them)
                block[...] = v
            if not all_finite(block):
                self._mute_rows(g, port, kind, sl)

    def _mute_rows(self, g, port, kind, sl) -> None:
        Y = self._Y[kind]
        block = Y[sl]
        bad = ~np.isfinite(block.reshape(len(g.names), -1)).all(axis=1)
        gs = self._gstate[g.key]
        fresh = self._group_init(g.type, g.args, [n for n, b in zip(g.names, bad) if b])
        for k, a in gs["arrays"].items():
            view = a[g.state_slice]
            view[bad] = fresh[k]
        block[bad] = 0.0
        for i in np.flatnonzero(bad):
            n = g.names[i]
            self.report(n, f"{n} ({g.type.name}) output {port} went non-finite: muted and reset")

    def report(self, key, msg) -> None:
        """Tell `msg` once per `key` (in `reports`, and to `on_report`): a neuron muted, an
        entry ignored, a log that cannot be written."""
        if key in self._reported:
            return
        self._reported.add(key)
        self.reports.append(msg)
        if self.on_report:
            self.on_report(msg)

    # ---- compiling W ------------------------------------------------------------------
    def _restructure(self, rows=(), names=(), active=False, fresh=False) -> None:
        """Note a change of W's structure (input rows that gained or lost entries), of the
        declarations (`names`) or of the active set (`active`: glides ended, neurons to
        retire if idle): the next tick compiles the plan again by what changed. `fresh`:
        compile it from scratch."""
        self._dirty = True
        self._changed_rows.update(rows)
        # whose entries changed in each row: what `rows` says ({row: sources}), else any
        self._note_rows(rows if isinstance(rows, dict) else dict.fromkeys(rows))
        self._changed_names.update(names)
        self._active_changed |= active
        self._fresh |= fresh

    def _note_rows(self, rows) -> None:
        """Note whose entries changed in each row: {row: the source neurons (None: any)},
        so that the next compile reads just those (a long mixer row is not read whole)."""
        have = self._row_srcs
        for key, srcs in rows.items():
            if key in have:
                old = have[key]
                have[key] = None if old is None or srcs is None else old | set(srcs)
            else:
                have[key] = None if srcs is None else set(srcs)

    def _compile(self) -> None:
        """Compile W into the plan: by what changed since the last plan, or from scratch the
        first time, when asked (`_fresh`), or when a change was not noted (`_dirty` alone)."""
        self.compiles += 1
        if self._flatv is not None:  # it runs the old plan's rows
            self._deflate()
        old = self._plan
        pinned = self._pinned  # (the built-ins and sinks: declared once, at the start)
        if pinned is None or not pinned.isdisjoint(self._changed_names):
            pinned = self._pinned = {n for n, d in self._decls.items() if d.type.pinned}
        fades = [f.delta for f in self._fades]
        sync = self.schedule == "synchronous"
        rows, names = self._changed_rows | self._value_rows, self._changed_names
        fresh = (self._ent is None or old is None or self._fresh
                 or not (self._changed_rows or names or self._active_changed))
        srcs = self._row_srcs
        self._changed_rows, self._changed_names, self._value_rows = set(), set(), set()
        self._row_srcs = {}
        self._born = set()
        self._fresh = self._active_changed = False
        if fresh:
            self._ent, plan = compile_plan(self._W, self._decls, pinned, sync, fades)
        else:
            ent = self._ent
            done = {}
            for key in rows:
                done[key] = srcs.get(key)
                ent.update(self._W, self._decls, key, done[key])
            changed = set(rows) | ent.update_names(self._W, self._decls, names, done)
            plan = build(ent, self._decls, pinned, sync, fades, prev=old, changed=changed, names=names)
        # Retire neurons that were active and are touched by no weight now, and idle ones
        # an edit asked to retire.
        out_map = None if fresh else plan.out_map  # old output row -> new (-1: gone)
        gone = slept = set()  # neurons retired by this compile, those of them gone dormant
        if old is not None:
            idle = [n for n in self._idle if n in self._decls and n not in plan.level_of]
            if plan.left is not None:  # the active set's change is known: no walk over it
                gone = (set(plan.left) | set(idle)) - pinned
            else:
                gone = (set(old.active) | set(idle)) - set(plan.active) - pinned
            asked, self._idle = self._idle, set()
            if gone:
                # asked to retire (a patch dropped it, a crossfade's old neuron): forgotten;
                # gone quiet (its links removed, by an edit or by the network): dormant,
                # still declared with its state freed, so a link written to it revives it
                slept = {n for n in gone if n not in asked}
                self._forget(gone - slept)
                self._sleep(slept)
                changed = self._ent.update_names(self._W, self._decls, gone)
                plan = build(self._ent, self._decls, pinned, sync, fades, prev=plan, changed=changed, names=gone)
                if out_map is not None:  # old -> first plan -> this one
                    for k, r in out_map.items():
                        r = r.copy()
                        ok = r >= 0
                        r[ok] = plan.out_map[k][r[ok]]
                        out_map[k] = r
        # Carry dense outputs of kept neurons into the new row order.
        for kind in DENSE:
            if old is not None and plan.out_index[kind] is old.out_index[kind] and plan.n_in is old.n_in:
                continue  # the same rows
            shape = (len(plan.out_index[kind]),) + ((self.block,) if kind == "audio" else ())
            Y = np.zeros(shape, np.float32 if kind == "audio" else np.float64)
            if out_map is not None:
                carry_rows(Y, self._Y[kind], out_map[kind])
            elif old is not None:
                carry_rows(Y, self._Y[kind], plan.out_index[kind].map_from(old.out_index[kind]))
            self._Y[kind] = Y
            xshape = (plan.n_in[kind],) + ((self.block,) if kind == "audio" else ())
            self._X[kind] = np.zeros(xshape, Y.dtype)
        if slept:  # a dormant neuron's outputs: 0 until it is revived
            for n in slept:
                d = self._decls.get(n)
                for port, kind in (d.type.outputs.items() if d is not None and not d.type.variadic else ()):
                    row = plan.out_index[kind].get((n, port)) if kind in DENSE else None
                    if row is not None:
                        self._Y[kind][row] = 0.0
        # Group state: keep the rows of kept neurons, initialise new ones.
        new_gstate = {}
        for key, members in plan.state_layout.items():
            prev = self._gstate.get(key)
            if prev and prev["names"] == members:
                new_gstate[key] = prev
                continue
            t, args = self._decls[members[0]].type, self._decls[members[0]].args
            arrays = self._group_init(t, args, members)
            if prev:
                # each kept neuron's old row, found at C speed (a group of thousands)
                where = dict(zip(prev["names"], range(len(prev["names"]))))
                oi = np.fromiter(map(where.get, members, repeat(-1)), np.int64, len(members))
                ni = np.flatnonzero(oi >= 0)
                if len(ni):
                    oi = oi[ni]
                    for k in arrays:
                        arrays[k][ni] = prev["arrays"][k][oi]
            new_gstate[key] = {"names": list(members), "arrays": arrays}
        self._gstate = new_gstate
        for msg in plan.ignored:
            if self._net_backlog and (msg[0][0] in self._net_backlog or msg[0][2] in self._net_backlog):
                continue  # a link to a neuron the network declared, installed in a tick or two
            self.report(("ignored",) + msg[0], f"W entry {'.'.join(msg[0])} ignored: {msg[1]}")
        self._plan = plan
        self._active = set(plan.active)
        if self._dormant:
            self._dormant -= self._active  # revived by a link
        if fresh or ((names or gone) and self._any_slow):  # declarations came, changed or went
            self._any_slow = any(d.every > 1 for d in self._decls.values())
        elif names:  # a slow one among those that came or changed?
            self._any_slow = any(self._decls[n].every > 1 for n in names if n in self._decls)
        self._w_read = bool(self._ent.by_src.get("self"))  # a row names self.matrix: W is lent
        if self._w_read:  # (declarations change only here, at a compile)
            self._Yv[("self", "decls")] = declare.as_vvalue(self._live_decls())
        self._wroute = None
        self._dirty = False
        if old is not None:
            self._set_dense("number", ("one", "out"), 1.0)

    def _group_init(self, t, args, names) -> dict:
        spec = t.state or {}
        if callable(spec):
            return spec(list(names), args, self._ctx)
        n = len(names)
        out = {}
        for k, v in spec.items():
            out[k] = np.full(n, v, np.float64) if np.isscalar(v) else np.tile(np.asarray(v), (n,) + (1,) * np.ndim(v))
        return out

    def _initial_state(self, decl) -> dict:
        return initial_state(decl.type, decl.args, self.rate, self.block * decl.every, self.limiter)

    # ---- helpers ------------------------------------------------------------------------
    def _set_dense(self, kind, key, value, row=None) -> None:
        if row is None:
            row = self._plan.out_index[kind].get(key)
            if row is None:
                return
        Y = self._Y[kind]
        Y[row] = value
        if not np.isfinite(Y[row]).all():
            Y[row] = 0.0
            self.report(key[0], f"{key[0]} output {key[1]} went non-finite: muted")

    def _clean_v(self, v, last):
        """A neuron's vvalue output, pruned. V-values are immutable, so an output that is
        the object kept last tick (a constant, an unchanged state) is clean already, as is
        a sum the flat path made with every leaf finite and non-zero; one that prunes to
        itself is kept as it is, so that it is recognised next tick."""
        if v is last or self._vflat.clean(v):
            return v
        if vv.is_number(v):
            return vv.number(v)
        if not isinstance(v, dict):
            return {}
        c = vv.prune(v)
        return v if c == v else c

    def _default_port(self, name, output):
        d = self._decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, self._decls)}")
        p = d.type.default_output if output else d.type.default_input
        if p is None:
            raise UnknownPort(f"{name!r} ({d.type.name}) has no default {'output' if output else 'input'}: name the port")
        return p

    def _port_kind(self, name, port, output) -> str:
        d = self._decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, self._decls)}")
        k = d.type.output_kind(port) if output else d.type.input_kind(port)
        if k is None:
            ports = d.type.outputs if output else d.type.inputs
            raise UnknownPort(f"{name!r} ({d.type.name}) has no {'output' if output else 'input'} port "
                              f"{port!r}{did_you_mean(port, ports)}")
        return k


