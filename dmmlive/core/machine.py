"""The dataflow matrix machine: W held by Self, the two-stroke cycle, both schedules."""
from __future__ import annotations

import collections
import copy
import math
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import vv
from .errors import (BadArgument, DmmError, DuplicateName, KindMismatch, MalformedDelta,
                     UnknownNeuron, UnknownPort, did_you_mean)
from .compiler import build, compile_plan
from .plan import DENSE, Decl, Plan, entries, glide_mats
from .registry import BACKENDS, TYPES, compatible, get_type, neuron_type

SCHEDULES = ("synchronous", "ordered")
BUILTIN = ("self", "one", "edits")


# The built-in neurons: the machine computes them itself; the entries give them
# their ports, kinds and help text.
@neuron_type("self", inputs={"delta": "vvalue"}, outputs={"matrix": "vvalue"}, pinned=True)
def _self(inputs, state):
    """The network matrix W; each up movement adds what arrives on `delta` to it."""
    raise AssertionError("computed by the machine")


@neuron_type("one", outputs={"out": "number"}, pinned=True)
def _one(inputs, state):
    """The constant 1: a constant c on a port is the weight c from `one`."""
    raise AssertionError("computed by the machine")


@neuron_type("edits", outputs={"delta": "vvalue"}, pinned=True)
def _edits(inputs, state):
    """Emits the edits queued from outside (patch reloads, OSC, Machine.edit) each tick."""
    raise AssertionError("computed by the machine")


def split_port(ref: str, what: str) -> tuple[str, str | None]:
    if not isinstance(ref, str) or not ref:
        raise BadArgument(f"{what}: expected 'neuron.port', got {ref!r}")
    name, _, port = ref.partition(".")
    return name, (port or None)


