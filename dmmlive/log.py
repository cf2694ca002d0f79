"""Performance logs: record a live set, replay it offline (`dmmlive play --log`, `dmmlive render X.dmmlog`).

A log is JSON lines (UTF-8, one object per line). The first line is the header:

    {"format": "dmmlog", "version": 1, "rate": 48000, "block": 128, "seed": 0,
     "schedule": "ordered", "fps": 30.0, "size": [640, 360], "limiter": true,
     "patch": "patches/bass.dmm", "text": "<the patch text played first>",
     "shaders": {"plasma": "<source of shaders/plasma.frag>"}, "started": "...", "dmmlive": "0.1.0"}

then one line per change, in the order the engine applied them, each with the tick
`t` at which it was applied (`m.t` then: t ticks were done, the change lands before
tick t+1 is computed):

    {"tick": 812, "kind": "code", "path": "patches/bass.dmm", "text": "..."}   file save, /dmm/code, /dmm/load
    {"tick": 900, "kind": "osc", "op": "set", "args": ["out.left", "vca", 0.1]} set add value neuron remove
    {"tick": 951, "kind": "knob", "address": "/1/fader1", "values": [0.7]}
    {"tick": 960, "kind": "midi", "bytes": [176, 74, 100]}                       a MIDI message (CC, note, bend)
    {"tick": 970, "kind": "midi", "tempo": 121.5, "beat": 64.02}                 a MIDI clock in's tempo
                                                                                 and/or phase (as link)
    {"tick": 980, "kind": "link", "tempo": 128.0, "beat": 1042.25}               Ableton Link's tempo and/or
                                                                                 phase (the grid's beat at
                                                                                 the tick's first sample)
    {"tick": 4000, "kind": "end"}                                                the set stopped cleanly

A `code` or `osc` line that declares a shader type first seen there carries
`"shaders": {name: source}` too. Only changes that were applied are logged (a
rejected save or a failed command changed nothing); timed OSC commands are logged
at the tick they ran, not when they arrived; `/dmm/load` is logged as the text it
read, so replaying never reads the patch folder again.

The writer runs in the engine process (`start_log`, called by `app.build`): it
wraps the machine's PatchSession.apply and its Controller.execute, so it sees every
change where and when it is applied. Lines are buffered and flushed at least every
FLUSH_EVERY seconds (checked before each tick), so a crash loses at most that much.

The replay (`machine_from_log`, `render.render_log`, or `dmmlive.render("set.dmmlog", ...)`)
builds the machine from the header and, before each tick, applies the logged
changes whose tick equals `m.t` through the same code paths (PatchSession.apply,
Controller.execute): the sound is the one played live, sample for sample.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import BadArgument, DmmError
from .core.registry import STANDARD
from .host import shader_sources

__all__ = ["SUFFIX", "VERSION", "LogWriter", "SetLog", "start_log", "read_log", "machine_from_text",
           "machine_from_log", "is_log"]

SUFFIX = ".dmmlog"
VERSION = 1
FLUSH_EVERY = 0.5     # seconds: buffered lines reach the file at least this often
TAIL_SECONDS = 1.0    # a log without an "end" line is rendered to its last change plus this
KINDS = ("code", "osc", "knob", "midi", "link", "input", "end")
HEADER_KEYS = ("rate", "block", "seed", "schedule", "fps", "size", "limiter", "patch", "text", "shaders")


def is_log(source) -> bool:
    return isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(SUFFIX)


def _jsonable(x):
    item = getattr(x, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(x).__name__} is not JSON")


# ---- writing (engine process) ------------------------------------------------------------
class LogWriter:
    """Appends JSON lines to `path` (truncated first); flushes at least every FLUSH_EVERY s.

    A failure to write (disk full...) is reported through `on_error(message)` and
    logging stops; it never stops the sound.
    """

    def __init__(self, path, header: dict, on_error=None, types=None):
        self.path = str(path)
        self.on_error = on_error
        self._f = open(self.path, "w", encoding="utf-8", newline="\n")
        self._last = time.monotonic()
        self._dirty = False
        self.closed = False
        self.lines = 0
        self._shaders = set(header.get("shaders") or ())
        self._input = None  # the file beside the log the card's input goes to (input_block)
        self.types = types if types is not None else STANDARD  # where the shader sources are read
        self._write(dict({"format": "dmmlog", "version": VERSION}, **header))
        self.flush()

    def _write(self, obj: dict) -> None:
        if self.closed:
            return
        try:
            line = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=_jsonable)
        except (TypeError, ValueError) as e:  # cannot happen for commands that check their args
            if self.on_error is not None:
                self.on_error(f"log {self.path}: a change at tick {obj.get('tick')} could not be "
                              f"written ({e}); a replay will miss it")
            return
        try:
            self._f.write(line + "\n")
            self.lines += 1
            self._dirty = True
        except OSError as e:
            self._fail(e)

    def _fail(self, e) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self._f.close()
        if self.on_error is not None:
            self.on_error(f"log {self.path}: cannot write ({type(e).__name__}: {e}); logging stopped")

    def event(self, tick: int, kind: str, **fields) -> None:
        self._write({"tick": int(tick), "kind": kind, **fields})
        self.poll()

    def record(self, rec: dict) -> None:
        """Write a journal record (dmmlive.host.Journal): its shader sources only for the
        shader types not logged yet."""
        rec = dict(rec)
        shaders = rec.pop("shaders", None) or {}
        new = {n: src for n, src in shaders.items() if n not in self._shaders}
        self._shaders.update(new)
        if new:
            rec["shaders"] = new
        self._write(rec)
        self.poll()

    def input_block(self, tick: int, block) -> None:
        """Append the card's input block of tick `tick` (frames x channels) to the file beside
        the log; the first one writes the `input` line that names it (a replay feeds it
        to the `input` neurons from that tick on, sample for sample)."""
        if self.closed:
            return
        try:
            if self._input is None:
                name = input_file(self.path)
                self._input = open(Path(self.path).parent / name, "wb")
                self._write({"tick": int(tick) - 1, "kind": "input", "file": name, "channels": int(block.shape[1])})
            self._input.write(memoryview(block).cast("B"))
        except OSError as e:
            self._fail(e)

    def poll(self) -> None:
        if self._dirty and time.monotonic() - self._last >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.closed:
            return
        try:
            self._f.flush()
            if self._input is not None:
                self._input.flush()
        except OSError as e:
            self._fail(e)
            return
        self._dirty = False
        self._last = time.monotonic()

    def close(self, end_tick: int | None = None) -> None:
        """Write the "end" line (when `end_tick` is given) and close; later calls do nothing."""
        if self.closed:
            return
        if end_tick is not None:
            self._write({"tick": int(end_tick), "kind": "end"})
        self.flush()
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self._f.close()
                if self._input is not None:
                    self._input.close()


def header_for(m, session, patch_path: str, text: str) -> dict:
    from . import __version__
    decls = session.patch.neurons if session.patch is not None else {}
    return {"rate": m.rate, "block": m.block, "seed": m.seed, "schedule": m.schedule, "fps": m.fps,
            "size": list(m.size), "limiter": m.limiter, "patch": str(patch_path), "text": text,
            "quant": session.quant,
            "shaders": shader_sources({d.type for d in decls.values()}, m.types),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "dmmlive": __version__}


def start_log(host, path, patch_path: str, text: str, at_exit: bool = True) -> LogWriter:
    """Write every change the host's journal publishes from now on (engine side) to the
    log `path`; returns the writer (`host.log`).

    `host` (dmmlive.host.Host) holds the machine built from `text` (see
    `machine_from_text`). `at_exit`: write the "end" line (at the tick the machine stopped
    at) and close when this process exits.
    """
    m = host.machine
    log = LogWriter(path, header_for(m, host.session, patch_path, text),
                    on_error=lambda msg: m.report("log", msg), types=m.types)
    host.journal.subscribe(log.record)
    host.log = log
    if at_exit:
        atexit.register(lambda: log.close(m.t))
    return log


# ---- reading ------------------------------------------------------------------------------
@dataclass
class SetLog:
    """A log read back: its header, its change events in order, and where it ends."""
    path: str
    header: dict
    events: list = field(default_factory=list)  # [(line number, event dict)]
    end: int | None = None       # the tick of the "end" line; None when the set did not stop cleanly
    cut: int | None = None       # the line number cut short (a crash mid-write), if any
    last_line: int = 1

    @property
    def last_tick(self) -> int:
        return self.events[-1][1]["tick"] if self.events else 0

    @property
    def ticks(self) -> int:
        """Ticks to render by default: to the "end" line, else the last change + TAIL_SECONDS."""
        if self.end is not None:
            return self.end
        h = self.header
        return self.last_tick + math.ceil(TAIL_SECONDS * h["rate"] / h["block"])

    @property
    def seconds(self) -> float:
        return self.ticks * self.header["block"] / self.header["rate"]

    @property
    def warning(self) -> str | None:
        """One line saying the log was not closed, or None."""
        if self.end is not None:
            return None
        why = (f"line {self.cut} is cut short" if self.cut is not None
               else f"no end line after line {self.last_line}")
        return (f"dmmlive: warning: {self.path}: {why} (the set did not stop cleanly); "
                f"replaying its changes up to tick {self.last_tick}, to tick {self.ticks}")

    @property
    def shaders(self) -> dict:
        """{name: source} of every shader type the set used (the first source logged)."""
        out = dict(self.header.get("shaders") or {})
        for _, e in self.events:
            for k, v in (e.get("shaders") or {}).items():
                out.setdefault(k, v)
        return out


def read_log(path, warn=True) -> SetLog:
    """Read a .dmmlog. A last line cut short (a crash) is dropped; with `warn` a one-line
    warning naming the file and line goes to stderr when the log has no "end" line.
    A malformed header or a bad line before the last is a BadArgument naming the line."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise BadArgument(f"cannot read log {path}: {e.strerror or e}") from None
    lines = data.split(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        lines.pop()
    log = None
    for i, raw in enumerate(lines, 1):
        last = i == len(lines)
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as e:
            if last and not complete and log is not None:
                log.cut = i
                break
            if i == 1:
                raise BadArgument(f"{path}: line 1 is not a dmmlive log header ({e})") from None
            raise BadArgument(f"{path}: line {i} is not a log line ({e})") from None
        if i == 1:
            log = SetLog(path, _check_header(obj, path))
            continue
        _check_event(obj, path, i, log)
        log.last_line = i
        if obj["kind"] == "end":
            log.end = obj["tick"]
            break
        log.events.append((i, obj))
    if log is None:
        raise BadArgument(f"{path}: empty; not a dmmlive log")
    if warn and log.warning:
        print(log.warning, file=sys.stderr, flush=True)
    return log


def _check_header(h: dict, path: str) -> dict:
    if h.get("format") != "dmmlog":
        raise BadArgument(f"{path}: line 1 is not a dmmlive log header (no \"format\": \"dmmlog\")")
    if not isinstance(h.get("version"), int) or h["version"] > VERSION:
        raise BadArgument(f"{path}: log version {h.get('version')!r}; this dmmlive reads version {VERSION}")
    missing = [k for k in HEADER_KEYS if k not in h]
    if missing:
        raise BadArgument(f"{path}: line 1: the header lacks {', '.join(missing)}")
    return h


def _check_event(e: dict, path: str, i: int, log: SetLog) -> None:
    t = e.get("tick")
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise BadArgument(f"{path}: line {i}: tick must be an int >= 0, got {t!r}")
    if log.events and t < log.events[-1][1]["tick"]:
        raise BadArgument(f"{path}: line {i}: tick {t} comes before the previous line's")
    kind = e.get("kind")
    if kind not in KINDS:
        raise BadArgument(f"{path}: line {i}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    need = {"code": ("text", "path"), "osc": ("op", "args"), "knob": ("address", "values"), "midi": (),
            "link": (), "input": ("file", "channels"), "end": ()}[kind]
    for k in need:
        if k not in e:
            raise BadArgument(f"{path}: line {i}: a {kind} line needs {k!r}")
    if kind == "midi":
        _check_midi(e, f"{path}: line {i}")
    if kind == "link":
        _check_clock(e, f"{path}: line {i}", "link")
    if kind == "input" and (not isinstance(e["file"], str) or "/" in e["file"] or "\\" in e["file"]
                            or not isinstance(e["channels"], int) or not 1 <= e["channels"] <= 8):
        raise BadArgument(f"{path}: line {i}: an input line needs a file name beside the log and 1-8 channels, "
                          f"got {e['file']!r}, {e['channels']!r}")


def _check_clock(e: dict, where: str, kind: str) -> None:
    """A `link` line, or a `midi` line of a clock, holds a `tempo` (bpm > 0) and/or a `beat`
    (the grid's beat at the tick's first sample)."""
    t, b = e.get("tempo"), e.get("beat")
    def num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if (t is None and b is None) or (t is not None and not (num(t) and t > 0)) or (b is not None and not num(b)):
        raise BadArgument(f"{where}: a {kind} line needs a 'tempo' (bpm > 0) and/or a 'beat' (a number), "
                          f"got tempo {t!r}, beat {b!r}")


def _check_midi(e: dict, where: str) -> None:
    """A `midi` line holds `bytes` (a channel message: 2 or 3 bytes, status 0x80-0xEF), or a
    clock's `tempo` and/or `beat`."""
    if "tempo" in e or "beat" in e:
        _check_clock(e, where, "midi")
        return
    b = e.get("bytes")
    ok = isinstance(b, list) and 2 <= len(b) <= 3 and all(isinstance(x, int) and not isinstance(x, bool)
                                                           and 0 <= x <= 255 for x in b) and 0x80 <= b[0] < 0xF0
    if not ok:
        raise BadArgument(f"{where}: a midi line needs 'bytes' (a channel message: 2 or 3 numbers 0-255, "
                          f"the first 128-239) or 'tempo', got {b!r}")


# ---- replaying ----------------------------------------------------------------------------
def machine_from_text(text: str, path: str, rate: int = 48000, block: int = 128, size=None, fps=None,
                      seed=None, **machine_args):
    """As `dmmlive.load`, from a patch text already read (`path` names it in errors)."""
    return session_from_text(text, path, rate, block, size, fps, seed, **machine_args).machine


def session_from_text(text: str, path: str, rate: int = 48000, block: int = 128, size=None, fps=None,
                      seed=None, **machine_args):
    """As `patch.live.open_patch`, from a patch text already read: the PatchSession that
    applied it to a new machine (`session.machine`)."""
    from .core.machine import Machine
    from .patch.live import PatchSession
    from .patch.parse import parse
    patch = parse(text, path, types=machine_args.get("types"))
    s = patch.settings
    m = Machine(schedule=s["schedule"], rate=rate, block=block, fps=s["fps"] if fps is None else fps,
                seed=s["seed"] if seed is None else seed, size=tuple(size or s["size"]), **machine_args)
    session = PatchSession(m, path)
    session.apply(text, path, now=True)
    return session


class Replayer:
    """A before_tick hook: applies the logged changes due at `m.t`, in logged order, through
    the session that applied the log's first patch (and a Controller of its own)."""

    def __init__(self, session, log: SetLog):
        from .control import Controller
        self.session, self.m, self.log, self.i = session, session.machine, log, 0
        self.ctl = Controller(self.m, session, allow_load_anywhere=True)

    def __call__(self, m) -> None:
        ev = self.log.events
        while self.i < len(ev) and ev[self.i][1]["tick"] <= m.t:
            line, e = ev[self.i]
            self.i += 1
            try:
                self._apply(e)
            except DmmError as err:
                raise type(err)(f"{self.log.path}: line {line} (tick {e['tick']}): the change applied "
                                f"live fails in the replay: {err}") from None

    def _apply(self, e: dict) -> None:
        from .control import ERROR
        kind = e["kind"]
        if kind == "code":
            self.session.apply(e["text"], e["path"])
            return
        if kind in ("midi", "link") and ("tempo" in e or "beat" in e):  # an outside clock
            from .drivers.link import apply as steer
            steer(self.m, e.get("tempo"), e.get("beat"))
            return
        if kind == "midi":
            from .neurons.midi import apply
            apply(self.m, e["bytes"])
            return
        if kind == "input":  # the card's input, recorded beside the log from this tick on
            from .neurons.inputs import InputFeed
            self.m.before_tick.append(InputFeed(read_input(self.log.path, e), start=e["tick"] * self.m.block))
            return
        if kind == "knob":
            op, args = "knob", [e["address"], *e["values"]]
        else:
            op, args = e["op"], e["args"]
        errors = [r[1][1] for r in self.ctl.execute(op, args) if r[0] == ERROR]
        if errors:
            raise BadArgument(f"/dmm/{op} {args!r}: {errors[0]}")


def machine_from_log(source, size=None, fps=None, log: SetLog | None = None, types=None):
    """The machine of a log's first patch, with a hook that applies its changes as it ticks.

    Sound (rate, block, seed, limiter) as played; `size` and `fps` may differ for images.
    `types`: its neuron types (default: the standard table, whose shader files are the
    ones installed now; `logged_types(log.shaders)` gives the ones the log recorded, as
    `render.render_log` uses).
    """
    log = log or read_log(source)
    h = log.header
    session = session_from_text(h["text"], h["patch"], rate=h["rate"], block=h["block"], seed=h["seed"],
                                size=size or h["size"], fps=fps or h["fps"], limiter=h["limiter"], types=types)
    session.quant = float(h.get("quant", 0.0))  # play --quant
    m = session.machine
    m.set_schedule(h["schedule"])
    m.before_tick.append(Replayer(session, log))
    return m


def check_log(source) -> str:
    """Check a log without replaying it: its lines (`read_log`), the shader sources it
    recorded (parsed and compiled), its first patch and every patch text saved in it
    (each read as the replay reads it, after the one before), and every command's
    arguments. Returns a one-line summary; a DmmError names the log line at fault."""
    from . import commands
    from .gfx.types import ShadersBroken, compile_shaders
    from .patch.live import EMPTY_PATCH
    from .patch.parse import parse
    log = read_log(source)
    path = log.path
    types = logged_types(log.shaders)
    problems = compile_shaders(types)
    if problems:
        raise ShadersBroken(problems)
    h = log.header
    try:
        prev = parse(h["text"], h["patch"], previous=EMPTY_PATCH, types=types)
    except DmmError as e:
        raise BadArgument(f"{path}:1: the set's first patch does not read:\n{e}") from None
    counts = dict.fromkeys(("code", "osc", "knob", "midi", "link", "input"), 0)
    for line, e in log.events:
        kind = e["kind"]
        if kind == "end":
            continue
        counts[kind] += 1
        try:
            if kind == "code":
                prev = parse(e["text"], e["path"], previous=prev, types=types)
            elif kind == "midi":
                _check_midi(e, f"{path}:{line}")
            elif kind == "link":
                _check_clock(e, f"{path}:{line}", "link")
            elif kind == "input":
                read_input(path, e)
            else:
                op, args = ("knob", [e["address"], *e["values"]]) if kind == "knob" else (e["op"], e["args"])
                cmd = commands.get(op)
                if cmd is None:
                    raise BadArgument(f"unknown command {op!r}")
                cmd.check(args)
        except DmmError as err:
            raise BadArgument(f"{path}:{line}: the {kind} change at tick {e['tick']} does not apply:\n{err}") from None
    how = "ended cleanly" if log.end is not None else (log.warning or "not ended")
    return (f"{path}: ok: a set of {log.seconds:.1f} s ({log.ticks} ticks at {h['rate']} Hz, block {h['block']}) "
            f"from {h['patch']}: {counts['code']} saves, {counts['osc']} OSC commands, {counts['knob']} knob "
            f"moves" + (f", {counts['midi']} MIDI messages" if counts["midi"] else "")
            + (f", {counts['link']} Link changes" if counts["link"] else "")
            + (", its audio input" if counts["input"] else "") + f"; {how}")


def input_file(log_path) -> str:
    """The name of the file beside a log that holds the card's input (float32, interleaved)."""
    return Path(log_path).name + ".input.f32"


def read_input(log_path, e: dict):
    """The input frames an `input` line names: (frames, channels) float32, or BadArgument."""
    import numpy as np
    f = Path(log_path).parent / e["file"]
    try:
        x = np.fromfile(f, np.float32)
    except OSError as err:
        raise BadArgument(f"{log_path}: the audio input recorded beside it, {str(f)!r}, cannot be read: "
                          f"{err.strerror or err}") from None
    ch = e["channels"]
    return x[:len(x) - len(x) % ch].reshape(-1, ch)


def logged_types(shaders: dict):
    """A table of neuron types of its own: the standard one, with the shader types a log
    recorded ({name: source}) in place of the files' sources now (nothing global changes)."""
    from .gfx import shaders as glsl
    from .gfx import types as gt
    types = STANDARD.copy()
    for name, source in shaders.items():
        t = types.get(name)
        d = getattr(getattr(t, "fn", None), "shader", None)
        if t is not None and d is None:
            continue  # a Python type took the name since: it stays
        if d is not None and d.src.body == source:
            continue
        where = d.path if d is not None else f"{name}.frag (from the log)"
        file = d.file if d is not None else Path(f"<log>/{name}.frag")
        gt.register_shader(gt.ShaderDef(file, where, glsl.parse(source, where, name)), types)
    return types
