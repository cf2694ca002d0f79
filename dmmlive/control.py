"""Commands from outside (OSC, scripts) turned into edits of a running machine, between ticks.

The engine side of the OSC address space (design section 7). Pure: no sockets, no
threads, no wall clock. Whoever owns the machine (the engine process, or a test)
calls, between ticks:

    replies += ctl.submit(op, args, timetag, tag)   # for each command received
    replies += ctl.run_due()                         # commands whose tick has come
    m.tick()

and sends each reply `(address, args, tag)` back to where `tag` says (the OSC
listener's reply address). A reply is `("/dmm/value", [ref, x])` for `get`,
`("/dmm/ok", [address, args...])` for any other command that succeeded (the arguments
it ran with; none for `/dmm/code`; a knob is not answered: it moves at a fader's rate),
and `("/dmm/error", [address, reason])` for any command that failed; a failed command
changes nothing.
"""
from __future__ import annotations

import heapq
import itertools
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable

import numpy as np

from . import commands
from .checks import ERROR, OK, TEMPO, VALUE, did_you_mean, number, split_ref
from .core import vv
from .core.errors import BadArgument, DmmError, DuplicateName, UnknownNeuron, UnknownPort
from .core.plan import entries

__all__ = ["Controller", "tick_for_time", "ERROR", "VALUE"]

MAX_PATCH_BYTES = 1 << 20   # a patch file larger than this is refused by `load`


def tick_for_time(t: float, clock: tuple[int, float], rate: int, block: int) -> int:
    """The first tick whose sound is heard at or after time `t` (seconds).

    `clock = (tick0, time0)`: tick `tick0`'s sound is heard at `time0` (same time base
    as `t`, e.g. unix time for OSC timetags). Ticks are `block / rate` seconds apart:
    `tick0 + ceil((t - time0) * rate / block)`.
    """
    tick0, time0 = clock
    x = (float(t) - float(time0)) * rate / block
    return int(tick0) + math.ceil(x - 1e-9)  # a time on a tick boundary is that tick