class Machine:
    """A dataflow matrix machine. `tick()` runs one two-stroke cycle."""

    def __init__(self, schedule: str = "ordered", rate: int = 48000, block: int = 128,
                 fps: float = 30.0, seed: int = 0, limiter: bool = True,
                 size: tuple = (640, 360), gpu=None, images: bool = True):
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
        self.gpu = gpu            # the image backend (made on first need from BACKENDS["image"])
        self.frame = -1           # the last frame computed (frame k falls at time k / fps)
        self.frame_tick = False   # whether the last tick computed a frame
        self._fps = Fraction(self.fps).limit_denominator(1000)
        self._Yi: dict = {}       # (neuron, port) -> image outputs
        self._Xi: dict = {}       # (neuron, port) -> image inputs
        self._rings: dict = {}    # audio inputs of frame neurons -> their recent samples
        self._ctx = SimpleNamespace(rate=self.rate, block=self.block, seed=self.seed, tempo=120.0)
        self.t = 0  # up movements done
        self._decls: dict[str, Decl] = {}
        for n in BUILTIN:
            self._decls[n] = Decl.make(TYPES[n], {})
        for n, t in TYPES.items():  # the sinks (out, screen) are pinned too
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
        self._idle: set = set()        # neurons to retire at the next compile if inactive
        self._born: set = set()        # neurons declared since the last compile (not run yet)
        self._self_read = False        # Self's input is the one it added (see set_schedule)
        self._self_parts = None        # Self's input terms [(source, w, value)] this tick
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
        decl = self._check_declare({name: (type, args)}, self._decls)[name]
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
            self._Yv[(name, port)] = vv.prune(vv.number(value) if vv.is_number(value) else value)
        else:
            if self._dirty:
                self._compile()
            self._set_dense(kind, (name, port), value)

    # ---- edits through Self ----------------------------------------------------------
    def edit(self, delta: dict | None = None, declare: dict | None = None,
             fade: float = 0.0, replace: bool = False, defaults: bool = True, retire=()) -> None:
        """Queue ΔW (rank-4 V-value) and neuron declarations for the `edits` neuron.

        Synchronous schedule: queued before tick t, the edits neuron emits it at up
        movement t, Self adds it into W at up t+1, and a neuron it declares and links
        first fires at up t+2. Ordered: Self adds it at the end of tick t.
        `fade` (seconds): number and audio weights glide to their new values along a
        smoothstep (audio per sample), starting with the first tick that uses the new W.
        `replace`: a declaration may give an existing name a new type or arguments; the
        new neuron fades in while the old one fades out over `fade` and is retired.
        `defaults`: give declared neurons their default weights on ports the ΔW leaves out.
        `retire`: names to retire once this edit is in W if no weight touches them then
        (a patch that drops a neuron an earlier, still queued edit declared: it never ran).
        Raises a DmmError and queues nothing when any part is wrong.
        """
        if not vv.is_number(fade) or not fade >= 0 or not np.isfinite(fade):
            raise BadArgument(f"fade must be a finite number of seconds >= 0, got {fade!r}")
        if isinstance(retire, str) or not all(isinstance(n, str) for n in retire):
            raise BadArgument(f"retire must be a list of neuron names, got {retire!r}")
        delta, decls = self._checked(delta, declare, True, replace, defaults)
        self._queue.append(_Edit(delta, decls, float(fade), tuple(retire)))
        self._pending_decls.update(decls)

    def compile(self, fresh: bool = True) -> None:
        """Compile the plan now (a tick compiles it anyway after W has changed), from
        scratch, or (`fresh=False`) by what changed since the last compile, if nothing
        then only the part every such compile does: to time it."""
        if fresh:
            self._restructure(fresh=True)
        elif not self._dirty:
            self._restructure(active=True)
        self._compile()

    @property
    def gliding(self) -> bool:
        """Whether weights are gliding (an edit's fade): W changes again when each glide ends."""
        return bool(self._fades)

    def pending_decls(self) -> dict:
        """{name: declaration} as it will be once every queued edit is in (less the neurons
        an edit retires unless a weight keeps them: a text that follows declares them anew)."""
        hidden = self._idle.union(*(e.retire for e in self._queue), *(e.retire for e in self._inflight))
        if hidden:
            return {**{n: d for n, d in self._decls.items() if n not in hidden}, **self._pending_decls}
        return {**self._decls, **self._pending_decls}

    def pending_matrix(self) -> dict:
        """W as it will be once every queued edit is in (what a new edit builds on): their
        ΔW added one at a time, in order, as Self will add them."""
        W = self._W
        for e in self._inflight + self._queue:
            if e.delta:
                W = vv.add_into(W, e.delta)
        return W

    def apply(self, delta: dict | None = None, declare: dict | None = None, defaults: bool = True) -> None:
        """Declare and add ΔW into W now, not through `edits` (setting a machine up).
        Checked like `edit`; a declaration may not change an existing neuron."""
        delta, decls = self._checked(delta, declare, False, False, defaults)
        if decls:
            self._install(decls)
            self._restructure(names=decls)
        if delta:
            self._add_to_w(delta)

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
        return self._ctx.tempo

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        self._ctx.tempo = float(bpm)

    def _checked(self, delta, declare, queued, replace, defaults):
        """The edit, checked against the network as queued edits leave it (`queued`) or as
        it is now."""
        delta = {} if delta is None else delta
        view = self.pending_decls() if queued else self._decls
        decls = self._check_declare(declare or {}, view, replace=replace)
        self._check_delta(delta, {**view, **decls}, self.pending_matrix if queued else (lambda: self._W))
        delta = vv.prune(delta)
        if defaults:
            rows = {(dst, inp) for dst, inp, *_ in entries(delta)}
            for name, d in decls.items():
                extra = self._defaults(name, d, rows)
                if extra:
                    delta = vv.add(delta, extra)
        return delta, decls

    # ---- reading -----------------------------------------------------------------------
    @property
    def matrix(self) -> dict:
        """W as a V-value (a copy)."""
        return copy.deepcopy(self._W)

    @property
    def neurons(self) -> dict:
        """{name: type name} of every declared neuron."""
        return {n: d.type.name for n, d in self._decls.items()}

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
        if kind == "vvalue":
            return copy.deepcopy(self._Xv.get((name, port), {}))
        row = self._plan.in_index[kind].get((name, port)) if self._plan else None
        if row is None:
            return 0.0 if kind == "number" else np.zeros(self.block, np.float32)
        v = self._X[kind][row]
        return float(v) if kind == "number" else v.copy()

    def _state_of(self, name: str) -> dict:
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
                self.t += 1
                k = self._frame_at(self.t)
                self.frame_tick = self.images and k > self._frame_at(self.t - 1)
                if self.frame_tick:
                    self.frame = k
                for lv in self._plan.levels:
                    self._down(lv)
                    self._up(lv)
                if self._fades:
                    self._advance_fades()

    def _frame_at(self, t: int) -> int:
        """The last frame whose time falls before the end of tick t (-1 before the first)."""
        f = self._fps
        num = t * self.block * f.numerator          # frame k falls in tick t when
        den = self.rate * f.denominator             # (t-1)·B/rate <= k/fps < t·B/rate
        return -(-num // den) - 1

    def image(self):
        """The image reaching `screen` at the last frame (a backend Image), or None."""
        st = self._state.get("screen")
        return st.get("image") if st else None

    def _gpu(self):
        if self.gpu is None:
            factory = BACKENDS.get("image")
            if factory is None:
                raise RuntimeError("image neurons need the image backend: import dmmlive.gfx")
            self.gpu = factory(self)
        return self.gpu

    def _down(self, lv) -> None:
        for kind in DENSE:
            rows = lv.rows[kind]
            if rows.stop == rows.start:
                continue
            X = self._X[kind]
            m = lv.mats.get((kind, kind))
            if kind == "number":
                X[rows] = m @ self._Y["number"] if m is not None else 0.0
            elif lv.filled and not self._fades:
                # only the rows fed by something other than `one` change between compiles
                Yn, Ya = self._Y["number"], self._Y["audio"]
                maa, man = m, lv.mats.get(("audio", "number"))
                for a, b in lv.dyn_runs:
                    Xr = X[rows.start + a: rows.start + b]
                    if man is not None:
                        Xr[...] = _rows_matvec(man, a, b, Yn)[:, None]
                    else:
                        Xr[...] = 0.0
                    if maa is not None:
                        _spmm_add(maa, Ya, Xr, a, b)
                if lv.stale:  # constants changed in place
                    lv.refill(X[rows], Yn)
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
                    _spmm_add(m, self._Y["audio"], Xr)
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
        for key, terms in lv.vrows:
            self._Xv[key] = self._vsum(terms)
            if key == ("self", "delta"):  # what Self adds, term by term (see _fire_self)
                self._self_parts = [(src, w, self._Yv.get(src)) for src, w in terms]

    def _vsum(self, terms) -> dict:
        """The vvalue input sum_w w * output over a row's terms."""
        Yv, acc = self._Yv, {}
        for src, w in terms:
            y = Yv.get(src)
            if y:
                acc = vv.add_into(acc, vv.scale(y, w) if w != 1.0 else y, pruned=True)
        return acc

    def _up(self, lv) -> None:
        for g in lv.groups:
            self._fire_group(g)
        for s in lv.singles:
            name = s.name
            if s.decl.type.frame and not self.frame_tick:
                continue
            if name == "self":
                self._fire_self()
            elif name == "edits":
                self._fire_edits()
            elif name == "one":
                pass
            else:
                self._fire_single(s)

    def _fire_self(self) -> None:
        # the edits whose ΔW arrives: emitted last tick (synchronous) or this tick (ordered)
        due = [e for e in self._inflight if e.t < self.t or self.schedule == "ordered"]
        parts, self._self_parts = self._self_parts, None
        if self._self_read:  # the first synchronous tick after ordered ones: Self added
            self._self_read = False  # what it reads now at the end of the last
            self._take([], due)
            return
        # W += sum_w w * input, a term at a time, and the edits' one ΔW at a time: the same
        # additions whether the edits come in one tick or one tick apart (exactly, in floats)
        deltas = []
        for src, w, y in parts or ():
            if src == ("edits", "delta") and w == 1.0:
                deltas.extend(e.delta for e in due if e.delta)
            elif y:
                deltas.append(vv.scale(y, w) if w != 1.0 else y)
        self._take(deltas, due)

    def _take(self, deltas, due) -> None:
        """Self's up movement: W += each ΔW, and the `due` edits' declarations and glides."""
        w_prev = self._W
        for delta in deltas:
            self._add_to_w(delta)
        if due:
            self._inflight = self._inflight[len(due):]  # emitted in order: the due ones lead
            for e in due:
                if e.decls:  # neurons come or change: compiled at the next tick
                    self._restructure(names=e.decls)
                self._absorb(e, w_prev)
                for n, d in e.decls.items():
                    if self._pending_decls.get(n) is d:
                        del self._pending_decls[n]
        self._Yv[("self", "matrix")] = self._W

    def _add_to_w(self, delta) -> None:
        """W += ΔW. Where ΔW only changes the values of entries W has (none appears or
        vanishes), the running plan takes the new values in place; otherwise it is compiled
        again before the next tick."""
        w_prev = self._W
        self._W = vv.add_into(w_prev, delta)
        rows = _rows_of(delta)
        if rows is None:  # ΔW writes above the rows: read W afresh
            self._restructure(fresh=True)
            return
        if not self._dirty:
            changes = _value_changes(w_prev, self._W, delta)
            if changes is not None and self._plan.set_weights(self._decls, changes):
                self._value_rows.update(rows)  # the entries read them again at the next compile
                return
        self._restructure(rows=rows)

    def _absorb(self, e, w_prev) -> None:
        """Install an edit's declarations (crossfading replaced neurons) and its glide."""
        if e.retire:
            self._idle.update(e.retire)
            self._restructure(active=True)
        self._idle.difference_update(e.decls)  # declared again since
        glide = e.delta
        for name, d in e.decls.items():
            old = self._decls.get(name)
            if old is not None and old.key != d.key:
                glide = self._crossfade(name, d, w_prev, glide, e.fade)
            else:
                self._decls[name] = d
            self._born.add(name)  # has not run yet
        if e.fade > 0 and glide:
            start = self.t + 1  # the first tick that computes with the new W
            length = max(1, round(e.fade * self.rate))
            last = self._fades[-1] if self._fades else None
            if last is not None and last.start == start and last.length == length:
                last.delta = vv.add_into(last.delta, glide)  # glides that start together run as one
            else:
                last = _Fade(glide, start, length, {})
                self._fades.append(last)
            idle = [n for d, _, s_, _, _ in entries(glide) for n in (d, s_) if n not in self._active]
            if idle:  # a glide keeps its neurons active: they join the plan
                self._restructure(active=True)
            if not self._dirty:  # the plan runs on: give it this glide's matrices
                mats = glide_mats(self._plan, self._decls, last.delta)
                for lv, m in zip(self._plan.levels, mats):
                    if len(lv.fade_mats) == len(self._fades):
                        lv.fade_mats[-1] = m
                    else:
                        lv.fade_mats.append(m)

    def _crossfade(self, name, decl, w_prev, glide, fade):
        """Rename the running `name` to `name~k` (state and outputs go with it), give `name`
        the new declaration, and glide name~k's outgoing weights to 0 while name's come in."""
        if fade <= 0 or name not in self._active or name in self._born:  # no fade, or the old one never ran:
            # the new neuron replaces it at once
            self._forget({name})
            self._decls[name] = decl
            self._restructure(names=(name,))
            return glide
        self._xfade += 1
        old = f"{name}~{self._xfade}"
        self._restructure(names=(name, old))
        self._idle.add(old)  # retired at once if no weight or glide keeps it
        for f in self._fades:  # glides under way are the old neuron's
            f.delta = _renamed(f.delta, name, old)
        self._decls[old] = self._decls.pop(name)
        self._decls[name] = decl
        if name in self._state:
            self._state[old] = self._state.pop(name)
        for gs in self._gstate.values():
            gs["names"] = [old if n == name else n for n in gs["names"]]
        for table in list(self._plan.out_index.values()):
            for key in [k for k in table if k[0] == name]:
                table[(old, key[1])] = table.pop(key)
        for store in (self._Yv, self._Xv, self._Yi, self._Xi, self._rings):
            for key in [k for k in store if k[0] == name]:
                store[(old, key[1])] = store.pop(key)
        inputs = vv.path(w_prev, name)          # the old neuron keeps its inputs while it fades
        outgoing_prev = [(d, i, o, w) for d, i, s, o, w in entries(w_prev) if s == name]
        outgoing_new = [(d, i, o, w) for d, i, s, o, w in entries(self._W) if s == name]
        self._W = vv.add_into(self._W, {old: inputs} if inputs else {})
        # the glide: every other change of the edit, plus name~k fading out and name in
        g = {}
        for d, i, s, o, w in entries(glide):
            if s != name and d != name:
                g = vv.add_into(g, {d: {i: {s: {o: w}}}})
        for d, i, o, w in outgoing_prev:
            g = vv.add_into(g, {d: {i: {old: {o: -w}}}})
        for d, i, o, w in outgoing_new:
            g = vv.add_into(g, {d: {i: {name: {o: w}}}})
        self._cleanup_after_fade[old] = inputs
        return g

    def _forget(self, names) -> None:
        for n in names:
            self._decls.pop(n, None)
            self._state.pop(n, None)
            self._reported.discard(n)
            if self.gpu is not None:
                self.gpu.release(n)
        for store in (self._Yv, self._Xv, self._Yi, self._Xi, self._rings):
            for key in [k for k in store if k[0] in names]:
                del store[key]

    def _fire_edits(self) -> None:
        queue, self._queue = self._queue, []
        out = {}
        for e in queue:
            e.t = self.t
            out = vv.add_into(out, e.delta)
        self._inflight.extend(queue)
        self._Yv[("edits", "delta")] = out

    def _advance_fades(self) -> None:
        """After a tick: finish the glides that reached their end.

        Usually without a recompile: a glide whose every weight is still in W (a weight
        changed, not removed) and that retires no crossfaded neuron leaves the active set
        as it is, so the plan compiled now would be the one running less that glide's
        matrices, which are dropped. Otherwise (a weight went to 0, a neuron retires) the
        plan is compiled again."""
        done = [j for j, f in enumerate(self._fades) if (self.t - f.start + 1) * self.block >= f.length]
        if not done:
            return
        finished = [self._fades[j] for j in done]
        self._fades = [f for j, f in enumerate(self._fades) if j not in done]
        keep_plan = not self._dirty and self._plan is not None
        for f in finished:
            for d, i, s, o, w in entries(f.delta):
                if s in self._cleanup_after_fade:
                    keep_plan = False
                    inputs = self._cleanup_after_fade.pop(s)
                    if inputs:
                        self._W = vv.add_into(self._W, {s: vv.scale(inputs, -1.0)})
                        self._restructure(rows=[(s, i) for i in inputs])
                elif keep_plan and not vv.path(self._W, d, i, s, o):
                    keep_plan = False
        if keep_plan:
            for lv in self._plan.levels:
                if len(lv.fade_mats) == len(done) + len(self._fades):
                    lv.fade_mats = [mats for j, mats in enumerate(lv.fade_mats) if j not in done]
                else:  # not aligned with the glides (cannot happen): compile to be sure
                    keep_plan = False
        if not keep_plan:
            self._restructure(active=True)

    def _ramp(self, f) -> np.ndarray:
        """1 - s(r) over this tick's samples: r the glide's progress (0 -> 1), s the
        smoothstep 3r² - 2r³. Its slope is continuous at both ends, so a glide adds no
        kink to the sound: a linear glide's corners put energy above 12 kHz ~25 dB over a
        steady sine's at a 50 ms fade (tests/test_click_free.py)."""
        j = (self.t - f.start) * self.block + np.arange(1, self.block + 1)
        r = np.clip(j / f.length, 0.0, 1.0)
        return (1.0 - r * r * (3.0 - 2.0 * r)).astype(np.float32)

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
        st = self._state.get(s.name)
        if st is None:
            st = self._state[s.name] = self._initial_state(s.decl)
        if s.decl.type.frame:
            self._frame_state(s, st)
        try:
            out = s.decl.type.fn(inputs, st)
        except Exception as e:  # a failing neuron is muted, reported, never fatal
            self._report(s.name, f"{s.name} ({s.decl.type.name}) failed: {type(e).__name__}: {e}")
            out = {}
        if not isinstance(out, dict):
            out = {}
        t = s.decl.type
        if t.variadic:
            for key in [k for k in self._Yv if k[0] == s.name and k[1] not in out]:
                del self._Yv[key]
            for port, v in out.items():
                self._Yv[(s.name, port)] = self._clean_v(s.name, port, v)
            return
        for port, (kind, where) in s.outputs.items():
            v = out.get(port)
            if kind == "vvalue":
                self._Yv[where] = self._clean_v(s.name, port, v if v is not None else {})
            elif kind == "image":
                self._Yi[where] = v
            else:
                self._set_dense(kind, (s.name, port), 0.0 if v is None else v, row=where)

    def _frame_state(self, s, st) -> None:
        """What a frame neuron reads besides its inputs: the backend, the clock, its audio."""
        if s.name != "screen":
            st["gpu"] = self._gpu()
        st["time"] = self.frame / float(self._fps)
        st["frame"] = self.frame
        audio = [p for p, (k, _) in s.inputs.items() if k == "audio"]
        if audio and "audio" not in st:
            for p in audio:
                self._rings.setdefault((s.name, p), _Ring(max(16384, int(st.get("history", 0)))))
            st["audio"] = lambda port, n, _name=s.name: self._rings[(_name, port)].last(n)

    def _fire_group(self, g) -> None:
        X = self._X
        ins = {port: (X[kind][sl] if sl is not None else None) for port, (kind, sl) in g.inputs.items()}
        gs = self._gstate[g.key]
        views = {k: a[g.state_slice] for k, a in gs["arrays"].items()}
        state = SimpleNamespace(args=g.args, block=self.block, n=len(g.names), names=g.names, **views)
        try:
            out = g.type.fn(state, self.rate, **ins)
        except Exception as e:
            self._report(g.key, f"{g.type.name} group failed: {type(e).__name__}: {e}")
            out = None
        for k, a in gs["arrays"].items():  # a function may rebind rather than write in place
            v = getattr(state, k)
            if v is not views[k]:
                a[g.state_slice] = v
        if not isinstance(out, dict):
            out = {g.type.default_output: out}
        for port, (kind, sl) in g.outputs.items():
            Y = self._Y[kind]
            v = out.get(port)
            if v is None:
                Y[sl] = 0.0
                continue
            Y[sl] = v
            block = Y[sl]
            # a sum is cheaper than a finite-mask: it is finite when every sample is
            # (a finite overflow to inf just takes the exact test)
            if not np.isfinite(np.add.reduce(block, axis=None)) and not np.isfinite(block).all():
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
            self._report(n, f"{n} ({g.type.name}) output {port} went non-finite: muted and reset")

    def _report(self, key, msg) -> None:
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
        self._changed_names.update(names)
        self._active_changed |= active
        self._fresh |= fresh

    def _compile(self) -> None:
        """Compile W into the plan: by what changed since the last plan, or from scratch the
        first time, when asked (`_fresh`), or when a change was not noted (`_dirty` alone)."""
        self.compiles += 1
        old = self._plan
        pinned = {n for n, d in self._decls.items() if d.type.pinned}
        fades = [f.delta for f in self._fades]
        sync = self.schedule == "synchronous"
        rows, names = self._changed_rows | self._value_rows, self._changed_names
        fresh = (self._ent is None or old is None or self._fresh
                 or not (self._changed_rows or names or self._active_changed))
        self._changed_rows, self._changed_names, self._value_rows = set(), set(), set()
        self._born = set()
        self._fresh = self._active_changed = False
        if fresh:
            self._ent, plan = compile_plan(self._W, self._decls, pinned, sync, fades)
        else:
            ent = self._ent
            for key in rows:
                ent.update(self._W, self._decls, key)
            changed = set(rows) | ent.update_names(self._W, self._decls, names)
            plan = build(ent, self._decls, pinned, sync, fades, prev=old, changed=changed, names=names)
        # Retire neurons that were active and are touched by no weight now, and idle ones
        # an edit asked to retire.
        if old is not None:
            gone = (set(old.active) | {n for n in self._idle if n in self._decls}) - set(plan.active) - pinned
            self._idle = set()
            if gone:
                self._forget(gone)
                changed = self._ent.update_names(self._W, self._decls, gone)
                plan = build(self._ent, self._decls, pinned, sync, fades, prev=plan, changed=changed, names=gone)
        # Carry dense outputs of kept neurons into the new row order.
        for kind in DENSE:
            if old is not None and plan.out_index[kind] is old.out_index[kind] and plan.n_in is old.n_in:
                continue  # the same rows
            shape = (len(plan.out_index[kind]),) + ((self.block,) if kind == "audio" else ())
            Y = np.zeros(shape, np.float32 if kind == "audio" else np.float64)
            if old is not None:
                src, dst = [], []
                for key, r in plan.out_index[kind].items():
                    o = old.out_index[kind].get(key)
                    if o is not None:
                        src.append(o)
                        dst.append(r)
                if src:
                    Y[dst] = self._Y[kind][src]
            self._Y[kind] = Y
            xshape = (plan.n_in[kind],) + ((self.block,) if kind == "audio" else ())
            self._X[kind] = np.zeros(xshape, Y.dtype)
        # Group state: keep the rows of kept neurons, initialise new ones.
        new_gstate = {}
        for key, names in plan.state_layout.items():
            prev = self._gstate.get(key)
            if prev and prev["names"] == names:
                new_gstate[key] = prev
                continue
            t, args = self._decls[names[0]].type, self._decls[names[0]].args
            arrays = self._group_init(t, args, names)
            if prev:
                where = {n: i for i, n in enumerate(prev["names"])}
                keep = [(i, where[n]) for i, n in enumerate(names) if n in where]
                if keep:
                    ni, oi = map(list, zip(*keep))
                    for k in arrays:
                        arrays[k][ni] = prev["arrays"][k][oi]
            new_gstate[key] = {"names": list(names), "arrays": arrays}
        self._gstate = new_gstate
        for msg in plan.ignored:
            self._report(("ignored",) + msg[0], f"W entry {'.'.join(msg[0])} ignored: {msg[1]}")
        self._plan = plan
        self._active = set(plan.active)
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
        spec = decl.type.state
        st = copy.deepcopy(spec(decl.args) if callable(spec) else dict(spec or {}))
        st.setdefault("args", decl.args)
        if "rate" in st:
            st["rate"] = self.rate
        if "limiter" in st:
            st["limiter"] = self.limiter
        st.setdefault("ticks_per_second", self.rate / self.block)
        return st

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
            self._report(key[0], f"{key[0]} output {key[1]} went non-finite: muted")

    def _clean_v(self, name, port, v):
        if vv.is_number(v):
            return vv.number(v)
        return vv.prune(v) if isinstance(v, dict) else {}

    def _install(self, decls: dict) -> None:
        for name, d in decls.items():
            self._decls[name] = d

    def _defaults(self, name, decl, given_rows) -> dict:
        out = {}
        if decl.type.variadic:
            return out
        for port, p in decl.type.inputs.items():
            if p.default and (name, port) not in given_rows:
                out.setdefault(name, {})[port] = {"one": {"out": p.default}}
        return out

    def _check_declare(self, declare: dict, view: dict, replace: bool = False) -> dict:
        """Checked declarations against `view`, {name: Decl} of the network they join."""
        if not isinstance(declare, dict):
            raise BadArgument(f"declare must be a dict name -> type, got {type(declare).__name__}")
        out = {}
        for name, spec in declare.items():
            if not isinstance(name, str) or not name or any(c in name for c in ". \t\n"):
                raise BadArgument(f"bad neuron name {name!r}: a non-empty string without '.' or spaces")
            if isinstance(spec, str):
                tname, args = spec, {}
            elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], dict):
                tname, args = spec
            else:
                raise BadArgument(f"declaration of {name!r}: expected 'type' or ('type', {{args}}), got {spec!r}")
            t = get_type(tname)
            if t.pinned and name not in BUILTIN:
                raise BadArgument(f"{name!r}: type {tname!r} is built in and cannot be declared again")
            d = Decl.make(t, t.check_args(args, f"neuron {name!r}"))
            prev = view.get(name)
            if prev is not None and replace:
                if prev.key == d.key:
                    continue  # unchanged: the running neuron is kept with its state
            elif prev is not None:
                if prev.key == d.key:
                    raise DuplicateName(f"neuron {name!r} is declared already (as {prev.type.name})")
                raise DuplicateName(f"neuron {name!r} is declared already as {prev.type.name}, "
                                    f"cannot declare it again as {tname}")
            out[name] = d
        return out

    def _check_delta(self, delta, decls, current=None) -> None:
        """Every leaf a weight between declared ports of matching kinds; or, given `current`
        (W as the edit finds it), the exact removal of a weight W holds (a replaced neuron's
        rows on ports its new type does not have)."""
        if not isinstance(delta, dict):
            raise MalformedDelta(f"ΔW must be a rank-4 dict W[dst][input][src][output] = weight, got {type(delta).__name__}")
        for path, x in _depth_leaves(delta):
            where = "][".join(map(repr, path))
            if len(path) != 4:
                raise MalformedDelta(f"ΔW leaf at [{where}] is at depth {len(path)}; "
                                     "a weight sits at W[dst][input][src][output]")
            if not all(isinstance(k, str) for k in path):
                raise MalformedDelta(f"ΔW key at [{where}] is not a string")
            if not vv.is_number(x) or not np.isfinite(x):
                raise MalformedDelta(f"ΔW weight at [{where}] is {x!r}, not a finite number")
            dst, inp, src, out = path
            try:
                self._check_link(dst, inp, src, out, decls)
            except DmmError:
                if current is None or vv.path(current(), dst, inp, src, out) != -x:
                    raise

    def _check_link(self, dst, inp, src, out, decls) -> None:
        for n in (dst, src):
            if n not in decls:
                raise UnknownNeuron(f"unknown neuron {n!r}{did_you_mean(n, decls)}")
        dt, st = decls[dst].type, decls[src].type
        dk, sk = dt.input_kind(inp), st.output_kind(out)
        if dk is None:
            raise UnknownPort(f"{dst!r} ({dt.name}) has no input port {inp!r}{did_you_mean(inp, dt.inputs)}; "
                              f"inputs: {', '.join(dt.inputs) or 'none'}")
        if sk is None:
            raise UnknownPort(f"{src!r} ({st.name}) has no output port {out!r}{did_you_mean(out, dt.outputs)}; "
                              f"outputs: {', '.join(st.outputs) or 'none'}")
        if not compatible(dk, sk):
            raise KindMismatch(f"kind mismatch: {dst}.{inp} is {dk} but {src}.{out} is {sk}")

    def _resolve_link(self, dst, src, decls):
        dn, dp = split_port(dst, "destination")
        sn, sp_ = split_port(src, "source")
        for n in (dn, sn):
            if n not in decls:
                raise UnknownNeuron(f"unknown neuron {n!r}{did_you_mean(n, decls)}")
        dp = dp or decls[dn].type.default_input
        sp_ = sp_ or decls[sn].type.default_output
        self._check_link(dn, dp, sn, sp_, decls)
        return dn, dp, sn, sp_

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


