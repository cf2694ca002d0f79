"""Real-time sound output: the machine ticks in an engine process, the device plays from another.

Why processes. A PortAudio callback written in Python needs its process's GIL,
and every other Python thread of the app wants it too: the window's GL thread,
the OSC server, the file watcher, a garbage collection, a busy loop in a user's
script. Any of them can hold the GIL longer than a device period (5.3 ms at 256
frames); then the card plays silence. Even a thread of our own that ticks the
machine holds the GIL most of the time, and when the OS preempts it mid-tick
(a busy CPU) the callback waits for it. So there are two spawned processes
(spawn context: nothing of the parent's threads or locks comes along):

- the engine process builds the Machine by calling a picklable factory (a
  top-level function and its arguments; no machine is ever pickled). Its one
  thread ticks the machine ahead of the device into a ring buffer in shared
  memory, keeping `ahead` seconds of sound computed beyond the sample the device
  plays now, a block at a time as the device plays (paced: see `lead`),
  and applies the edits that arrive from the parent on a multiprocessing queue
  between ticks;
- the audio process opens the device; its PortAudio callback only copies frames
  out of the shared ring. Its main thread sleeps, so the callback never waits for
  the GIL;
- the parent reads the counters (ticks, frames played, xruns, latency, load)
  from shared memory at any time without a round trip; edit results, captured
  sound and the machine's reports come back on a second queue.

The ring has one writer (the engine) and one reader (the callback), each owning
one position counter, so it needs no lock. A slow tick (recompiling after an
edit, a busy CPU) only eats into `ahead`; the device underflows only if the
engine falls behind by more than that.

Scheduling. Where the system permits (root, or an rtprio limit as audio users
have), the callback thread runs in the real-time class (JACK running real-time
makes it so itself), and so does the engine thread, at the lowest real-time
priority, below the callback and the sound server: Linux shares the CPU fairly
between sessions (autogroups) before nice counts, so a busy program elsewhere
could otherwise starve the engine however it is niced. The engine sleeps once
`ahead` is computed, so it takes a whole core only when the machine is heavier
than real time. Both processes are also niced up, for systems that allow that
and not real time.

A PortAudio blocking stream (`write()` from the engine, no Python in the audio
thread) would need one process fewer, but PortAudio's JACK back end emulates it
with an internal FIFO that never reports an underflow, so xruns could not be
counted.

An xrun is a callback that found the ring short (the engine fell behind: the
device played silence for the missing frames) or a callback that PortAudio
flagged `output_underflow` (the host lost a period: e.g. a JACK xrun).

`NullOutput` runs the engine process alone, drained by a timer at real-time
pace instead of a device, for `--no-audio` (visuals only, or no sound card).
"""
from __future__ import annotations

import atexit
import gc
import itertools
import math
import multiprocessing as mp
import os
import pickle
import queue
import signal
import sys
import threading
import time
import weakref
from collections import deque
from typing import Callable

import numpy as np

from ..core import errors as _errors
from ..core.errors import BadArgument, DmmError
from ..core.registry import TICK_VM

__all__ = ["AudioEngine", "NullOutput", "AudioDeviceError", "EngineError", "xrun_detail"]


def xrun_detail(status: dict) -> str:
    """Where a status's xruns came from, for a status line: '' when there were none.

    ' (engine 1, host 2)': the engine fell behind once (its ring was short: it is
    too heavy for this machine, or was starved); the host lost two periods while
    the ring was full (the sound server or the system was late: on Linux, a sound
    server not running real-time, or a busy machine).
    """
    if not status.get("xruns"):
        return ""
    return f" (engine {status.get('short', 0):.0f}, host {status.get('underflows', 0):.0f})"


class AudioDeviceError(DmmError):
    """The sound device cannot be used (unknown name, no output, wrong rate, PortAudio missing)."""


class EngineError(DmmError):
    """The engine process failed, or is not running."""


# Shared status: one float64 each; each field has one writing process.
FIELDS = ("state", "audio_state", "rate", "block", "ticks", "frames", "device_frames", "callbacks",
          "short", "underflows", "latency", "load", "stream_load", "peak", "device_start",
          "device_time", "audio_rt", "margin", "cb_pos", "cb_time", "cb_frames",
          "cb_delay", "input_short", "input_skipped", "input_dropped")
_I = {name: i for i, name in enumerate(FIELDS)}
STARTING, RUNNING, STOPPED, FAILED = 0.0, 1.0, 2.0, -1.0

COMMAND_BUDGET = 0.002       # s of commands between two ticks while the ring needs sound
# A call's cost is guessed from its size (the characters of its text arguments: a patch
# text is diffed in time about linear in it) and then learned per function, plus the
# last recompile's; before a call the engine computes sound ahead to cover it (see _Engine).
COST_PER_CHAR = 5e-6         # s per character, before a function's first call is measured
HOLD_MAX = 1.0               # s a command waits at most (for its cover, or for the ring to fill)
GC_EVERY = gc.get_threshold()[0]  # net allocations that call for a collection (Python's own)
COST_SAFETY = 3.0            # the cover asked for: this times the guess, plus ahead / 2 (costs vary 2x here)
# A call's function goes to the engine by name (`_Fn`): unpickled, it would import its
# module in the engine's thread at once, the sound waiting (a test's module of probes,
# pytest and JACK-Client with it: 60-100 ms, 25-50 periods of 128 frames unplayed). A
# module not imported yet is guessed to take IMPORT_COST s, covered as a call's cost.
IMPORT_COST = 0.1
# The margin adapts: `ahead` is its floor. Over each MARGIN_WINDOW the engine takes its
# lowest lead (sound computed beyond the play position: `lead`), the host's late periods
# and how late it woke itself; where the device nearly ran dry (below one block), the host
# was late or the engine was kept off the CPU, the margin grows (by two blocks, or to cover
# the stall), and doubles after an engine xrun (at once), up to MARGIN_MAX; after
# MARGIN_CALM calm seconds it shrinks back a block a window. It starts at MARGIN_START
# (the first seconds are the busiest).
MARGIN_WINDOW = 0.25
MARGIN_CALM = 2.0
MARGIN_MAX = 0.25
MARGIN_START = 0.05
MAX_RATE = 192000            # sizes the ring before the machine (and its rate) exists
MAX_CALLBACK_FRAMES = 16384  # ring room for the largest device buffer we expect
ENGINE_NICE = -10            # nice increment of both processes, where permitted
AUDIO_RT_PRIORITY = 20       # SCHED_FIFO priority of the audio callback thread, where permitted
# The audio process's main thread (it wakes twice a second) runs real-time too, just above
# the engine: see _audio_main.
AUDIO_MAIN_RT_PRIORITY = 2
AUDIO_SWITCH_INTERVAL = 2e-4  # s a thread may keep the GIL when the callback asks for it
# SCHED_FIFO priority of the engine thread: the lowest, below the audio thread and the
# sound server (a real-time JACK gives its clients' audio threads its own priority - 5).
ENGINE_RT_PRIORITY = 1


