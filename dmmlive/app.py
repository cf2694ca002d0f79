"""The one module that wires the drivers to a machine: `dmmlive play`.

The machine lives in the audio engine's process (drivers/audio.py); this process
watches the patch file, listens for OSC, shows status, and sends texts and commands
to the engine, where they are applied between ticks. Nothing here can stop the sound:
a bad save is reported and the old network goes on playing.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from .core.errors import DmmError
from .patch.live import load


# ---- run in the engine process (picklable by reference) ----------------------------------
def build(path: str, rate: int, block: int, limiter: bool, ahead: float = 0.05,
          load_root: str | None = None, allow_load_anywhere: bool = False):
    """The engine's factory: the machine of the patch at `path`, with the Controller that
    runs OSC commands between its ticks."""
    from .control import Controller
    m = load(path, rate=rate, block=block, limiter=limiter)
    ctl = Controller(m, m.session, load_root=load_root or str(Path(path).resolve().parent),
                     allow_load_anywhere=allow_load_anywhere)
    m.controller, m.osc_replies = ctl, []

    def before_tick(m):
        # the tick about to be computed is heard about `ahead` seconds from now
        ctl.clock = (m.t + 1, time.time() + ahead)
        m.osc_replies.extend(ctl.run_due())
    m.before_tick.append(before_tick)
    return m


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
    def __init__(self, patch, *, audio=True, device=None, rate=48000, block=128, limiter=True,
                 seconds=None, out=sys.stdout, err=sys.stderr, status_every=1.0,
                 osc=True, osc_host="127.0.0.1", osc_port=9000, osc_allow=None,
                 allow_load_anywhere=False):
        self.path = str(Path(patch))
        self.audio, self.device, self.rate, self.block = audio, device, rate, block
        self.limiter, self.seconds = limiter, seconds
        self.out, self.err = out, err
        self.status_every = status_every
        self.osc, self.osc_host, self.osc_port, self.osc_allow = osc, osc_host, osc_port, osc_allow
        self.allow_load_anywhere = allow_load_anywhere
        self.engine = None
        self.watcher = None
        self.server = None
        self._forwarder = None
        self.reloads = 0
        self._stop = threading.Event()

    def say(self, msg: str, err: bool = False) -> None:
        print(msg, file=self.err if err else self.out, flush=True)

    def on_change(self, path, text) -> None:
        try:
            self.say(self.engine.call(apply_text, text, str(path)))
            self.reloads += 1
        except DmmError as e:
            self.say(f"{e}\n(the previous network goes on playing)", err=True)

    def start(self) -> "App":
        from .drivers.audio import AudioEngine, NullOutput
        from .drivers.watcher import PatchWatcher
        load(self.path)  # check the patch here first: a bad one is reported before any process starts
        cls = AudioEngine if self.audio else NullOutput
        kw = {"device": self.device} if self.audio else {}
        server = None
        if self.osc:  # bind first: a port in use is reported before anything starts
            from .drivers.osc import OscServer
            server = OscServer(self.osc_host, self.osc_port, allow=self.osc_allow)
            if server.warning:
                self.say(server.warning, err=True)
        self.engine = cls(build, (self.path, self.rate, self.block, self.limiter, 0.05, None,
                                  self.allow_load_anywhere), **kw).start()
        if server is not None:
            self.server = server.start()
            self._forwarder = threading.Thread(target=self._forward, name="dmmlive-osc-forward", daemon=True)
            self._forwarder.start()
        self.watcher = PatchWatcher(self.path, self.on_change,
                                    on_error=lambda p, e: self.say(f"dmmlive: {p}: {e}", err=True)).start()
        if self.server is not None:
            self.say(f"OSC on {self.server.address[0]}:{self.server.address[1]}")
        self.say(f"playing {self.path} ({'sound: ' + str(self.engine.info.get('device', 'default')) if self.audio else 'no audio'}); "
                 "save the file to change the network; Ctrl-C to stop")
        return self

    def _forward(self) -> None:
        """OSC commands to the engine in batches; replies back to their senders."""
        while not self._stop.is_set():
            cmds = self.server.drain(2048)
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

    def run(self) -> int:
        self.start()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.seconds is not None and time.monotonic() - t0 >= self.seconds:
                    break
                self._stop.wait(self.status_every)
                for r in self.engine.call(reports):
                    self.say(r, err=True)
                while self.engine.reports:
                    self.say(self.engine.reports.popleft(), err=True)
                self.say(self.status_line())
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        self._stop.set()
        if self.watcher is not None:
            self.watcher.stop()
        if self._forwarder is not None:
            self._forwarder.join(5.0)
        if self.server is not None:
            self.server.close()
        if self.engine is not None:
            s = self.engine.stop()
            self.say(f"stopped: {s['ticks']:.0f} ticks, {s['xruns']:.0f} xruns")
