"""The one module that wires the drivers to a machine: `dmmlive play`.

The machine lives in the audio engine's process (drivers/audio.py); this process
watches the patch file, listens for OSC, shows status and the window (drivers/window.py:
a mirror machine fed the same texts), and sends texts and commands to the engine,
where they are applied between ticks. Nothing here can stop the sound: a bad save is
reported and the old network goes on playing.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from pathlib import Path

from .core.errors import BadArgument, DmmError
from .patch.live import load


# ---- run in the engine process (picklable by reference) ----------------------------------
def build(path: str, rate: int, block: int, limiter: bool, ahead: float = 0.05,
          load_root: str | None = None, allow_load_anywhere: bool = False, log: str | None = None):
    """The engine's factory: the machine of the patch at `path`, with the Controller that
    runs OSC commands between its ticks. `log`: write a performance log there (dmmlive.log)."""
    from .control import Controller
    if log:
        from .log import machine_from_text
        text = read_patch(path)
        m = machine_from_text(text, path, rate=rate, block=block, limiter=limiter, images=False)
    else:  # the engine makes sound only: pictures are the window's (its mirror machine)
        m = load(path, rate=rate, block=block, limiter=limiter, images=False)
    ctl = Controller(m, m.session, load_root=load_root or str(Path(path).resolve().parent),
                     allow_load_anywhere=allow_load_anywhere)
    m.controller, m.osc_replies = ctl, []

    def before_tick(m):
        # the tick about to be computed is heard about `ahead` seconds from now
        ctl.clock = (m.t + 1, time.time() + ahead)
        m.osc_replies.extend(ctl.run_due())
    m.before_tick.append(before_tick)
    if log:
        from .log import start_log
        start_log(m, ctl, log, path, text)  # logs what apply_text, osc_commands and run_due apply
    return m


def read_patch(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgument(f"cannot read patch {path}: {getattr(e, 'strerror', None) or e}") from None


def osc_commands(m, cmds) -> list:
    """Run received OSC commands [(op, args, timetag, reply_addr)] (timed ones are kept
    for their tick); returns the replies to send, those of timed commands run since too."""
    out = []
    for op, args, timetag, reply_addr in cmds:
        out.extend(m.controller.submit(op, args, timetag, reply_addr))
    out.extend(m.osc_replies)
    m.osc_replies.clear()
    return out


def apply_text(m, text: str, path: str) -> str:
    """Apply a saved patch text; returns a one-line summary (raises PatchError)."""
    patch = m.session.apply(text, path)
    return f"{Path(path).name}: applied ({len(patch.neurons)} neurons, fade {patch.settings['fade']:g} s)"


def reports(m) -> list:
    out = list(m.reports)
    m.reports.clear()
    return out


# ---- the app --------------------------------------------------------------------------------
class App:
    def __init__(self, patch, *, audio=True, window=True, window_size=None, device=None, rate=48000,
                 block=128, limiter=True,
                 seconds=None, out=None, err=None, status_every=1.0,
                 osc=True, osc_host="127.0.0.1", osc_port=9000, osc_allow=None,
                 allow_load_anywhere=False, log=None):
        self.path = str(Path(patch))
        self.log = None if log is None else str(log)
        self.audio, self.device, self.rate, self.block = audio, device, rate, block
        self.limiter, self.seconds = limiter, seconds
        # the streams of the moment (not those at import: a test may have swapped them since)
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.status_every = status_every
        self.osc, self.osc_host, self.osc_port, self.osc_allow = osc, osc_host, osc_port, osc_allow
        self.allow_load_anywhere = allow_load_anywhere
        self.window_on, self.window_size = bool(window), window_size
        self.window = None  # the Window (drivers/window.py) while playing with one
        self.errors: deque = deque(maxlen=32)  # recent error texts, for the window's overlay
        self._failure = None
        self.engine = None
        self.watcher = None
        self.server = None
        self._forwarder = None
        self.reloads = 0
        self._stop = threading.Event()

    def say(self, msg: str, err: bool = False) -> None:
        print(msg, file=self.err if err else self.out, flush=True)
        if err:
            self.errors.append(msg)

    def on_change(self, path, text) -> None:
        try:
            self.say(self.engine.call(apply_text, text, str(path)))
            self.reloads += 1
            if self.window is not None:  # the window's mirror machine follows the engine's
                self.window.apply_text(text, str(path))
        except DmmError as e:
            self.say(f"{e}\n(the previous network goes on playing)", err=True)

    def start(self) -> "App":
        from .drivers.audio import AudioEngine, NullOutput
        from .drivers.watcher import PatchWatcher
        load(self.path)  # check the patch here first: a bad one is reported before any process starts
        if self.log is not None:  # and a log that cannot be written
            try:
                open(self.log, "w").close()
            except OSError as e:
                raise BadArgument(f"cannot write the log {self.log}: {e.strerror or e}") from None
        cls = AudioEngine if self.audio else NullOutput
        kw = {"device": self.device} if self.audio else {}
        server = None
        if self.osc:  # bind first: a port in use is reported before anything starts
            from .drivers.osc import OscServer
            server = OscServer(self.osc_host, self.osc_port, allow=self.osc_allow)
            if server.warning:
                self.say(server.warning, err=True)
        self.engine = cls(build, (self.path, self.rate, self.block, self.limiter, 0.05, None,
                                  self.allow_load_anywhere, self.log), **kw).start()
        if server is not None:
            self.server = server.start()
            self._forwarder = threading.Thread(target=self._forward, name="dmmlive-osc-forward", daemon=True)
            self._forwarder.start()
        self.watcher = PatchWatcher(self.path, self.on_change,
                                    on_error=lambda p, e: self.say(f"dmmlive: {p}: {e}", err=True)).start()
        if self.server is not None:
            self.say(f"OSC on {self.server.address[0]}:{self.server.address[1]}")
        self.say(f"playing {self.path} ({'sound: ' + str(self.engine.info.get('device', 'default')) if self.audio else 'no audio'}); "
                 "save the file to change the network; Ctrl-C to stop"
                 + (f"; logging to {self.log}" if self.log is not None else ""))
        if self.window_on:
            self._open_window()
        return self

    def _open_window(self) -> None:
        from .drivers.window import Window, WindowError, mirror
        try:
            self.window = Window(mirror(self.path, rate=self.rate, block=self.block, limiter=self.limiter),
                                 size=self.window_size, errors=lambda: list(self.errors),
                                 status=lambda: {**self.engine.status(), "reloads": self.reloads},
                                 on_close=self._stop.set, title=f"dmmlive: {Path(self.path).name}")
        except WindowError as e:
            self.stop()
            raise WindowError(f"{e}\n(use --no-window to play without one)") from e
        except BaseException:
            self.stop()
            raise
        if self.window.headless:
            self.say("no display: the window runs headless (nothing is shown)")
        self.say("window: F fullscreen, H overlay, Esc quits")

    def _forward(self) -> None:
        """OSC commands to the engine in batches; replies back to their senders."""
        while not self._stop.is_set():
            cmds = self.server.drain(64)  # small batches: the engine interleaves them with ticks
            try:
                replies = self.engine.call(osc_commands, [tuple(c) for c in cmds], timeout=10.0)
            except DmmError as e:
                if self._stop.is_set():
                    return
                self.say(f"dmmlive: OSC: {e}", err=True)
                continue
            if replies:
                self.server.send_replies(replies)
            if not cmds:
                self._stop.wait(0.005)

    def status_line(self) -> str:
        s = self.engine.status()
        return (f"t={s['ticks']:.0f} xruns={s['xruns']:.0f} load={s['load']:.2f} "
                f"latency={1000 * s['latency']:.0f}ms reloads={self.reloads}")

    def report(self) -> None:
        """Print the engine's reports and the status line."""
        for r in self.engine.call(reports):
            self.say(r, err=True)
        while self.engine.reports:
            self.say(self.engine.reports.popleft(), err=True)
        self.say(self.status_line())

    def run(self) -> int:
        self.start()
        if self.window is not None:
            return self._run_window()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.seconds is not None and time.monotonic() - t0 >= self.seconds:
                    break
                self._stop.wait(self.status_every)
                self.report()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return 0

    def _run_window(self) -> int:
        """The window's loop on this thread (its GL thread); the status line from another."""
        status = threading.Thread(target=self._status_loop, name="dmmlive-status", daemon=True)
        status.start()
        try:
            self.window.run(seconds=self.seconds)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            status.join(5.0)
        if self._failure is not None:
            raise self._failure
        return 0

    def _status_loop(self) -> None:
        while not self._stop.wait(self.status_every):
            try:
                self.report()
            except DmmError as e:  # the engine is gone: end the window, and so the app
                if not self._stop.is_set():
                    self._failure = e
                    self.window.close()
                return

    def stop(self) -> None:
        self._stop.set()
        if self.window is not None:  # first, as Esc does: the window, then sound, watcher, OSC
            self.window.close()
        if self.watcher is not None:
            self.watcher.stop()
        if self._forwarder is not None:
            self._forwarder.join(5.0)
        if self.server is not None:
            self.server.close()
        if self.engine is not None:
            s = self.engine.stop()
            self.say(f"stopped: {s['ticks']:.0f} ticks, {s['xruns']:.0f} xruns")
