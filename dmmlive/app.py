"""The one module that wires the drivers to a machine: `dmmlive play`.

The machine lives in the audio engine's process (drivers/audio.py); this process
watches the patch file, listens for OSC, shows status and the window (drivers/window.py:
it draws the frames the engine's machine publishes), and sends texts and commands to the engine,
where they are applied between ticks. Nothing here can stop the sound: a bad save is
reported and the old network goes on playing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .checks import ERROR
from .core.errors import BadArgument, DmmError
from .core.registry import STANDARD
from .host import Host
from .drivers.audio import xrun_detail
from .patch.incremental import change_of
from .patch.errors import PatchError
from .patch.live import EMPTY_PATCH, load, open_patch
from .patch.parse import parse


OSC_QUIET = 5.0  # s an OSC error already shown is not shown again (counted; see App.osc_error)
RATE, BLOCK = 48000, 128  # play's sample rate and block where none is given (nor a snapshot's)
WATCH_DEBOUNCE = 0.0  # s the watcher waits after a save: none, it reacts once the file is closed or moved


# ---- stop signals ---------------------------------------------------------------------------
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _ignore(signum, frame) -> None:  # the main thread's handler: the signal thread acts
    pass


class StopSignals:
    """While inside (`App.run`), SIGINT (Ctrl-C), SIGTERM (a service manager, `timeout`, `docker
    stop`) and SIGHUP (a closed terminal) each call `on_signal(name)` on a thread of its own.

    Python runs a signal's handler in the main thread wherever it happens to be; raising
    there (as KeyboardInterrupt does) can land in the middle of the stop itself, and a default
    SIGTERM or SIGHUP kills the process mid-write. So the handler does nothing, and the byte
    the interpreter writes for each signal to its wakeup fd is read by a thread that asks
    for the stop, as the end of --seconds does. (Not `sigwait` on a thread with the signals
    blocked everywhere else: threads started before, such as OpenBLAS's that numpy starts at
    import, do not block them, and a default SIGTERM or SIGHUP delivered to one of them kills
    the process. With a handler installed, whichever thread the kernel picks only wakes ours.)

    The children must not die of them either: a terminal's Ctrl-C and hangup reach the whole
    process group, a service manager's SIGTERM the whole cgroup, and the app stops them in
    order (the device, then the engine, which writes the log's end line). They ignore them
    (drivers/audio.py, `_child_setup`); and since a signal could come before they get there,
    the main thread, which starts them (and multiprocessing's resource tracker), blocks these
    signals meanwhile: the children start with them blocked (the mask survives exec), and this
    process takes them on its other threads. Handlers can be set from the main thread only:
    elsewhere (and where there are no signal masks: Windows) this does nothing.
    """

    def __init__(self, on_signal):
        self.on_signal = on_signal
        self._old: dict = {}
        self._old_fd = -1
        self._mask = None
        self._thread = None
        self._r = self._w = -1

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
            return self  # (and not on Windows: Ctrl-C raises KeyboardInterrupt there, as before)
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        for s in STOP_SIGNALS:
            self._old[s] = signal.signal(s, _ignore)
        self._thread = threading.Thread(target=self._read, name="dmmlive-signals", daemon=True)
        self._thread.start()  # (before the mask: it takes them)
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            return
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        signal.set_wakeup_fd(self._old_fd)
        for s, h in self._old.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)
        os.close(self._w)  # the thread reads the end of the pipe
        self._thread.join(5.0)
        os.close(self._r)
        self._thread = None

    def _read(self) -> None:
        while True:
            try:
                got = os.read(self._r, 64)
            except InterruptedError:
                continue
            except OSError:
                return
            if not got:
                return
            for b in got:
                if b in STOP_SIGNALS:
                    try:
                        self.on_signal(signal.Signals(b).name)
                    except Exception:  # noqa: BLE001  (the stop itself reports what fails)
                        pass


# ---- run in the engine process (picklable by reference) ----------------------------------
def build(path: str, rate: int, block: int, limiter: bool, ahead: float = 0.01,
          load_root: str | None = None, allow_load_anywhere: bool = False, log: str | None = None,
          shaders: str | None = None, frames: bool = False, empty: bool = False,
          midi: dict | None = None, link: bool = False, quant: float | None = None,
          resume: str | None = None) -> Host:
    """The engine's factory: the Host of the patch at `path` (its machine, the session
    that applies saves, the Controller that runs OSC commands between its ticks).
    `log`: write a performance log there (dmmlive.log). `shaders`: a folder of more
    shader types (loaded as in the App's process). `frames`: publish what the frame
    neurons get at each frame tick, for the window (`Machine(publish_frames=True)`).
    `empty`: start from an empty network (the file has an error; its first good save
    applies, as any save does). `resume`: a snapshot to start from; its rate, block and
    quant where `rate`, `block`, `quant` are None (a rate or block given must be its own).
    `/dmm/record` requests are checked
    here and kept for the App (`Host.forward_osc` hands them over)."""
    types = None
    if shaders:
        from .gfx.types import load_shader_types
        types = STANDARD.copy()
        load_shader_types(shaders, errors=[], types=types)  # the App reports them; the engine draws nothing
    text = "" if empty else read_patch(path) if log else None
    at = {"rate": RATE if rate is None else rate, "block": BLOCK if block is None else block}
    if log or empty:
        from .log import session_from_text
        session = session_from_text(text, path, **at, limiter=limiter, images=False,
                                    types=types, publish_frames=frames)
    else:  # the engine makes sound only: pictures are drawn by the window, from its frames
        session = open_patch(path, **at, limiter=limiter, images=False, types=types,
                             publish_frames=frames)
    session.quant = float(quant or 0.0)  # --quant (the log's header keeps it for the replay)
    if resume:  # play --from SNAP: the snapshot's machine and patch in place of the file's (dmmlive/snapshots.py)
        from .snapshots import resume as resume_from
        m = resume_from(session, resume, rate=rate, block=block, quant=quant)
        m.images, m.publish_frames = False, bool(frames)
    host = Host(session.machine, session, load_root=load_root or str(Path(path).resolve().parent),
                allow_load_anywhere=allow_load_anywhere, ahead=ahead)
    if log:
        from .log import start_log
        start_log(host, log, path, text)  # writes what the host's journal publishes
    if midi:  # `midi`: drivers.midi.MidiLink's arguments (--midi-in, --midi-out, --midi-clock-in)
        import atexit

        from .drivers.midi import MidiLink
        host.midi_link = MidiLink(**midi).open()
        atexit.register(host.midi_link.close)  # (All Notes Off, the ports let go of)
    if link:  # --link: the local Ableton Link session steers the grid (drivers/link.py)
        import atexit

        from .drivers.link import LinkSync
        host.link = LinkSync(host.machine.tempo)
        atexit.register(host.link.close)
    return host


def read_patch(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgument(f"cannot read patch {path}: {getattr(e, 'strerror', None) or e}") from None


# ---- the app --------------------------------------------------------------------------------
class App:
    def __init__(self, patch, *, audio=True, window=True, window_size=None, device=None, rate=None,
                 block=None, limiter=True,
                 seconds=None, out=None, err=None, status_every=1.0,
                 osc=True, osc_host="127.0.0.1", osc_port=9000, osc_allow=None,
                 allow_load_anywhere=False, log=None, record=None, shaders=None, ahead=0.01,
                 midi_in=None, midi_out=None, midi_clock_in=False, link=False, quant=None, resume=None,
                 input_device=None, input_channels=2):
        self.path = str(Path(patch))
        self.record_to = None if record is None else str(record)  # --record: from the start
        from .gfx.types import shader_folder  # --shaders, or a shaders/ folder beside the patch
        shaders = shader_folder(self.path, shaders)
        self.shaders = None if shaders is None else str(shaders)
        self.types = STANDARD.copy()  # this session's neuron types (+ --shaders, at start)
        self.log = None if log is None else str(log)
        if resume is None:  # (with --from, None: the snapshot's, known once the engine has read it)
            rate, block = RATE if rate is None else rate, BLOCK if block is None else block
        self.audio, self.device, self.rate, self.block = audio, device, rate, block
        self.limiter, self.seconds = limiter, seconds
        if isinstance(ahead, bool) or not isinstance(ahead, (int, float)) or not 0.005 <= ahead <= 0.5:
            raise BadArgument(f"--ahead must be seconds from 0.005 to 0.5, got {ahead!r}")
        self.ahead = float(ahead)  # sound the engine keeps computed ahead of the card
        # the streams of the moment (not those at import: a test may have swapped them since)
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.status_every = status_every
        self.osc, self.osc_host, self.osc_port, self.osc_allow = osc, osc_host, osc_port, osc_allow
        self.allow_load_anywhere = allow_load_anywhere
        midi_in = [x for x in (midi_in or ()) if x != "none"]  # MIDI ports (drivers/midi.py): none by default
        self.midi = ({"inputs": midi_in, "output": midi_out, "clock_in": bool(midi_clock_in)}
                     if midi_in or midi_out else None)
        self.link = bool(link)  # --link: join the local Ableton Link session (drivers/link.py)
        if self.link and midi_clock_in:
            raise BadArgument("--link and --midi-clock-in: one clock source steers the beat grid; "
                              "play with one of them")
        # --quant: the beats a save lands on when the patch sets no quant() (None: 0, or the snapshot's)
        self.quant = None if quant is None else float(quant)
        self.input_device, self.input_channels = input_device, int(input_channels)  # --input-device
        self.resume = None if resume is None else str(resume)  # --from SNAP (dmmlive/snapshots.py)
        if self.resume is not None and log is not None:
            raise BadArgument("--from and --log: a log replays from a patch, not from a snapshot; "
                              "play --from without --log")
        self.window_on, self.window_size = bool(window), window_size
        self.window = None  # the Window (drivers/window.py) while playing with one
        self.errors: deque = deque(maxlen=32)  # recent error texts, for the window's overlay
        self._failure = None
        self.engine = None
        self.watcher = None
        self.server = None
        self._forwarder = None
        self.reloads = 0
        self._parsed = None  # the Patch of the last save applied (for the next parse)
        self.shader_reloads = 0
        self._shader_files: set = set()   # resolved paths of the shader files the patch uses
        self.recorder = None               # the LiveRecorder while recording
        self.recorded: list = []           # (path, frames, dropped) of the recordings finished
        self._rec_lock = threading.RLock()
        self._rec_stop = None
        self._rec_pump = None
        self._rec_t0 = 0.0  # perf_counter time the recording's first sample is heard
        self._stop = threading.Event()
        self._osc_said: dict = {}  # OSC error text -> (when shown, times refused since)
        self._osc_lock = threading.Lock()
        self.broken = None  # the PatchError of the file on disk while it has one (status: ERR)
        # the status line is redrawn in place on a terminal (a new line each time elsewhere)
        self._tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._status_up = False  # a status line stands unfinished on the terminal
        self._say_lock = threading.Lock()

    def say(self, msg: str, err: bool = False) -> None:
        with self._say_lock:
            if self._status_up:  # the message takes the status line's place; it comes back
                self.out.write("\r\x1b[K")
                self.out.flush()
                self._status_up = False
            print(msg, file=self.err if err else self.out, flush=True)
        if err:
            self.errors.append(msg)

    def show_status(self, line: str) -> None:
        """The status line: in place on a terminal (`\\r`, the rest of the line cleared), else
        a line of its own."""
        if not self._tty:
            return self.say(line)
        with self._say_lock:
            self.out.write("\r\x1b[K" + line)
            self.out.flush()
            self._status_up = True

    def osc_error(self, address, reason) -> None:
        """An OSC message refused (by the listener or the engine): shown on the console and
        the overlay as well as sent back, once: the same error again within OSC_QUIET
        seconds is counted, and the count said with its next showing."""
        text = f"dmmlive: OSC {address}: {reason}"
        now = time.monotonic()
        with self._osc_lock:
            last, more = self._osc_said.get(text, (-1e9, 0))
            if now - last < OSC_QUIET:
                self._osc_said[text] = (last, more + 1)
                return
            self._osc_said[text] = (now, 0)
            if len(self._osc_said) > 256:  # forget the oldest
                for k in sorted(self._osc_said, key=lambda k: self._osc_said[k][0])[:128]:
                    del self._osc_said[k]
        self.say(text + (f" (and {more} more like it)" if more else ""), err=True)

    def _knobs_or_none(self):
        """The knob addresses for the listener; None (pass every address on) if there are none."""
        return self.engine.call(Host.knob_addresses) or None

    def on_change(self, path, text) -> None:
        if Path(path).resolve() in self._shader_files:
            return self.on_shader(path)
        try:
            # Parsed here, off the engine's process: a save with an error never reaches it,
            # and the engine only diffs and applies. Parsed against the last save applied,
            # reusing its unchanged statements; the engine then diffs only the rows that
            # changed (docs/patch-language.md, "How a save becomes an edit").
            # The engine gets the changes against the last save it applied (PatchChange: it
            # unpickles the change, not the patch), or the Patch where it holds another.
            patch = parse(text, str(path), previous=self._parsed or EMPTY_PATCH, types=self.types)
            said = self.engine.call(Host.apply_text, text, str(path), change_of(patch))
            if said is None:
                said = self.engine.call(Host.apply_text, text, str(path), patch)
            self.say(said)
            self._parsed = patch
            self.broken = None
            self.reloads += 1
            if self.server is not None:
                self.server.set_knobs(self._knobs_or_none())
            if self.window is not None:  # (the window draws the engine's frames: the new network's)
                self._watch_shaders(patch)
        except DmmError as e:
            if isinstance(e, PatchError):
                self.broken = e
            self.say(f"{e}\n(the previous network goes on playing)", err=True)

    # ---- shader files: hot reload on the window's GL thread ------------------------------------
    def _watch_shaders(self, patch) -> None:
        """Watch the shader files behind the neuron types of `patch` (those not watched yet)."""
        for d in patch.neurons.values():
            t = self.types.get(d.type if isinstance(d.type, str) else d.type.name)
            shader = getattr(getattr(t, "fn", None), "shader", None)
            if shader is None or shader.file in self._shader_files:
                continue
            try:
                self.watcher.add(shader.file)
                self._shader_files.add(shader.file)
            except OSError as e:
                self.say(f"dmmlive: cannot watch {shader.path}: {e}", err=True)

    def on_shader(self, path) -> None:
        """A shader file was saved: recompile it for the window's mirror (sound is unaffected)."""
        if self.window is not None and not self.window.closed:
            self.window.reload_shader(str(path), done=self._shader_done)

    def _shader_done(self, path, err) -> None:  # on the GL thread
        if err is None:
            self.shader_reloads += 1
            self.say(f"{Path(path).name}: shader applied")
        else:
            self.say(f"{err}\n(the previous shader goes on running)", err=True)

    # ---- recording: the window's frames and the engine's sound into a LiveRecorder --------------
    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def start_recording(self, path=None) -> str:
        """Record to `path` (default: --record's, else PATCH-DATE-TIME.mp4 by the patch) from now:
        the mirror's `screen` at each window frame (with no window: black frames at the patch's
        size and fps, timed by the sound) and the engine's sound. Raises DmmError."""
        from .drivers.recorder import LiveRecorder, RecordError
        with self._rec_lock:
            if self.recorder is not None:
                raise RecordError(f"already recording to {self.recorder.rec.path}")
            if path is None:
                path = self.record_to or str(Path(self.path).with_name(
                    f"{Path(self.path).stem}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"))
            if self.window is not None:
                size, fps = self.window.gpu.size, self.window.machine.fps
            else:
                st = parse(read_patch(self.path), self.path, types=self.types).settings
                size, fps = st["size"], st["fps"]
            rec = LiveRecorder(path, size, fps, self.rate)
            try:
                self.engine.call(Host.tap_start)
            except BaseException:
                rec.stop()
                raise
            # The tap starts at the engine's next tick, which is heard once the sound computed
            # ahead of it and the device's latency have played: the pictures' time 0.
            st = self.engine.status()
            self._rec_t0 = time.perf_counter() + st["ahead"] + st["latency"]
            self._rec_stop = threading.Event()
            self.recorder = rec
            self._rec_pump = threading.Thread(target=self._pump, args=(rec, self._rec_stop, size, fps),
                                              name="dmmlive-record-sound", daemon=True)
            self._rec_pump.start()
            if self.window is not None:
                self.window.on_frame = self._record_frame
        self.say(f"recording to {path}")
        return path

    def stop_recording(self) -> None:
        """End the recording (if any): its last sound is pulled, the file finished."""
        with self._rec_lock:
            rec = self.recorder
            if rec is None:
                return
            if self.window is not None:
                self.window.on_frame = None
            self.recorder = None
            self._rec_stop.set()
            self._rec_pump.join(15.0)  # its last pull ends the engine's tap
            rec.stop()
        self.recorded.append((rec.rec.path, rec.rec.frames, rec.dropped))
        self.say(f"recorded {rec.rec.path}: {rec.rec.frames} frames"
                 + (f" ({rec.dropped} dropped: encoding fell behind)" if rec.dropped else ""))
        if rec.error is not None:
            self.say(f"dmmlive: recording {rec.rec.path}: {rec.error}", err=True)

    def _record_frame(self, window) -> None:
        """The window's new frame into the recording (on the GL thread, after it was drawn)."""
        rec = self.recorder
        if rec is None:
            return
        m = window.machine
        # Timed by when it is shown, against the recorded sound as it is heard: a window that
        # fell behind (and dropped time) leaves a gap, not a shift of all that follows.
        pts = round((time.perf_counter() - self._rec_t0) * m.fps)
        if pts < 0:
            return
        img = m.image()
        w, h = window.gpu.size
        rgb = window.gpu.read_rgb8(img) if img is not None else np.zeros((h, w, 3), np.uint8)
        rec.frame(rgb, pts=pts)

    def _pump(self, rec, stop, size, fps) -> None:
        """Pull the engine's sound into the recording a few times a second (off the sound's path);
        with no window, add black frames as the sound's time passes."""
        black = None if self.window is not None else np.zeros((size[1], size[0], 3), np.uint8)
        samples = frames = lost = 0
        while True:
            last = stop.wait(0.1)
            try:
                x, n = self.engine.call(Host.tap_drain, last, timeout=10.0)
            except DmmError as e:
                if not self._stop.is_set():
                    self.say(f"dmmlive: recording: the sound stopped: {e}", err=True)
                return
            lost += n
            if len(x):
                rec.sound(x)
                samples += len(x)
            if black is not None:
                due = int(samples * fps / self.rate)
                while frames < due:
                    rec.frame(black, pts=frames)
                    frames += 1
            if last:
                if lost:
                    self.say(f"dmmlive: recording: {lost} sound blocks lost (not pulled in time)", err=True)
                return

    def _on_record(self, cmd, path) -> None:
        """`/dmm/record start [path]` / `stop`, checked by the engine's Controller."""
        try:
            if cmd == "start":
                self.start_recording(path)
            else:
                if not self.recording:
                    self.say("dmmlive: /dmm/record stop: not recording", err=True)
                self.stop_recording()
        except DmmError as e:
            self.say(f"dmmlive: /dmm/record {cmd}: {e}", err=True)

    def start(self) -> "App":
        from .drivers.audio import AudioEngine, NullOutput
        from .drivers.watcher import PatchWatcher
        if self.shaders is not None:  # before the patch is checked: it may use them
            from .gfx.types import load_shader_types
            if not Path(self.shaders).is_dir():
                raise BadArgument(f"--shaders {self.shaders}: no such folder")
            problems = []
            load_shader_types(self.shaders, errors=problems, types=self.types)
            for e in problems:
                self.say(f"dmmlive: {e}", err=True)
        try:  # the patch checked here first: an error is reported before any process starts
            load(self.path, types=self.types)
        except PatchError as e:  # ... and the set starts silent, for the first good save
            self.broken = e
            self.say(f"{e}\n(silent until {Path(self.path).name} is saved without errors)", err=True)
        if self.log is not None:  # and a log that cannot be written
            try:
                open(self.log, "w").close()
            except OSError as e:
                raise BadArgument(f"cannot write the log {self.log}: {e.strerror or e}") from None
        cls = AudioEngine if self.audio else NullOutput
        kw = {"device": self.device, "ahead": self.ahead} if self.audio else {"ahead": self.ahead}
        if self.audio and self.input_device is not None:  # duplex: input(channel) hears the card
            kw.update(input_device=self.input_device, input_channels=self.input_channels)
        if self.audio and self.midi and self.midi["output"]:
            from .drivers.midi import jack_graph
            if jack_graph():  # MIDI out written in the JACK graph by the audio process, frame-exact
                kw["midi_out"] = self.midi["output"]
                self.midi["graph"] = True
        server = None
        if self.osc:  # bind first: a port in use is reported before anything starts
            from .drivers.osc import OscServer
            server = OscServer(self.osc_host, self.osc_port, allow=self.osc_allow, on_error=self.osc_error)
            if server.warning:
                self.say(server.warning, err=True)
        self.engine = cls(build, (self.path, self.rate, self.block, self.limiter, self.ahead, None,
                                  self.allow_load_anywhere, self.log, self.shaders, self.window_on,
                                  self.broken is not None),
                          {**({"midi": self.midi} if self.midi else {}), **({"link": True} if self.link else {}),
                           **({"quant": self.quant} if self.quant is not None else {}),
                           **({"resume": self.resume} if self.resume else {})}
                          or None, **kw).start()
        self.rate, self.block = self.engine.info["rate"], self.engine.info["block"]  # (--from: the snapshot's)
        if server is not None:
            server.set_knobs(self._knobs_or_none())
            self.server = server.start()
            self._forwarder = threading.Thread(target=self._forward, name="dmmlive-osc-forward", daemon=True)
            self._forwarder.start()
        self.watcher = PatchWatcher(self.path, self.on_change, debounce=WATCH_DEBOUNCE,
                                    on_error=lambda p, e: self.say(f"dmmlive: {p}: {e}", err=True)).start()
        if self.server is not None:
            self.say(f"OSC on {self.server.address[0]}:{self.server.address[1]}")
        if self.midi:
            from .drivers.midi import midi_ports
            said = self.engine.call(midi_ports)
            self.say(said or "MIDI: no MIDI source to take from (--midi-in NAME when one is plugged in)")
        if self.link:
            from .drivers.link import link_status
            self.say(self.engine.call(link_status))
        self.say(f"playing {self.path} ({'sound: ' + str(self.engine.info.get('device', 'default')) if self.audio else 'no audio'}); "
                 "save the file to change the network; Ctrl-C to stop"
                 + (f"; logging to {self.log}" if self.log is not None else ""))
        if self.window_on:
            self._open_window()
            try:
                self._watch_shaders(parse(read_patch(self.path), self.path, types=self.types))
            except DmmError:
                pass  # changed since the engine loaded it, and broken: its save is reported
        if self.record_to is not None and not self._stop.is_set():  # (not if a signal came meanwhile)
            try:
                self.start_recording(self.record_to)
            except BaseException:
                self.stop()
                raise
        return self

    def _open_window(self) -> None:
        from .drivers.window import Window, WindowError, fed
        try:
            self.window = Window(fed(self.path, self.engine.frames, rate=self.rate, block=self.block,
                                     types=self.types),
                                 size=self.window_size, errors=lambda: list(self.errors),
                                 status=lambda: {**self.engine.status(), "reloads": self.reloads},
                                 on_close=self._stop.set, title=f"dmmlive: {Path(self.path).name}")
        except WindowError as e:
            self.stop()
            raise WindowError(f"{e}\n(use --no-window to play without one)") from e
        except BaseException:
            self.stop()
            raise
        from .gfx.types import compile_shaders  # the shader files compiled now: errors shown at start
        for e in compile_shaders(self.types, self.window.gpu):
            self.say(f"dmmlive: {e}\n(its neurons draw black until the file is fixed and saved; "
                     "the rest plays on)", err=True)
        if self.window.headless:
            self.say("no display: the window runs headless (nothing is shown)")
        self.say("window: F fullscreen, H overlay, Esc leaves fullscreen, Ctrl-Q or Esc Esc quits")

    def _forward(self) -> None:
        """OSC commands to the engine in batches; replies back to their senders."""
        while not self._stop.is_set():
            # small batches (the engine interleaves them with ticks), sent as the first comes;
            # an empty call every 5 ms brings the replies of timed commands that ran since
            cmds = self.server.drain(64, timeout=0.005)
            try:
                replies, requests = self.engine.call(Host.forward_osc, [tuple(c) for c in cmds], timeout=10.0)
            except DmmError as e:
                if self._stop.is_set():
                    return
                self.say(f"dmmlive: OSC: {e}", err=True)
                continue
            if replies:
                self.server.send_replies(replies)
                for address, args, _ in replies:
                    if address == ERROR and len(args) >= 2:
                        self.osc_error(args[0], args[1])
            for cmd, path in requests:
                self._on_record(cmd, path)

    def status_line(self) -> str:
        s = self.engine.status()
        b = self.broken
        return (f"t={s['ticks']:.0f} xruns={s['xruns']:.0f}{xrun_detail(s)} load={s['load']:.2f} "
                f"margin={1000 * s['margin']:.0f}ms latency={1000 * s['latency']:.0f}ms reloads={self.reloads}"
                + (f" ERR {Path(b.path).name}:{b.line}" if b is not None else ""))

    def report(self) -> None:
        """Print the engine's reports (it forwards each one the machine makes as it makes
        it, `Machine.on_report`) and the status line."""
        while self.engine.reports:
            self.say(self.engine.reports.popleft(), err=True)
        self.show_status(self.status_line())

    def run(self) -> int:
        """Play until --seconds pass, the window closes, or a stop signal comes; then stop.

        SIGINT (Ctrl-C), SIGTERM and SIGHUP all ask for the same clean stop (see `StopSignals`);
        one that comes while the app starts is kept until it plays (start-up is not torn apart
        half-way). Returns 0: a stop asked for is a performance ended as asked, as when
        --seconds pass (errors raise DmmError: the command exits 1)."""
        with StopSignals(self._on_signal):
            self.start()
            if self.window is not None:
                return self._run_window()
            t0 = time.monotonic()
            try:
                while not self._stop.is_set():
                    if self.seconds is not None and time.monotonic() - t0 >= self.seconds:
                        break
                    if self._stop.wait(self.status_every):
                        break  # a signal (no status line more: the stop line follows)
                    self.report()
            except KeyboardInterrupt:  # (raised by hand: Ctrl-C itself no longer raises it here)
                pass
            finally:
                self.stop()
            return 0

    def _on_signal(self, name: str) -> None:
        """A stop signal (on the signal thread): the first one stops the app the clean way, as
        the end of --seconds does; one while stopping is noted and otherwise ignored (the
        stop is already finishing the recording and the log, and ends on its own timeouts)."""
        if self._stop.is_set():
            self.say(f"dmmlive: {name}: stopping already (finishing the recording and the log)", err=True)
            return
        self.say(f"{name}: stopping")
        self._stop.set()
        window = self.window
        if window is not None:  # its loop, on the main thread, ends at its next turn
            window.close()

    def _run_window(self) -> int:
        """The window's loop on this thread (its GL thread); the status line from another."""
        status = threading.Thread(target=self._status_loop, name="dmmlive-status", daemon=True)
        status.start()
        try:
            if not self._stop.is_set():  # (a signal came while it started)
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
        self.stop_recording()  # its last sound is pulled before the engine stops
        if self.watcher is not None:
            self.watcher.stop()
        if self._forwarder is not None:
            self._forwarder.join(5.0)
        if self.server is not None:
            self.server.close()
        if self.engine is not None:
            s = self.engine.stop()
            self.say(f"stopped: {s['ticks']:.0f} ticks, {s['xruns']:.0f} xruns{xrun_detail(s)}")