class AudioEngine:
    """Plays a machine on a sound device: an engine process computes, an audio process plays.

    `factory(*args, **kwargs)` must return a Machine, or a Host (dmmlive.host: the
    machine and what runs around it; told before each tick when it will be heard, and
    the object `call`s run on), and be picklable by reference
    (a top-level function of an importable module); it runs in the engine process.
    `device`: a sounddevice name (a unique part of it) or index; None = the system
    default output. `rate` and `block`, when given, must match the machine's
    (they are checked). `blocksize`: frames per device callback (0 = the host's
    choice); the ring decouples it from the machine's block. `latency`:
    PortAudio's suggested output latency ('low', 'high' or seconds). `ahead`:
    seconds of sound the engine keeps computed ahead of the device at least: the
    margin that absorbs a slow tick; it grows while the device comes close to running
    dry and shrinks back when calm (`status()["margin"]`). What you hear lags an
    edit by about `margin + latency`. `priority`: nice both processes up and put the audio
    callback thread and the engine thread (below the callback and the sound
    server) in the real-time class, where the system permits (root, or an
    rtprio/nice limit); `info["nice"]`, `info["engine_thread"]` and
    `status()["audio_thread"]` say what was got. Use as a context manager, or
    `start()` and `stop()`.
    """

    _null = False

    def __init__(self, factory: Callable, args: tuple = (), kwargs: dict | None = None, *,
                 device: int | str | None = None, rate: int | None = None, block: int | None = None,
                 blocksize: int = 0, latency: float | str = "low", ahead: float = 0.01,
                 priority: bool = True, start_timeout: float = 60.0, midi_out: str | None = None,
                 input_device: int | str | None = None, input_channels: int = 2):
        if not callable(factory):
            raise BadArgument(f"factory must be a function that returns a Machine, got {factory!r}")
        if isinstance(device, bool) or device is not None and not isinstance(device, (int, str)):
            raise BadArgument(f"device must be a name, an index or None, got {device!r}")
        if isinstance(ahead, bool) or not isinstance(ahead, (int, float)) or not 0 <= ahead <= 10:
            raise BadArgument(f"ahead must be seconds between 0 and 10, got {ahead!r}")
        if not (latency in ("low", "high") or isinstance(latency, (int, float))
                and not isinstance(latency, bool) and math.isfinite(latency) and latency >= 0):
            raise BadArgument(f"latency must be 'low', 'high' or seconds, got {latency!r}")
        if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 0:
            raise BadArgument(f"blocksize must be a number of frames >= 0, got {blocksize!r}")
        if isinstance(input_device, bool) or input_device is not None and not isinstance(input_device, (int, str)):
            raise BadArgument(f"input_device must be a name, an index or None, got {input_device!r}")
        if isinstance(input_channels, bool) or not isinstance(input_channels, int) or not 1 <= input_channels <= 8:
            raise BadArgument(f"input_channels must be a whole number from 1 to 8, got {input_channels!r}")
        self.factory, self.args, self.kwargs = factory, tuple(args), dict(kwargs or {})
        self.config = {"device": device, "rate": rate, "block": block, "blocksize": blocksize,
                       "latency": latency, "ahead": float(ahead), "null": self._null,
                       "priority": bool(priority), "midi_out": midi_out,
                       "input_device": input_device, "input_channels": input_channels, "input_at": None}
        self.start_timeout = float(start_timeout)
        self.info: dict = {}
        self.reports: deque = deque(maxlen=256)  # machine reports and rejected edits, newest last
        # the frames a machine publishing them made (Machine(publish_frames=True)), each
        # with "at": the wall-clock time its tick is heard; the oldest drop past 64
        self.frames: deque = deque(maxlen=64)
        self._engine = self._audio = self._finalizer = None
        self._seq = itertools.count(1)
        self._results: dict = {}
        self._waited: set = set()
        self._cv = threading.Condition()
        self._engine_ready = threading.Event()
        self._audio_ready = threading.Event()
        self._engine_done = threading.Event()
        self._error = None
        self._reader = None
        self._status = None
        self._pos = None

    # ---- life cycle -----------------------------------------------------------------
    def start(self) -> "AudioEngine":
        """Start the engine and the device; returns when sound is flowing.

        Raises AudioDeviceError when the device cannot be used, or the DmmError the
        factory raised; nothing is left running then.
        """
        if self._engine is not None:
            raise EngineError("this engine was started already; make a new one")
        try:
            pickle.dumps((self.factory, self.args, self.kwargs))
        except Exception as e:
            raise BadArgument(f"the factory and its arguments go to the engine process, so they must "
                              f"be picklable (a top-level function): {type(e).__name__}: {e}") from None
        ctx = mp.get_context("spawn")
        cap = 1 << (int(self.config["ahead"] * MAX_RATE) + 2 * MAX_CALLBACK_FRAMES - 1).bit_length()
        self._status = ctx.RawArray("d", len(FIELDS))
        ring = ctx.RawArray("f", 2 * cap)
        self._pos = ctx.RawArray("q", 2)  # frames written (engine), frames read (device)
        self._cmds, self._replies = ctx.Queue(), ctx.Queue()
        self._stop_audio = ctx.Event()
        shared = (self._status, ring, self._pos)
        if self.config.get("midi_out"):  # MIDI out in the JACK graph (drivers/midi.py): its events
            from .midi import EVENTS
            shared += (ctx.RawArray("q", 4 * EVENTS), ctx.RawArray("q", 2))
        if self.config["input_device"] is not None and not self._null:  # duplex: what the card hears
            self.config["input_at"] = len(shared)
            shared += (ctx.RawArray("f", self.config["input_channels"] * cap), ctx.RawArray("q", 2))
        self._engine = ctx.Process(target=_engine_main, name="dmmlive-engine", daemon=True,
                                   args=(self.factory, self.args, self.kwargs, self.config,
                                         self._cmds, self._replies, shared))
        self._engine.start()
        if not self._null:
            self._audio = ctx.Process(target=_audio_main, name="dmmlive-audio", daemon=True,
                                      args=(self.config, self._replies, self._stop_audio, shared))
            self._audio.start()
        else:
            self._audio_ready.set()
        # Stopped in order (device first) if the engine is dropped or Python exits unstopped.
        self._finalizer = weakref.finalize(self, _shutdown, self._engine, self._audio, self._stop_audio,
                                           self._cmds, self._engine_ready, 5.0)
        atexit.register(self._finalizer)  # runs before multiprocessing's own exit hook kills them
        self._reader = threading.Thread(target=self._read_replies, name="dmmlive-engine-replies",
                                        daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        for ev in (self._engine_ready, self._audio_ready):
            while not ev.is_set() and self._error is None:
                if time.monotonic() > deadline:
                    self._error = EngineError(f"the audio engine did not start within {self.start_timeout:g} s")
                    break
                ev.wait(0.05)
        if self._error is not None:
            err = self._error
            self.stop(timeout=5.0)
            raise err
        return self

    def stop(self, timeout: float = 10.0) -> dict:
        """Stop the device, then the engine; returns the last status."""
        if self._engine is None:
            return self.status()
        if self._finalizer is not None:
            self._finalizer.detach()
        _shutdown(self._engine, self._audio, self._stop_audio, self._cmds, self._engine_ready, timeout)
        self._engine_done.set()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5.0)
        return self.status()

    def __enter__(self) -> "AudioEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.status()["running"]

    # ---- talking to the engine ---------------------------------------------------------
    def edit(self, delta: dict | None = None, declare: dict | None = None, *,
             wait: bool = False, timeout: float = 5.0) -> int:
        """Send `Machine.edit(delta, declare)` to the engine, applied before its next tick.

        wait=False: returns at once (an id); a rejected edit is added to `reports`.
        wait=True: returns the machine's tick count when the edit was queued (the
        ticks after it show the change, with the schedule's delay), or raises the
        machine's DmmError for a rejected edit, which changed nothing.
        """
        self._check_running()
        seq = next(self._seq)
        if wait:
            with self._cv:
                self._waited.add(seq)
        self._cmds.put(("edit", seq, delta, declare))
        if not wait:
            return seq
        tick, err = self._wait_result(seq, timeout, "edit")
        if err is not None:
            raise err
        return tick

    def call(self, fn: Callable, *args, wait: bool = True, timeout: float = 10.0):
        """Run `fn(made, *args)` in the engine between two ticks and return its result
        (`made`: what the factory made, the Host or the Machine).

        `fn` must be picklable by reference (a top-level function); it goes by name, and
        the engine imports its module, where it has not yet, once the ring covers that
        (IMPORT_COST). Its result must pickle. A DmmError it raises is raised here
        (wait=True) or added to `reports` (wait=False, which returns an id at once). This
        is how patch reloads and OSC commands reach the machine.
        """
        self._check_running()
        seq = next(self._seq)
        if wait:
            with self._cv:
                self._waited.add(seq)
        self._cmds.put(("call", seq, _Fn.of(fn), args))
        if not wait:
            return seq
        result, err = self._wait_result(seq, timeout, "call")
        if err is not None:
            raise err
        return result

    def capture(self, frames: int, timeout: float = 10.0) -> tuple[int, np.ndarray]:
        """The next `frames` frames the engine computes: (tick, (frames, 2) float32 array).

        `tick` is the machine's tick count after the tick that made the first frame;
        the capture begins after the commands sent before it.
        """
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise BadArgument(f"frames must be a positive int, got {frames!r}")
        self._check_running()
        seq = next(self._seq)
        self._cmds.put(("capture", seq, frames))
        return self._wait_result(seq, timeout, "capture")

    def status(self) -> dict:
        """Counters read from shared memory; cheap, never blocks.

        ticks: ticks computed; frames/blocks: machine sound delivered to the device;
        xruns = short (callbacks that found the ring short) + underflows (PortAudio's
        output_underflow flags); latency: the device's output latency (s); ahead:
        sound computed beyond the sample the device plays now (s, before its own output
        latency); margin: what the engine keeps computed
        now (s: `ahead` at least, more while the device came close to running dry); load: engine compute time / real
        time; stream_load: PortAudio's callback load; peak: |sample| max of the
        last computed block; device_time: the device clock since the first callback
        (s); audio_thread: 'realtime' when the callback thread got the real-time class.
        With an input device: input_short (blocks the engine found no input for: silence),
        input_skipped (input frames passed over to keep the input's lag at the margin),
        input_dropped (frames the card gave while the engine was not reading).
        """
        v = dict(zip(FIELDS, list(self._status) if self._status is not None else [0.0] * len(FIELDS)))
        rate, block = int(v["rate"]), max(1, int(v["block"]))
        alive = self._engine is not None and self._engine.is_alive() and (
            self._null or self._audio is not None and self._audio.is_alive())
        out = {"running": alive and v["state"] == RUNNING and (self._null or v["audio_state"] == RUNNING),
               "device": self.info.get("device"), "rate": rate, "block": block}
        for k in ("ticks", "frames", "device_frames", "callbacks", "short", "underflows"):
            out[k] = int(v[k])
        out["blocks"] = out["frames"] // block
        out["xruns"] = out["short"] + out["underflows"]
        out["latency"] = v["latency"]
        w, r = (int(self._pos[0]), int(self._pos[1])) if self._pos is not None else (0, 0)
        out["ahead"] = lead(w, r, v["cb_pos"], v["cb_time"], v["cb_frames"], rate) / rate if rate else 0.0
        out["margin"] = v["margin"]
        for k in ("load", "stream_load", "peak"):
            out[k] = v[k]
        out["device_time"] = max(0.0, v["device_time"] - v["device_start"]) if out["callbacks"] else 0.0
        out["audio_thread"] = "realtime" if v["audio_rt"] else "normal"
        if self.config.get("input_at") is not None:  # a duplex device: its input's counters
            for k in ("input_short", "input_skipped", "input_dropped"):
                out[k] = int(v[k])
        return out

    # ---- internals --------------------------------------------------------------------
    def _check_running(self):
        if self._engine is None or not self._engine.is_alive() or self._engine_done.is_set():
            raise EngineError("the audio engine is not running (start() it first)")

    def _wait_result(self, seq, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cv:
            while seq not in self._results:
                left = deadline - time.monotonic()
                if left <= 0 or self._engine_done.is_set():
                    self._waited.discard(seq)
                    raise EngineError(f"no answer from the audio engine to a {what} within {timeout:g} s"
                                      if left <= 0 else f"the audio engine stopped before answering a {what}")
                self._cv.wait(min(left, 0.1))
            self._waited.discard(seq)
            return self._results.pop(seq)

    def _fail(self, err):
        if self._error is None:
            self._error = err
        if self._engine_ready.is_set() and self._audio_ready.is_set():
            self.reports.append(f"audio engine failed: {err}")

    def _read_replies(self):
        procs = [p for p in (self._engine, self._audio) if p is not None]
        while True:
            try:
                msg = self._replies.get(timeout=0.2)
            except queue.Empty:
                if not self._engine.is_alive() and not self._engine_done.is_set():
                    if not self._engine_ready.is_set():
                        self._fail(EngineError(
                            f"the engine process ended (exit code {self._engine.exitcode}) before it "
                            "started; a script that starts an engine must do so under "
                            "`if __name__ == '__main__':` (the engine process imports the script)"))
                    self._engine_done.set()
                    with self._cv:
                        self._cv.notify_all()
                if self._audio is not None and not self._audio.is_alive() and not self._audio_ready.is_set():
                    self._fail(EngineError(f"the audio process ended (exit code {self._audio.exitcode}) "
                                           "before it started"))
                if not any(p.is_alive() for p in procs):
                    return
                continue
            except (EOFError, OSError):
                return
            kind = msg[0]
            if kind == "ready":
                self.info.update(msg[1])
                self._engine_ready.set()
            elif kind == "audio-ready":
                self.info.update(msg[1])
                self._audio_ready.set()
            elif kind == "error":
                self._fail(_rebuild_error(msg[1], msg[2]))
            elif kind == "report":
                self.reports.append(msg[1])
            elif kind == "frame":
                self.frames.append(msg[1])
            elif kind in ("edit", "capture", "call"):
                seq = msg[1]
                with self._cv:
                    if kind == "call":
                        err = _rebuild_error(*msg[3]) if msg[3] else None
                        if err is not None and seq not in self._waited:
                            self.reports.append(str(err))
                        self._results[seq] = (msg[2], err)
                    elif kind == "edit":
                        err = _rebuild_error(*msg[3]) if msg[3] else None
                        if err is not None and seq not in self._waited:
                            self.reports.append(f"edit rejected: {msg[3][1]}")
                        self._results[seq] = (msg[2], err)
                    else:
                        self._results[seq] = (msg[2], msg[3])
                    self._cv.notify_all()
            elif kind == "stopped":
                self._engine_done.set()
                with self._cv:
                    self._cv.notify_all()


class NullOutput(AudioEngine):
    """The engine without a device (`--no-audio`): a timer drains the sound at real-time
    pace, so the machine runs as it would on a card (for visuals, or no sound card).
    Same API as AudioEngine."""

    _null = True

    def __init__(self, factory: Callable, args: tuple = (), kwargs: dict | None = None, *,
                 rate: int | None = None, block: int | None = None, ahead: float = 0.01,
                 priority: bool = True, start_timeout: float = 60.0):
        super().__init__(factory, args, kwargs, rate=rate, block=block, ahead=ahead,
                         priority=priority, start_timeout=start_timeout)


def _shutdown(engine, audio, stop_audio, cmds, engine_ready, timeout: float) -> None:
    """Stop the audio process (it closes the device and lets go of the host), then the engine."""
    if audio is not None:
        stop_audio.set()
        audio.join(timeout)
    if engine.is_alive() and engine_ready.is_set():  # one that never got ready holds nothing
        cmds.put(("stop",))
        engine.join(timeout)
    for p in (audio, engine):
        if p is not None and p.is_alive():
            p.terminate()
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)