class Controller:
    """Runs the commands of the OSC address space on `machine`.

    `session`: the PatchSession that `code` and `load` apply texts through (the same
    one the file watcher uses, so patch diffs agree); None = the machine's own
    (`patch.live.open_patch` gives a machine with its session) or a new one made on first use.
    `fade`: seconds over which `set`, `value` and `remove` glide; None = the `fade()`
    of the patch the session applied last, else 0.05.
    `load_root`: `load` reads only files under this folder (symlinks and `..`
    resolved first); None = the current directory when the Controller is made.
    `allow_load_anywhere`: lift that limit.
    `on_record(cmd, path)`: called for `record start [path]` (path may be None) and
    `record stop`; may raise a DmmError or OSError, which is replied as an error.
    `max_scheduled`: how many timed commands may wait; more are refused.
    `clock`: `(tick0, time0)` for timetags (see `tick_for_time`); the owner keeps it
    current. With no clock, timed commands run at once.
    """

    def __init__(self, machine, session=None, fade: float | None = None, load_root=None,
                 allow_load_anywhere: bool = False, on_record: Callable | None = None,
                 max_scheduled: int = 4096, clock: tuple[int, float] | None = None):
        if fade is not None and not (isinstance(fade, (int, float)) and math.isfinite(fade) and fade >= 0):
            raise BadArgument(f"fade must be a number of seconds >= 0, got {fade!r}")
        self.machine = machine
        self._session = session
        self._fade = None if fade is None else float(fade)
        self.load_root = Path(os.path.realpath(load_root if load_root is not None else os.getcwd()))
        self.allow_load_anywhere = bool(allow_load_anywhere)
        self.on_record = on_record
        self.on_snapshot = None  # fn(path or None) -> the path a snapshot is written to (the host's)
        self.max_scheduled = int(max_scheduled)
        self.clock = clock
        self._heap: list = []
        self._seq = itertools.count()
        self.executed = 0
        self.failed = 0
        self.on_applied: list = []  # fn(op, args as received) for each command that took effect

    # ---- settings ---------------------------------------------------------------------
    @property
    def fade(self) -> float:
        if self._fade is not None:
            return self._fade
        patch = getattr(self._session, "patch", None)
        settings = getattr(patch, "settings", None)
        if isinstance(settings, dict) and isinstance(settings.get("fade"), (int, float)):
            return float(settings["fade"])
        return 0.05

    @fade.setter
    def fade(self, seconds: float | None) -> None:
        self._fade = None if seconds is None else float(seconds)

    @property
    def session(self):
        if self._session is None:
            from .patch.live import PatchSession
            self._session = PatchSession(self.machine)
        return self._session

    @property
    def lead(self) -> int:
        """Ticks from running a command to the first tick whose output reflects it."""
        return 2 if self.machine.schedule == "synchronous" else 1

    def knob_addresses(self) -> set:
        """The OSC addresses the declared `knob` neurons listen to (for the listener)."""
        return {d.args.get("address") for d in self._decls().values()
                if d.type.name == "knob" and isinstance(d.args.get("address"), str)}

    # ---- running commands -----------------------------------------------------------------
    def execute(self, op: str, args: Iterable = ()) -> list:
        """Run one command of the table (`dmmlive.commands`) now; returns its replies
        `[(address, args)]`."""
        address = commands.address_of(op, args)
        try:
            args = raw = list(args)
            cmd = commands.get(op)
            if cmd is None:
                known = commands.names()
                raise BadArgument(f"unknown command {op!r}{did_you_mean(str(op), known)}; "
                                  f"commands: {', '.join(known)}")
            try:
                args = cmd.check(args)
            except commands.ArgError as e:
                raise BadArgument(str(e) or f"wrong arguments {_show(args)}: expected {cmd.usage}") from None
            out = getattr(self, cmd.method)(*args)
            self.executed += 1
            for fn in self.on_applied:
                fn(op, raw)
            if not out and op != "knob":  # acknowledged (a knob moves at a fader's rate: not)
                out = [(OK, [address] + ([] if op == "code" else list(raw)))]
            return out or []
        except DmmError as e:
            self.failed += 1
            return [(ERROR, [address, str(e)])]
        except Exception as e:  # noqa: BLE001  (a bad command never stops the engine)
            self.failed += 1
            return [(ERROR, [address, f"{type(e).__name__}: {e}"])]

    def submit(self, op: str, args: Iterable = (), timetag: float | None = None, tag: Any = None) -> list:
        """Run a received command now, or keep it for the tick its timetag names.

        `timetag`: absolute time in the clock's time base (unix seconds for OSC), or
        None/0 for "immediately". Returns `[(address, args, tag)]` to send back now.
        """
        if timetag and self.clock is not None:
            nxt = self.machine.t + 1
            due = self.tick_for(timetag)
            if due > nxt:
                return self.schedule(op, args, due, tag)
        return [(a, r, tag) for a, r in self.execute(op, args)]

    def tick_for(self, t: float) -> int:
        """The tick before which a command timed `t` must run so that `t`'s tick is the
        first whose output reflects it (never earlier than the next tick)."""
        if self.clock is None:
            return self.machine.t + 1
        m = self.machine
        return max(m.t + 1, tick_for_time(t, self.clock, m.rate, m.block) - self.lead)

    def schedule(self, op: str, args: Iterable, due_tick: int, tag: Any = None) -> list:
        """Keep a command to run just before tick `due_tick`; replies now only if refused."""
        if len(self._heap) >= self.max_scheduled:
            return [(ERROR, [commands.address_of(op, args), f"too many timed commands waiting "
                             f"({self.max_scheduled}); this one is dropped"], tag)]
        heapq.heappush(self._heap, (int(due_tick), next(self._seq), op, list(args), tag))
        return []

    def due(self, now_tick: int) -> list:
        """Remove and return the kept commands `(op, args, tag)` due at or before `now_tick`,
        in time order (ties in arrival order)."""
        out = []
        while self._heap and self._heap[0][0] <= now_tick:
            _, _, op, args, tag = heapq.heappop(self._heap)
            out.append((op, args, tag))
        return out

    def run_due(self) -> list:
        """Run the kept commands due before the next tick; returns `[(address, args, tag)]`."""
        out = []
        for op, args, tag in self.due(self.machine.t + 1):
            out.extend((a, r, tag) for a, r in self.execute(op, args))
        return out

    @property
    def waiting(self) -> int:
        return len(self._heap)

    # ---- the commands (their arguments checked by the table, dmmlive.commands) -----------------
    def _op_set(self, dst, src, w):
        self._edit_weight(dst, src, w, relative=False, fade=self.fade)

    def _op_add(self, dst, src, dw):
        self._edit_weight(dst, src, dw, relative=True, fade=0.0)

    def _op_value(self, ref, x):
        self._edit_weight(ref, "one.out", x, relative=False, fade=self.fade)

    def _op_replace(self, name, tname, *pairs):
        self._op_neuron(name, tname, *pairs, replace=True)

    def _op_neuron(self, name, tname, *pairs, replace=False):
        t = self.machine.types.get_type(tname)
        cargs, ports = {}, {}
        for k, v in zip(pairs[::2], pairs[1::2]):
            if k in t.args:
                cargs[k] = v
            elif t.input_kind(k) is not None and not t.variadic:
                ports[k] = number(v, f"constant for input {k!r}")
            else:
                raise BadArgument(f"type {t.name!r} has no argument or input {k!r}"
                                  f"{did_you_mean(k, list(t.args) + list(t.inputs))}")
        have = self._decls().get(name)
        if have is not None and not replace and (have.type.name != t.name
                                                 or have.args != t.check_args(cargs, f"neuron {name!r}")):
            shown = "".join(f" {k}={v!r}" for k, v in have.args.items())
            raise DuplicateName(f"a neuron {name!r} exists already ({have.type.name}{shown}); "
                                f"/dmm/replace {name} {tname} ... crossfades it to the new one, "
                                f"or /dmm/remove {name} first")
        args = t.check_args(cargs, f"neuron {name!r}")
        for port, x in ports.items():
            _in_range(SimpleNamespace(type=t, args=args), name, port, x)
        W = self._target_matrix()
        delta = {}
        for port, p in ({} if t.variadic else t.inputs).items():
            if port in ports:        # the constant asked for
                dw = ports[port] - self._target_weight(name, port, "one", "out")
            elif p.default and not vv.path(W, name, port):
                dw = p.default       # the type's default, only on a row nobody wrote yet
            else:
                continue
            if dw:
                delta.setdefault(name, {})[port] = {"one": {"out": float(dw)}}
        self.machine.edit(delta, declare={name: (t.name, cargs)}, fade=self.fade,
                          replace=True, defaults=False, at=self._at())

    def _op_remove(self, name):
        decls = self._decls()
        d = decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, decls)}")
        if d.type.pinned:
            raise BadArgument(f"{name!r} is built in and cannot be removed")
        delta = {}
        for dst, inp, src, out, w in entries(self._target_matrix()):
            if (dst == name or src == name) and w:
                delta = vv.add_into(delta, {dst: {inp: {src: {out: -w}}}})
        if delta:
            self.machine.edit(delta, fade=self.fade, at=self._at())

    def _op_code(self, text):
        self.session.apply(text, "<osc>")

    def _op_load(self, path):
        p = self._allowed_path(path)
        try:
            if p.stat().st_size > MAX_PATCH_BYTES:
                raise BadArgument(f"{path}: larger than {MAX_PATCH_BYTES} bytes; not a patch")
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BadArgument(f"{path}: no such file") from None
        except IsADirectoryError:
            raise BadArgument(f"{path}: is a folder, not a patch file") from None
        except UnicodeDecodeError as e:
            raise BadArgument(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except OSError as e:
            raise BadArgument(f"{path}: cannot read: {e.strerror or e}") from None
        self.session.apply(text, str(p))

    def _op_hush(self, on=1.0):
        from .neurons.sinks import hush
        hush(self.machine, on != 0.0, self.fade)

    def _op_tempo(self, bpm=None):
        m = self.machine
        if bpm is not None:
            m.tempo = bpm  # (BadArgument past its range: core/grid.py's MAX_TEMPO)
        return [(TEMPO, [m.tempo])]

    def _at(self):
        """The sample an edit run now lands on: the next multiple of the patch's quant(beats)
        (or play --quant) on the beat grid; None (at once) without one."""
        return self.session.landing()

    def _op_record(self, cmd, path=None):
        if self.on_record is None:
            raise BadArgument("recording is not available here (no recorder attached)")
        self.on_record(cmd, path)

    def _op_snapshot(self, path=None):
        if self.on_snapshot is None:
            raise BadArgument("snapshots are not available here (no engine attached)")
        return [(OK, ["/dmm/snapshot", self.on_snapshot(path)])]

    def _op_get(self, ref, src=None):
        m = self.machine
        if src is not None:  # a weight of W, as it will be once the queued edits are in
            decls = self._decls()
            dn, dp = self._port(ref, decls, output=False)
            sn, sp = self._port(src, decls, output=True)
            m.check_link(dn, dp, sn, sp, decls)
            return [(VALUE, [ref, src, self._target_weight(dn, dp, sn, sp)])]
        name, port = split_ref(ref)
        decls = self._decls()
        d = decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, decls)}")
        t = d.type
        if port is None:
            port, output = t.default_output, True
            if port is None:
                port, output = t.default_input, False
            if port is None:
                raise UnknownPort(f"{name!r} ({t.name}) has no ports to read")
        elif t.output_kind(port) is not None:
            output = True
        elif t.input_kind(port) is not None:
            output = False
        else:
            raise UnknownPort(f"{name!r} ({t.name}) has no port {port!r}"
                              f"{did_you_mean(port, list(t.outputs) + list(t.inputs))}")
        kind = t.output_kind(port) if output else t.input_kind(port)
        if kind not in ("number", "audio", "vvalue"):
            raise BadArgument(f"{name}.{port} is a {kind} port; only number, audio and vvalue "
                              "ports can be read over OSC")
        if name not in m.neurons:
            x = 0.0  # declared by an edit not absorbed yet: it has produced nothing
        else:
            x = _reading(m.output(name, port) if output else m.input(name, port), f"{name}.{port}")
        return [(VALUE, [ref, x])]

    def _op_knob(self, address, *values):
        from .neurons.control import set_knob
        targets = [address] if len(values) == 1 else [f"{address}/x", f"{address}/y"]
        decls = self._decls()
        found = False
        for a, x in zip(targets, values):
            for name, d in decls.items():
                if d.type.name == "knob" and d.args.get("address") == a and name in self.machine.neurons:
                    set_knob(self.machine, name, x)
                    found = True
        if not found:
            known = sorted(self.knob_addresses())
            what = address if len(values) == 1 else f"{address}/x or {address}/y"
            raise BadArgument(f"no knob listens to {what}{did_you_mean(targets[0], known)}")

    # ---- helpers ------------------------------------------------------------------------
    def _decls(self) -> dict:
        """Declarations of the machine, counting edits queued and in flight."""
        return self.machine.pending_decls()

    def _target_matrix(self) -> dict:
        """W as it will be once every queued edit is in (what a new command builds on)."""
        return self.machine.pending_matrix()

    def _target_weight(self, dn, dp, sn, sp) -> float:
        x = vv.path(self.machine.pending_matrix(), dn, dp, sn, sp)
        return float(x) if vv.is_number(x) else 0.0

    def _edit_weight(self, dst, src, x, relative, fade) -> None:
        decls = self._decls()
        dn, dp = self._port(dst, decls, output=False)
        sn, sp = self._port(src, decls, output=True)
        cur = self._target_weight(dn, dp, sn, sp)
        dw = x if relative else x - cur
        if (sn, sp) == ("one", "out"):  # an input's constant: within its port's range
            _in_range(decls[dn], dn, dp, cur + dw if relative else x)
        if dw == 0.0:
            # nothing to change, but a mistake is still a mistake: check the link
            self.machine.check_link(dn, dp, sn, sp, decls)
            return
        at = None if relative else self._at()  # /dmm/add: at once
        if not relative and cur + dw != x:
            # W is changed by additions, and this one would not land on x in floats (1e17
            # then 2: 2 - 1e17 cancels to -1e17, the entry to 0): the weight is taken
            # out, then x put in, two edits that the machine adds one after the other. With
            # a fade the two glides together are the one glide from cur to x.
            self.machine.edit({dn: {dp: {sn: {sp: -cur}}}}, fade=fade, at=at)
            dw = x
        self.machine.edit({dn: {dp: {sn: {sp: dw}}}}, fade=fade, at=at)

    @staticmethod
    def _port(ref, decls, output) -> tuple[str, str]:
        name, port = split_ref(ref)
        d = decls.get(name)
        if d is None:
            raise UnknownNeuron(f"unknown neuron {name!r}{did_you_mean(name, decls)}")
        if port is None:
            port = d.type.default_output if output else d.type.default_input
            if port is None:
                raise UnknownPort(f"{name!r} ({d.type.name}) has no default "
                                  f"{'output' if output else 'input'}: name the port")
        return name, port

    def _allowed_path(self, path: str) -> Path:
        if "\x00" in path or not path:
            raise BadArgument(f"bad path {path!r}")
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = self.load_root / p
        real = Path(os.path.realpath(p))
        if not self.allow_load_anywhere and not real.is_relative_to(self.load_root):
            raise BadArgument(f"{path}: outside the folder patches may be loaded from "
                              f"({self.load_root}); play with --allow-load-anywhere to allow it")
        return real


def _reading(v, where: str) -> float:
    """A number from a port's current value: audio -> the block's mean, vvalue -> ':number'."""
    if isinstance(v, dict):
        return vv.scalar(v)
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise BadArgument(f"{where} is not a number, audio or vvalue port; it cannot be read over OSC")
        return float(np.mean(v, dtype=np.float64)) if v.size else 0.0
    if vv.is_number(v):
        return float(v)
    raise BadArgument(f"{where} is not a number, audio or vvalue port; it cannot be read over OSC")


def _show(args) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"


def _in_range(decl, name: str, port: str, x: float) -> None:
    """BadArgument where `x`, a constant for input `port` of `name` (declared as `decl`),
    is out of the port's range."""
    p = None if decl.type.variadic else decl.type.inputs.get(port)
    why = p.out_of_range(x, decl.args) if p is not None else None
    if why:
        raise BadArgument(f"{name}.{port} = {x:g} is {why}")