def _spmm_add(m, Y, out, a=None, b=None) -> None:
    """out += m[a:b] @ Y (all rows without a, b) for a CSR matrix m and C-contiguous
    blocks Y, written in place, with no copy of m's rows."""
    if a is None:
        a, b = 0, m.shape[0]
    p = m.indptr
    lo, hi = p[a], p[b]
    if out.flags.c_contiguous and Y.flags.c_contiguous and Y.dtype == out.dtype == m.dtype:
        _csr_matvecs(b - a, m.shape[1], Y.shape[1], p[a:b + 1] - lo, m.indices[lo:hi], m.data[lo:hi],
                     Y.ravel(), out.ravel())
    else:
        out += m[a:b] @ Y


def _rows_matvec(m, a, b, y) -> np.ndarray:
    """m[a:b] @ y for a CSR matrix m and a vector y (scipy's kernel, on views of m)."""
    p = m.indptr
    lo, hi = p[a], p[b]
    out = np.zeros(b - a, np.result_type(m.dtype, y.dtype))
    _csr_matvec(b - a, m.shape[1], p[a:b + 1] - lo, m.indices[lo:hi], m.data[lo:hi], y, out)
    return out


# scipy's kernels behind csr @ dense, which accumulate into their output
from scipy.sparse._sparsetools import csr_matvec as _csr_matvec, csr_matvecs as _csr_matvecs  # noqa: E402