def _rebuild_error(cls_name: str, message: str) -> DmmError:
    if cls_name == "AudioDeviceError":
        return AudioDeviceError(message)
    cls = getattr(_errors, cls_name, None)
    if isinstance(cls, type) and issubclass(cls, DmmError):
        return cls(message)
    return EngineError(message)


def _error_message(e: BaseException):
    return type(e).__name__, (str(e) if isinstance(e, DmmError) else f"{type(e).__name__}: {e}")


class _Ring:
    """Stereo float32 frames in shared memory; one writer, one reader, no lock.

    pos[0] (frames written) is stored by the writer after the frames, pos[1]
    (frames read) by the reader after copying them out.
    """

    def __init__(self, data, pos, channels: int = 2):
        self.buf = np.frombuffer(data, np.float32).reshape(-1, channels)
        self.cap = len(self.buf)
        self.pos = np.frombuffer(pos, np.int64)

    def fill(self) -> int:
        return int(self.pos[0] - self.pos[1])

    def write(self, block: np.ndarray) -> None:
        w = int(self.pos[0])
        n, i = len(block), w % self.cap
        k = min(n, self.cap - i)
        self.buf[i:i + k] = block[:k]
        if k < n:
            self.buf[:n - k] = block[k:]
        self.pos[0] = w + n

    def read(self, out, frames: int) -> int:
        """Copy up to `frames` frames into `out` (None: drop them); zero the rest; return the count."""
        r = int(self.pos[1])
        n = max(0, min(frames, int(self.pos[0]) - r))
        if out is not None:
            i = r % self.cap
            k = min(n, self.cap - i)
            out[:k] = self.buf[i:i + k]
            if n > k:
                out[k:n] = self.buf[:n - k]
            if n < frames:
                out[n:] = 0.0
        self.pos[1] = r + n
        return n


