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
def build(path: str, rate: int, block: int, limiter: bool):
    """The engine's factory: the machine of the patch at `path`."""
    return load(path, rate=rate, block=block, limiter=limiter)


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
                 seconds=None, out=sys.stdout, err=sys.stderr, status_every=1.0):
        self.path = str(Path(patch))
        self.audio, self.device, self.rate, self.block = audio, device, rate, block
        self.limiter, self.seconds = limiter, seconds
        self.out, self.err = out, err
        self.status_every = status_every
        self.engine = None
        self.watcher = None
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
        self.engine = cls(build, (self.path, self.rate, self.block, self.limiter), **kw).start()
        self.watcher = PatchWatcher(self.path, self.on_change,
                                    on_error=lambda p, e: self.say(f"dmmlive: {p}: {e}", err=True)).start()
        self.say(f"playing {self.path} ({'sound: ' + str(self.engine.info.get('device', 'default')) if self.audio else 'no audio'}); "
                 "save the file to change the network; Ctrl-C to stop")
        return self

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
        if self.engine is not None:
            s = self.engine.stop()
            self.say(f"stopped: {s['ticks']:.0f} ticks, {s['xruns']:.0f} xruns")