class _Ring:
    """The last `size` samples of an audio input (for frame neurons that draw sound)."""

    def __init__(self, size: int):
        self.buf = np.zeros(size, np.float32)
        self.pos = 0

    def push(self, block) -> None:
        if block is None:
            block = np.zeros(1, np.float32)
        n = len(block)
        i = self.pos % len(self.buf)
        end = min(len(self.buf), i + n)
        self.buf[i:end] = block[:end - i]
        self.buf[:n - (end - i)] = block[end - i:]
        self.pos += n

    def last(self, n: int) -> np.ndarray:
        n = min(int(n), len(self.buf))
        i = self.pos % len(self.buf)
        out = np.concatenate([self.buf[i:], self.buf[:i]])[-n:]
        if self.pos < n:
            out[: n - self.pos] = 0.0
        return out


class _Edit:
    __slots__ = ("delta", "decls", "fade", "retire", "t")

    def __init__(self, delta, decls, fade, retire=()):
        self.delta, self.decls, self.fade, self.retire, self.t = delta, decls, fade, retire, None


class _Fade:
    __slots__ = ("delta", "start", "length", "meta")

    def __init__(self, delta, start, length, meta):
        self.delta, self.start, self.length, self.meta = delta, start, length, meta


def _renamed(D, name, new):
    """The rank-4 ΔW D with neuron `name` called `new` (as destination and as source)."""
    out = {}
    for dst, inp, src, o, w in entries(D):
        out = vv.add_into(out, {new if dst == name else dst: {inp: {new if src == name else src: {o: w}}}})
    return out