def _child_setup(priority: bool) -> int:
    # Stopping is the parent's to do, in order (the device, then the engine): Ctrl-C and a
    # closed terminal's SIGHUP reach the whole process group, a service manager's SIGTERM
    # the whole cgroup. (So `_shutdown`'s terminate() of a child stuck past its timeout
    # does nothing: its kill() 2 s later ends it.) `dmmlive play` starts children with
    # these blocked (app.StopSignals), so none comes before this: unblocked once ignored.
    sigs = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    for s in sigs:
        signal.signal(s, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
    return _raise_priority() if priority else os.nice(0)


# ---- the engine process ------------------------------------------------------------------
def _engine_main(factory, args, kwargs, config, cmds, replies, shared):
    nice = _child_setup(config["priority"])
    status = np.frombuffer(shared[0], np.float64)
    try:
        import dmmlive  # noqa: F401  (fills the type table)
        from ..core.machine import Machine
        made = factory(*args, **kwargs)
        m = getattr(made, "machine", made)  # a Host (dmmlive.host), or a bare Machine
        if not isinstance(m, Machine):
            raise BadArgument(f"the factory {getattr(factory, '__name__', factory)!r} returned "
                              f"{type(made).__name__}, not a Machine or a Host")
        for key in ("rate", "block"):
            want = config[key]
            if want is not None and int(want) != getattr(m, key):
                raise BadArgument(f"{key} {want} was asked for but the machine's {key} is "
                                  f"{getattr(m, key)}: build the machine with {key}={want}")
        engine = _Engine(made, config, cmds, replies, status, _Ring(shared[1], shared[2]))
        if config.get("input_at") is not None:  # the card's input, from the audio process
            i = config["input_at"]
            engine.input = _Ring(shared[i], shared[i + 1], config["input_channels"])
            engine.inbuf = np.zeros((m.block, config["input_channels"]), np.float32)
        if len(shared) > 3 and engine.host is not None:  # MIDI out in the JACK graph: the events go there
            from .midi import EventRing
            engine.host.midi_events = EventRing(shared[3], shared[4])
        engine.info["nice"] = nice
        status[_I["rate"]], status[_I["block"]] = m.rate, m.block  # the audio process waits for these
        engine.prefill()
        gc.collect()
        gc.freeze()  # the machine and the libraries: never scanned again by a collection
        gc.disable()  # collections run between ticks, when the ring covers them (_Engine._collect)
        if config["priority"] and not config["null"]:
            # Nice is not enough: Linux shares the CPU fairly between sessions (autogroups)
            # before nice counts, so a busy process elsewhere can starve a niced engine.
            # The engine sleeps whenever `ahead` is computed, so it takes a core only
            # when the machine is heavier than real time.
            engine.info["engine_thread"] = "realtime" if _realtime_thread(ENGINE_RT_PRIORITY) else "normal"
        status[_I["state"]] = RUNNING
        engine.begin()
        replies.put(("ready", engine.info))
        engine.loop()
        status[_I["state"]] = STOPPED
    except BaseException as e:  # noqa: BLE001  (sent to the parent, which raises it)
        status[_I["state"]] = FAILED
        replies.put(("error",) + _error_message(e))
    finally:
        replies.put(("stopped",))


class _Engine:
    """Ticks the machine into the ring whenever less than `ahead` frames are computed beyond
    the sample the device plays now (`_lead`): a block at a time, as the device plays.

    Commands run between ticks, while the ring holds sound enough to cover them. Most
    take microseconds. A patch reload diffs and then recompiles the plan at the next
    tick: about 10 ms for 100 neurons, 150 ms for 1,000 on this project's 2-core test
    machine, more than `ahead`. So each call is given a cost: its own time, guessed
    from the length of its text arguments and then learned per function from what
    its last call took, plus a recompile, as long as the last one took, unless the
    last call of its kind left W as it was (a call that changes W, a reload or an OSC
    `/dmm/set`, costs one compile: ~40 ms at 1,000 neurons, ~4 ms at 100; the engine
    times the ticks that compile). Before
    it runs the engine computes sound ahead, up to what the ring holds (about a
    second), until the ring covers COST_SAFETY (3) times that cost plus half of `ahead`,
    and keeps that much computed until the reload's glide has ended (its end may
    recompile the plan again). A big reload is then heard later, by the time it
    takes, instead of as a gap; a small one (under ~8 ms) is not delayed at all.
    """

    def __init__(self, made, config, cmds, replies, status, ring):
        m = getattr(made, "machine", made)
        # calls run as functions of what the factory made (a Host, or the Machine); a Host
        # hears before each tick when that tick will be played (`will_tick`)
        self.target_of_calls, self.host = made, (made if made is not m else None)
        self.m, self.config, self.cmds, self.replies, self.S, self.ring = m, config, cmds, replies, status, ring
        self.B, self.rate = m.block, m.rate
        self.period = self.B / self.rate
        self.ahead = max(int(round(config["ahead"] * self.rate)), 2 * self.B)
        if self.ahead + self.B + MAX_CALLBACK_FRAMES > ring.cap:
            raise BadArgument(f"ahead={config['ahead']} s at {self.rate} Hz does not fit the ring buffer")
        self.max_fill = ring.cap - self.B - MAX_CALLBACK_FRAMES  # the most the engine computes ahead
        self.base = self.ahead    # the margin's floor; self.ahead adapts (see MARGIN_WINDOW)
        self.margin_max = min(self.max_fill, max(self.base, int(MARGIN_MAX * self.rate)))
        # it starts high (the first seconds compile kernels and the first plans, and the
        # processes settle) and comes down to the floor once calm
        self.ahead = min(self.margin_max, max(self.base, int(MARGIN_START * self.rate)))
        self.low = self.max_fill  # the lowest lead seen in this window (frames)
        self.window_end = 0.0
        self.calm_since = time.perf_counter()
        self.short_seen = self.under_seen = 0
        self.late = 0.0           # s the engine woke past its time at most in this window
        self.inbox: deque = deque()  # commands taken from the queue while waiting for one
        self.target = self.ahead  # frames to keep computed: ahead, or more to cover a held command
        self.held = None          # a command waiting for the ring to cover it
        self.waiting_since = None  # perf_counter time commands began to wait (None: none wait)
        self.cost: dict = {}      # fn -> seconds per unit of size, learned from its last call
        self.compile_cost = 0.0   # s the last tick that recompiled the plan took beyond the usual
        self.changes_w: dict = {}  # (fn, has arguments) -> whether the tick after its last call compiled
        self.gc_cost = [0.001, 0.005, 0.05]  # s a collection of each generation took last (learned)
        self.gc_since = None      # perf_counter time a collection began to wait for its cover
        self.last_call = None     # the (fn, has arguments) of the last call, until the next tick
        self.cover = 0            # frames to keep computed after a heavy call (0: none)
        self.cover_until = 0.0    # perf_counter time the cover may end, once no glide runs
        self.stopping = False
        # DMMLIVE_PACE=0: count the margin from the ring's read position instead (a whole
        # device period topped up at once; for comparisons, docs/engine.md)
        self.pace = os.environ.get("DMMLIVE_PACE", "1") != "0"
        self.pacing = self.pace     # paced now (not since trouble: see _adapt)
        self.troubled = -math.inf   # perf_counter time of the last window with a stall or an xrun
        self.input = self.inbuf = None  # the card's input ring (a duplex device), and a block of it
        self.in_keep, self.in_calm = 0, 0.0  # input frames held back (see _take_input), since when calm
        self.captures: list = []
        self.load = 0.0
        self.clock = None
        self.info = {"rate": self.rate, "block": self.B, "ahead": self.base / self.rate}
        m.on_report = lambda msg: self.replies.put(("report", msg))
        if self.host is not None:  # when each sample is played (MIDI out sends by it: drivers/midi.py)
            self.host.device_clock = self.device_clock
            self.host.device_delay = self.device_delay  # (Link: drivers/link.py)
        for msg in list(m.reports):
            self.replies.put(("report", msg))

    def prefill(self):
        vm = TICK_VM.get("vm")
        if vm is not None:  # the compiled tick compiled (or loaded) now, not at a tick that plays
            vm.warm()
        while self.ring.fill() < self.ahead:
            self._tick()
        # what a compile by change costs this machine at least, measured (the first ticks'
        # times hold the kernels' just-in-time compiling, not the plan's); learned after
        t0 = time.perf_counter()
        self.m.compile(fresh=False)
        self.compile_cost = time.perf_counter() - t0

    def begin(self):
        if self.config["null"]:
            self.info["device"] = "null (timer)"
            self.clock = threading.Thread(target=self._timer, name="dmmlive-null-clock", daemon=True)
            self.clock.start()

    def loop(self):
        parent = mp.parent_process()
        housekeeping = 0.0
        while not self.stopping:
            if self.held is not None or self.inbox or not self.cmds.empty():
                self._commands()
                if self.stopping:
                    break
            if self.cover and self.held is None and time.perf_counter() > self.cover_until \
                    and not self.m.gliding:
                self.cover, self.target = 0, self.ahead
            if gc.get_count()[0] >= GC_EVERY:
                self._collect()
            fill = self._lead()
            if fill < self.low:
                self.low = fill
            if fill < self.target:
                self._tick()
            else:  # wait until about one block has been played, or a command comes
                wait = min(0.005, max(0.0005, (fill - self.ahead + 1) / self.rate))
                t_wait = time.perf_counter()
                try:
                    self.inbox.append(self.cmds.get(timeout=wait))
                except queue.Empty:  # woke by the clock: how late (the CPU was taken from it)
                    self.late = max(self.late, time.perf_counter() - t_wait - wait)
            now = time.perf_counter()
            if now >= self.window_end or self.S[_I["short"]] > self.short_seen:  # an xrun: at once
                self.window_end = now + MARGIN_WINDOW
                self._adapt(now)
            if now >= housekeeping:
                housekeeping = now + 0.25
                if parent is not None and not parent.is_alive():
                    break
        if self.clock is not None:
            self.clock.join(1.0)

    def _adapt(self, now) -> None:
        """The margin after a window. More at once where the ring came within a block of
        running dry, where the host flagged a late period while the ring ran low, or where
        the engine was kept off the CPU past what the margin covers (it then covers that
        stall and three blocks); twice as much after an engine xrun. Once MARGIN_CALM seconds passed with none of these
        and never less than two blocks left, a block less each window while that holds;
        never under `ahead`."""
        low, self.low = self.low, self.max_fill
        late, self.late = self.late, 0.0
        short, under = int(self.S[_I["short"]]), int(self.S[_I["underflows"]])
        stalled = int(late * self.rate) > self.ahead - 3 * self.B
        host_late = under > self.under_seen and low < 2 * self.B  # and the ring ran low with it
        if short > self.short_seen or low < self.B or host_late or stalled:
            grow = self.ahead if short > self.short_seen else 2 * self.B
            need = int(late * self.rate) + 3 * self.B if stalled else 0
            self.ahead = min(self.margin_max, max(self.ahead + grow, need))
            self.calm_since = self.troubled = now
        elif low < 2 * self.B:
            self.calm_since = now
        elif self.ahead > self.base and now - self.calm_since >= MARGIN_CALM:
            self.ahead = max(self.base, self.ahead - self.B)  # and on, a block a window
        self.short_seen, self.under_seen = short, under
        # paced while calm: after a stall, an xrun or a late host the whole device period
        # is topped up at once (every block then waits at least a period before it is due)
        # until MARGIN_CALM s have passed without
        self.pacing = self.pace and now - self.troubled >= MARGIN_CALM
        self.target = max(self.target, self.ahead) if self.held is not None else max(self.ahead, self.cover)
        self.S[_I["margin"]] = self.ahead / self.rate

    def _lead(self) -> int:
        """Frames computed beyond the sample the device plays now (`lead`); while not pacing
        (see `_adapt`), the ring's fill."""
        clock = self.device_clock() if self.pacing else None
        if clock is None:
            return self.ring.fill()
        return lead(int(self.ring.pos[0]), int(self.ring.pos[1]), *clock, self.rate)

    def device_clock(self):
        """(ring position, monotonic time, frames): the device's last period began playing the
        sample at that ring position at that time (a sample `p` is played at time + (p -
        position) / rate); None before the first period."""
        S = self.S
        for _ in range(4):
            n = S[_I["callbacks"]]
            pos, t, frames = S[_I["cb_pos"]], S[_I["cb_time"]], S[_I["cb_frames"]]
            if n and S[_I["callbacks"]] == n:
                return int(pos), float(t), int(frames)
        return None

    def device_delay(self) -> float:
        """Seconds from the start of the device's last period to its first sample leaving the
        converter (PortAudio's outputBufferDacTime - currentTime; 0 for NullOutput)."""
        return float(self.S[_I["cb_delay"]])

    def _timer(self):
        """NullOutput's device: drain one block per period, on an absolute schedule."""
        S, t0 = self.S, time.monotonic()
        due = t0
        while not self.stopping:
            due += self.period
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # suspended or stalled for long: no catching up
                due = time.monotonic()
            S[_I["cb_pos"]], S[_I["cb_time"]], S[_I["cb_frames"]] = self.ring.pos[1], time.monotonic(), self.B
            n = self.ring.read(None, self.B)
            if n < self.B:
                S[_I["short"]] += 1
            S[_I["device_time"]] = time.monotonic() - t0
            S[_I["callbacks"]] += 1
            S[_I["frames"]] += n
            S[_I["device_frames"]] += self.B

    def _tick(self):
        t0 = time.perf_counter()
        m = self.m
        compiles = m.compiles
        heard_in = self._lead() / self.rate  # s until this tick's sound is played
        if self.input is not None:
            self._take_input(m)
        if self.host is not None:  # (the timed commands' clock)
            self.host.write_pos = int(self.ring.pos[0])
            self.host.will_tick(heard_in)
        m.tick()
        if self.host is not None:  # (before its sound is in the ring: MIDI out stamps by it)
            self.host.ticked()
        while m.frames_out:  # a frame goes to the window, with when its tick is heard
            rec = m.frames_out.popleft()
            rec["at"] = time.time() + heard_in
            self.replies.put(("frame", rec))
        s = m.sound()
        self.ring.write(s)
        dt = time.perf_counter() - t0
        if self.last_call is not None:
            self.changes_w[self.last_call], self.last_call = m.compiles != compiles, None
        if m.compiles != compiles:  # W changed: this tick compiled the plan
            self.compile_cost = max(dt - 2.0 * self.load * self.period, 0.8 * self.compile_cost)
        self.load += 0.02 * (dt / self.period - self.load)  # moving average over ~50 ticks
        S = self.S
        S[_I["ticks"]] = m.t
        S[_I["load"]] = self.load
        S[_I["peak"]] = float(np.abs(s).max(initial=0.0))
        if self.captures:
            self._capture(s)

    def _take_input(self, m):
        """The next block of the card's input into the machine (`input` neurons), and into
        the set log. The input comes late by the engine's lead over the card (the margin)
        and by `in_keep`, input held back to cover the times the engine runs further ahead
        (a command's cover, a margin that grows): a block not there yet is silence and
        grows `in_keep` by what was missing (up to MARGIN_MAX); what piles up beyond it, a
        block and a device period is skipped, so the lag comes back down as `in_keep`
        decays when calm (a block every MARGIN_CALM s). Counted: `input_short` (blocks),
        `input_skipped` (frames)."""
        r, S, B = self.input, self.S, self.B
        now = time.perf_counter()
        if self.in_keep and now - self.in_calm > MARGIN_CALM:
            self.in_keep, self.in_calm = max(0, self.in_keep - B), now
        extra = r.fill() - B - int(S[_I["cb_frames"]]) - self.in_keep
        if extra > 0:
            r.pos[1] = int(r.pos[1]) + extra
            S[_I["input_skipped"]] += extra
        n = r.read(self.inbuf, B)
        if n < B and S[_I["callbacks"]] > 0:
            S[_I["input_short"]] += 1
            self.in_keep = min(self.in_keep + B - n, int(MARGIN_MAX * self.rate))
            self.in_calm = now
        ch = self.inbuf.shape[1]
        m.audio_in[:ch] = self.inbuf.T
        log = getattr(self.host, "log", None)
        if log is not None:
            log.input_block(m.t + 1, self.inbuf)

    def _capture(self, s):
        keep = []
        for c in self.captures:
            if c["tick"] is None:
                c["tick"] = self.m.t
            c["blocks"].append(s.copy())
            c["left"] -= len(s)
            if c["left"] <= 0:
                self.replies.put(("capture", c["seq"], c["tick"], np.concatenate(c["blocks"])[:c["frames"]]))
            else:
                keep.append(c)
        self.captures = keep

    def _commands(self):
        # sound first: commands run while the ring holds at least half its margin, and
        # a few ms at a time when it is not full; the rest wait for the next turn. But
        # none waits more than HOLD_MAX: a machine too heavy to get ahead (xruns already)
        # must still take the save that lightens it, and the stop.
        t0 = time.perf_counter()
        if self.waiting_since is None:
            self.waiting_since = t0
        starved = t0 - self.waiting_since > HOLD_MAX
        while True:
            fill = self._lead()
            if (fill < self.ahead // 2 and not starved) or \
                    (fill < self.ahead and time.perf_counter() - t0 > COMMAND_BUDGET):
                return
            if self.held is not None:
                cmd, self.held = self.held, None
            elif self.inbox:
                cmd = self.inbox.popleft()
            else:
                try:
                    cmd = self.cmds.get_nowait()
                except queue.Empty:
                    self.waiting_since = None
                    return
            if cmd[0] == "call":
                guess = self._guess(cmd)
                need = min(self.max_fill, self.ahead // 2 + int(COST_SAFETY * guess * self.rate))
                have = need  # (and its module's import first, where the engine has not imported it)
                if isinstance(cmd[2], _Fn) and not cmd[2].loaded():
                    have = min(self.max_fill, need + int(COST_SAFETY * IMPORT_COST * self.rate))
                if fill < have and not starved:  # compute sound ahead to cover it first
                    self.held, self.target = cmd, max(self.ahead, have)  # (commands keep their order)
                    return
                if guess > COMMAND_BUDGET:
                    # A heavy call (a reload) recompiles the plan at the next tick, and again
                    # when its glide ends if it removed weights: the cover stays until then,
                    # so those ticks find the ring full instead of at `ahead`.
                    self.cover = max(self.cover, need)
                    self.cover_until = time.perf_counter() + 2 * guess + 0.1
            self.target = max(self.ahead, self.cover)
            self.waiting_since = None if not starved else self.waiting_since
            op = cmd[0]
            if op == "stop":
                self.stopping = True
                return
            if op == "edit":
                _, seq, delta, declare = cmd
                try:
                    self.m.edit(delta, declare)
                    err = None
                except Exception as e:  # noqa: BLE001  (a bad edit never stops the music)
                    err = _error_message(e)
                self.replies.put(("edit", seq, self.m.t, err))
            elif op == "call":
                _, seq, fn, args = cmd
                t_call = time.perf_counter()
                try:
                    if isinstance(fn, _Fn):
                        fn = fn.resolve()  # (an import, covered above: not the call's own cost)
                        t_call = time.perf_counter()
                    result, err = fn(self.target_of_calls, *args), None
                except Exception as e:  # noqa: BLE001  (a failed command never stops the music)
                    result, err = None, _error_message(e)
                self._learn(fn, args, time.perf_counter() - t_call)
                self.replies.put(("call", seq, result, err))
            elif op == "capture":
                _, seq, frames = cmd
                self.captures.append({"seq": seq, "frames": frames, "left": frames,
                                      "tick": None, "blocks": []})

    def _collect(self) -> None:
        """A garbage collection (automatic ones are off in this process): of the generation
        Python's thresholds name now, run once the ring covers what that generation's last
        collection took, as a command's cost is covered. Reloads leave cyclic garbage
        (~3 objects a neuron), and a full collection over a big machine's objects takes
        tens of ms: left to Python it came at any tick, a compile's included, and ran the
        ring dry (tests/test_play.py, the 1,000-neuron tests)."""
        _, c1, c2 = gc.get_count()
        _, t1, t2 = gc.get_threshold()
        gen = 2 if c1 >= t1 and c2 >= t2 else 1 if c1 >= t1 else 0
        need = min(self.max_fill, self.ahead // 2 + int(COST_SAFETY * self.gc_cost[gen] * self.rate))
        t0 = time.perf_counter()
        if self.gc_since is None:
            self.gc_since = t0
        # compute ahead first and collect on a later turn; a machine too heavy to get ahead
        # collects after HOLD_MAX all the same (its garbage must not pile up)
        if self._lead() < need and t0 - self.gc_since < HOLD_MAX:
            self.target = max(self.target, need)
            return
        self.gc_since = None
        gc.collect(gen)
        self.gc_cost[gen] = max(time.perf_counter() - t0, 0.8 * self.gc_cost[gen])
        if self.held is None:
            self.target = max(self.ahead, self.cover)

    def _learn(self, fn, args, took) -> None:
        """What a call of `fn` costs per unit of size, from this one that took `took` s: up
        at once, down by halves (costs vary 2x on a busy machine)."""
        key = _key(fn, args)
        self.cost[key] = max(took / _size(args), 0.5 * self.cost.get(key, 0.0))
        self.last_call = _kind(fn, args)

    def _guess(self, cmd) -> float:
        """Seconds the call `cmd` is expected to hold the engine: its own time (per unit of
        its size, as its function's last call took) and a recompile at the next tick (as
        long as the last one after a call took: it may change W)."""
        fn, args = cmd[2], cmd[3]
        own = self.cost.get(_key(fn, args), COST_PER_CHAR) * _size(args)
        return own + (self.compile_cost if self.changes_w.get(_kind(fn, args), True) else 0.0)


class _Fn(tuple):
    """A call's function by name, (module, qualified name), as pickle names one: the
    engine imports the module when the ring covers it (IMPORT_COST), not as the command
    is taken off its queue."""
    __slots__ = ()

    @classmethod
    def of(cls, fn):
        """`fn` by name where pickle would name it so (a module's function or a class's
        method); anything else as it is."""
        module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(name, str) or "<" in name:
            return fn
        ref = cls((module, name))
        try:
            return ref if ref._find(sys.modules[module]) is fn else fn
        except (KeyError, AttributeError):
            return fn

    def _find(self, obj):
        for part in self[1].split("."):
            obj = getattr(obj, part)
        return obj

    def loaded(self) -> bool:
        return self[0] in sys.modules

    def resolve(self):
        import importlib
        return self._find(importlib.import_module(self[0]))


def _key(fn, args=()):
    """A call's function, whether its size is told in changes (`call_size`) or text, and
    whether it carries anything: an empty call (the OSC forwarder's heartbeat, every 5 ms)
    costs its fixed part only, and learned with the full ones its cost per unit halved at
    each, until a burst of 64 commands was guessed at a hundredth of its time (the ring
    ran dry under an OSC flood on a loaded machine)."""
    module, name = fn if isinstance(fn, _Fn) else (getattr(fn, "__module__", ""),
                                                     getattr(fn, "__qualname__", repr(fn)))
    return (module, name, any(hasattr(a, "call_size") for a in args), _size(args) > 1)


def _kind(fn, args):
    """A call's kind for `changes_w`: its function, whether it carries anything (an OSC
    batch with no command in it never changes W; one with commands may), and whether it
    declares neurons (a save that only changes numbers compiles nothing; one that adds a
    neuron does)."""
    return _key(fn, args), any(getattr(a, "declares", False) for a in args)


def _size(args) -> int:
    """A call's size, for its cost: where an argument tells it (`call_size`: a save sent as
    its changes), that; else 1 + the length of its text, bytes and list arguments."""
    told = [a.call_size for a in args if hasattr(a, "call_size")]
    if told:
        return 1 + sum(told)
    return 1 + sum(len(a) for a in args if isinstance(a, (str, bytes, list, tuple, dict)))


# ---- the audio process -------------------------------------------------------------------
def _audio_main(config, replies, stop, shared):
    nice = _child_setup(config["priority"])
    status = np.frombuffer(shared[0], np.float64)
    player = _Player(config, status, _Ring(shared[1], shared[2]))
    if config.get("input_at") is not None:
        i = config["input_at"]
        player.inring = _Ring(shared[i], shared[i + 1], config["input_channels"])
    midi = None  # MIDI out in the JACK graph (drivers/midi.py), when asked for
    try:
        player.query()
        while status[_I["rate"]] == 0:  # the engine is building the machine
            if status[_I["state"]] == FAILED or stop.wait(0.01):
                return
        if config.get("midi_out") and len(shared) > 3:  # (its JACK client made before the stream's)
            from .midi import GraphMidiOut, EventRing
            midi = GraphMidiOut(config["midi_out"], EventRing(shared[3], shared[4]), status, _I)
        player.open(int(status[_I["rate"]]))
        while status[_I["state"]] != RUNNING:  # the engine is filling the ring
            if status[_I["state"]] == FAILED or stop.wait(0.005):
                return
        gc.collect()
        gc.freeze()
        # The callback needs this process's GIL. Whenever another thread of the process
        # holds it (this one waking to poll, the reply queue's feeder thread), the
        # callback waits for it: by default up to 5 ms, a whole period, before Python
        # even asks the holder to let go; and if the holder is an ordinary thread that
        # a busy CPU preempts, the real-time callback waits on it for a time slice
        # (priority inversion: the card loses periods). So the holder is asked to let
        # go after AUDIO_SWITCH_INTERVAL, and once the stream has made its thread (which
        # must not inherit this one's class), this thread, with the feeder thread it
        # starts below (threads inherit it), runs real-time where permitted, below the
        # callback: no busy CPU preempts it while it holds the GIL.
        sys.setswitchinterval(AUDIO_SWITCH_INTERVAL)
        player.start()
        if config["priority"]:
            _realtime_thread(AUDIO_MAIN_RT_PRIORITY)
        if midi is not None:
            midi.attach()
            player.info["midi_out"] = midi.dest
        status[_I["audio_state"]] = RUNNING
        replies.put(("audio-ready", dict(player.info, nice=nice)))
        parent = mp.parent_process()
        while not stop.wait(0.5):
            if parent is not None and not parent.is_alive():
                break
            status[_I["stream_load"]] = float(player.stream.cpu_load)
            if not player.stream.active:
                raise AudioDeviceError(f"audio device {player.info['device']!r} stopped playing")
        status[_I["audio_state"]] = STOPPED
    except BaseException as e:  # noqa: BLE001  (sent to the parent, which raises it)
        status[_I["audio_state"]] = FAILED
        replies.put(("error",) + _error_message(e))
    finally:
        if midi is not None:
            midi.close()
        player.close()


class _Player:
    """The device side: a PortAudio stream whose callback copies from the ring."""

    def __init__(self, config, status, ring):
        self.config, self.S, self.ring = config, status, ring
        self.sd = self.stream = None
        self.rt = None
        self.device = config["device"]
        self.inring = None  # the card's input goes there (a duplex stream)
        self.info = {"device": None, "latency": 0.0}

    def query(self):
        try:
            import sounddevice as sd
        except OSError as e:  # sounddevice raises OSError when libportaudio is missing
            raise AudioDeviceError(f"cannot open audio device {_name(self.device)}: the PortAudio "
                                   f"library is missing ({e}); install libportaudio2, or run "
                                   "without audio") from None
        self.sd = sd
        try:
            self.info["device"] = sd.query_devices(self.device, "output")["name"]
        except (ValueError, sd.PortAudioError) as e:
            raise AudioDeviceError(f"audio device {_name(self.device)} is unusable: {e}; "
                                   f"output devices: {_outputs(sd)}") from None
        if self.inring is not None:
            dev, ch = self.config["input_device"], self.config["input_channels"]
            try:
                d = sd.query_devices(dev if dev != "default" else None, "input")
            except (ValueError, sd.PortAudioError) as e:
                raise AudioDeviceError(f"input device {_name(dev)} is unusable: {e}; "
                                       f"input devices: {_inputs(sd)}") from None
            if d["max_input_channels"] < ch:
                raise AudioDeviceError(f"input device {d['name']!r} has {d['max_input_channels']} input "
                                       f"channels, {ch} were asked for")
            self.info["input_device"] = d["name"]

    def open(self, rate):
        sd = self.sd
        duplex = self.inring is not None
        try:
            if duplex:  # the card's input too, in the same callback (one clock for both)
                dev = self.config["input_device"]
                self.stream = sd.Stream(
                    samplerate=rate, blocksize=self.config["blocksize"],
                    device=(None if dev == "default" else dev, self.device),
                    channels=(self.config["input_channels"], 2), dtype="float32",
                    latency=self.config["latency"], callback=self._duplex)
            else:
                self.stream = sd.OutputStream(
                    samplerate=rate, blocksize=self.config["blocksize"], device=self.device, channels=2,
                    dtype="float32", latency=self.config["latency"], callback=self._callback)
        except (ValueError, sd.PortAudioError) as e:
            raise AudioDeviceError(f"audio device {_name(self.device)} ({self.info['device']}) is "
                                   f"unusable at {rate} Hz, 2 channels{' with input' if duplex else ''}: "
                                   f"{e}") from None
        lat = self.stream.latency  # (input, output) for a duplex stream
        self.info["latency"] = float(lat[1] if isinstance(lat, tuple) else lat)
        self.S[_I["latency"]] = self.info["latency"]

    def start(self):
        try:
            self.stream.start()
        except self.sd.PortAudioError as e:
            raise AudioDeviceError(f"audio device {_name(self.device)} ({self.info['device']}) "
                                   f"would not start: {e}") from None

    def close(self):
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            except Exception:  # noqa: BLE001  (closing a failed device is best effort)
                pass
            self.stream = None
        if self.sd is not None:
            try:
                # let go of the host (a JACK client) before the process exits: sounddevice
                # has no public way to end PortAudio, only its own atexit
                self.sd._terminate()  # noqa: SLF001
            except Exception:  # noqa: BLE001
                pass

    def _duplex(self, indata, outdata, frames, time_info, status):
        # the input first: the engine, woken by the room the output makes, finds it there
        r = self.inring
        if r.cap - r.fill() >= frames:
            r.write(indata)
        else:  # the engine is not reading (stalled): the newest is dropped, not the ring's state
            self.S[_I["input_dropped"]] += frames
        self._callback(outdata, frames, time_info, status)

    def _callback(self, outdata, frames, time_info, status):
        S = self.S
        if self.rt is None:
            # It only copies frames, and no other thread of its process is busy, so it
            # can neither hog a core nor wait long for the GIL.
            self.rt = _realtime_thread(AUDIO_RT_PRIORITY) if self.config["priority"] else False
            S[_I["audio_rt"]] = float(self.rt)
        if status.output_underflow:
            S[_I["underflows"]] += 1
        # when this period's first sample is played (drivers/midi.py sends by it)
        S[_I["cb_pos"]], S[_I["cb_time"]], S[_I["cb_frames"]] = self.ring.pos[1], time.monotonic(), frames
        delay = time_info.outputBufferDacTime - time_info.currentTime  # (a host without it: the latency)
        S[_I["cb_delay"]] = delay if 0.0 < delay < 1.0 else S[_I["latency"]]
        n = self.ring.read(outdata, frames)
        if n < frames:
            S[_I["short"]] += 1
        now = time_info.currentTime
        if S[_I["callbacks"]] == 0:
            S[_I["device_start"]] = now
        S[_I["device_time"]] = now
        S[_I["callbacks"]] += 1
        S[_I["frames"]] += n
        S[_I["device_frames"]] += frames


def lead(w: int, r: int, cb_pos: float, cb_time: float, cb_frames: float, rate: int) -> int:
    """Frames computed beyond the sample the device plays now, `w` being the ring's write
    position: w less the play position, the ring position the device's period started at
    (`cb_pos`) plus the frames played since it began (at most the period). Before the first
    period, the ring's fill (`r`: its read position). Never from the read position after
    the first period: the callback stamps its period before it reads, so a lead read
    between the two would count that period twice."""
    if cb_frames <= 0:
        return w - r
    played = min(cb_frames, max(0.0, (time.monotonic() - cb_time) * rate))
    return w - int(cb_pos + played)


def _raise_priority() -> int:
    """Nice this process up (its threads, and the audio thread PortAudio makes, inherit it).

    Sound is what a performance cannot drop: it comes before the window and the
    rest of the app. Where this is not permitted, it stays as it was.
    """
    for step in (ENGINE_NICE, -5, -1):
        try:
            return os.nice(step)
        except OSError:
            continue
    return os.nice(0)


def _realtime_thread(priority: int) -> bool:
    """Put the calling thread in the real-time FIFO class at `priority`, if permitted.

    Left as it is if it is real-time already (JACK makes its clients' audio
    threads so when it runs real-time itself).
    """
    try:
        if os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR):
            return True
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (OSError, AttributeError):
        return False


def _name(device) -> str:
    return "(the default output)" if device is None else repr(device)


def output_devices() -> list[dict]:
    """The sound outputs PortAudio sees: [{"index", "name", "api", "channels", "rate",
    "default"}] (`play --device` takes the index or a unique part of the name)."""
    import sounddevice as sd
    try:
        default = sd.default.device[1]
        if default is None or default < 0:
            default = sd.query_hostapis(0).get("default_output_device", -1)
    except Exception:  # noqa: BLE001
        default = -1
    out = []
    for d in sd.query_devices():
        if d["max_output_channels"] > 0:
            out.append({"index": d["index"], "name": d["name"], "api": sd.query_hostapis(d["hostapi"])["name"],
                        "channels": d["max_output_channels"], "rate": d["default_samplerate"],
                        "default": d["index"] == default})
    return out


def _inputs(sd) -> str:
    try:
        devs = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:  # noqa: BLE001
        devs = []
    return ", ".join(repr(d) for d in devs) or "none"


def _outputs(sd) -> str:
    try:
        names = [f"{d['index']}: {d['name']!r}" for d in sd.query_devices() if d["max_output_channels"] > 0]
    except Exception:  # noqa: BLE001
        return "(could not list them)"
    return ", ".join(names) or "none"