def _rows_of(delta):
    """The input rows (dst, inp) a ΔW writes, or None where it writes above a row."""
    rows = []
    for dst, ins in delta.items():
        if type(ins) is not dict:
            return None
        rows.extend((dst, inp) for inp in ins)
    return rows


def _value_changes(w_prev, w_new, delta):
    """[(dst, inp, src, out, new weight)] when `delta` only changes weights that W had
    and still has (non-zero, finite, each at depth 4); None when it adds or removes an
    entry or writes anywhere else (the plan's structure changes)."""
    out = []
    for dst, ins in delta.items():
        if type(ins) is not dict:
            return None
        for inp, srcs in ins.items():
            if type(srcs) is not dict:
                return None
            for src, outs in srcs.items():
                if type(outs) is not dict:
                    return None
                a, b = vv.path(w_prev, dst, inp, src), vv.path(w_new, dst, inp, src)
                if type(a) is not dict or type(b) is not dict:
                    return None
                for o in outs:
                    x, y = a.get(o), b.get(o)
                    if x is None or y is None or not vv.is_number(x) or not vv.is_number(y) \
                            or not math.isfinite(y):
                        return None  # appears, vanishes, or is not a plain weight
                    out.append((dst, inp, src, o, y))
    return out


def _depth_leaves(v, prefix=()):
    if isinstance(v, dict):
        if not v and prefix:
            return
        for k, x in v.items():
            yield from _depth_leaves(x, prefix + (k,))
    else:
        yield prefix, v
