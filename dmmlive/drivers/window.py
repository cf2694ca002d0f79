"""The window: shows what reaches `screen`, live, with keys and a status overlay (pyglet + moderngl).

Design, v2 (`dmmlive play`): the window draws the **engine's frames**. The engine's
machine publishes, at each frame tick, what its frame neurons get (`Machine(images=False,
publish_frames=True)`); they reach this process with the time their tick is heard
(`AudioEngine.frames`), and `fed(path, frames)` makes the window's `Fed`, whose `tick`
draws those due with a `gfx.picture.Picture` on the window's GL context. The picture is
the sound's network's, whatever rewrites it, and nothing of the sound runs here.

Design, v1 (`mirror`, still there for a Window used on its own): a **mirror machine**. The sound's machine lives in the
engine process (drivers/audio.py), where no window can reach it, so this process
loads the same patch again (`mirror(path, ...)`: `load(path, size=..., fps=...)` with
`Machine(gpu=Gpu(ctx=<the window's moderngl context>, size=<render size>))`) and is
handed the same patch texts the engine gets (the App calls `apply_text` on each save
the engine applied). The mirror is ticked on the window's GL thread at real-time pace:
as many ticks as the wall clock says since `run` started, at most `max_lag` seconds of
them per turn of the loop (default two frames' worth; after a stall the rest of the time
is dropped, so it never races to catch up).
Each new frame, `m.image()` is drawn scaled into the window, letterboxed: the render
size is the patch's and does not follow the window's size.

What follows from it: the window can never block the sound (it shares no process,
lock or GL context with the engine); it shares only the CPU (where the GL is software,
llvmpipe, the mirror's frames cost CPU the engine may need). The two machines run the same network
on the same texts but are two clocks: what the mirror shows tracks the sound to
within a frame or so while the window keeps up, and drifts by whatever time it drops
after a stall. The OSC commands the engine ran (`/dmm/set`, `/dmm/load`, the knobs and
the other section-7 commands that change the network) are handed to the mirror too
(`Window.osc`), which runs them through a Controller of its own between its ticks.
The mirror computes the audio neurons too (images may be driven by sound: `rms`, `waveform`).

Keys: F fullscreen on/off, H the overlay on/off (frame time, the status callable's
xruns and engine load, and the latest errors); Esc leaves fullscreen; Ctrl-Q (Cmd-Q), or
Esc twice within QUIT_WITHIN (1 s) when not fullscreen, closes the window and then calls
`on_close` (a single Esc shows "press Esc again to quit (or Ctrl-Q)" for that second,
overlay on or off: a stray Esc on stage never ends the set). With no display (Linux without DISPLAY) the same code runs on pyglet's
headless EGL window (`headless=None` decides; `True`/`False` force it); pyglet picks
headless or not when `pyglet.window` is first imported, so a process gets one kind.

Everything touching GL runs on the thread that made the window (the GL thread, which
calls `run`). `apply_text`, `reload_shader` and `close` may be called from any thread; `screenshot`
from another thread waits for the running loop to take the picture.

Shader hot reload: `reload_shader(path, done)` queues a saved shader file like a text;
the loop recompiles it for the mirror's Gpu (`gfx.types.reload_shader`) between ticks.
A file that does not compile leaves the old program running; the ShaderError (file:line)
goes to `done(path, err)` (the App prints it and shows it in the overlay), or to the
overlay's errors when no `done` is given. `on_frame(window)`, if set, is called on the
GL thread after each new frame of the mirror is drawn (the App records it from there).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

from .. import commands
from ..core.errors import DmmError
from .audio import xrun_detail

MAX_WINDOW = (1280, 720)  # the default window: the render size, scaled down to fit this
OVERLAY_EVERY = 0.25      # seconds between updates of the overlay's text
QUIT_WITHIN = 1.0         # seconds: a second Esc within this closes the window
QUIT_HINT = "press Esc again to quit (or Ctrl-Q)"


class WindowError(DmmError):
    """The window could not be opened (no display, no OpenGL 3.3, pyglet loaded otherwise)."""


def headless_default() -> bool:
    """Whether a window here must be headless: Linux with no X display."""
    return sys.platform.startswith("linux") and not os.environ.get("DISPLAY")


def _pyglet(headless: bool):
    import pyglet
    if "pyglet.window" in sys.modules:
        if bool(pyglet.options["headless"]) != headless:
            raise RuntimeError(f"pyglet was loaded {'with' if pyglet.options['headless'] else 'without'} "
                               f"its headless option; a {'headless' if headless else 'real'} window "
                               "needs a fresh process")
    else:
        pyglet.options["headless"] = headless
    import pyglet.window  # noqa: F401  (imports pyglet.gl, pyglet.text with it)
    import pyglet.shapes  # noqa: F401
    import pyglet.text  # noqa: F401
    return pyglet


def mirror(path, *, rate: int = 48000, block: int = 128, size=None, fps=None,
           limiter: bool = True, load_root=None, allow_load_anywhere: bool = False,
           types=None) -> Callable:
    """The factory of a mirror for the window: `factory(ctx) -> Host` (dmmlive.host), the
    patch at `path` loaded with its render size and fps (or `size`, `fps`) and a Gpu on
    `ctx`, with the session that applies the texts and the Controller that runs the OSC
    commands the engine ran (`load_root`, `allow_load_anywhere`: as the engine's).

    `rate` and `block` should be the engine's, so the mirror's clock is the sound's.
    """
    def make(ctx):
        from pathlib import Path

        from ..gfx.gpu import Gpu
        from ..host import Host
        from ..patch.live import open_patch
        from ..patch.parse import parse
        p = str(path)
        # the size is read first, so the Gpu and the machine are made at the same one
        # (load reads the file again: a save in between is applied by the watcher)
        wh = tuple(size or parse(Path(p).read_text(encoding="utf-8"), p, types=types).settings["size"])
        session = open_patch(p, rate=rate, block=block, size=wh, fps=fps, limiter=limiter,
                             gpu=Gpu(ctx=ctx, size=wh), types=types)
        host = Host(session.machine, session, load_root=load_root or str(Path(p).resolve().parent),
                    allow_load_anywhere=allow_load_anywhere)
        # timed commands: the mirror's tick about to be computed is shown now
        session.machine.before_tick.append(lambda m: host.will_tick(0.0))
        return host
    return make


def fed(path, frames, *, rate: int = 48000, block: int = 128, size=None, fps=None, types=None) -> Callable:
    """The factory of a window drawing the engine's own frames: `factory(ctx) -> Fed`.
    `frames`: the deque the engine's frames arrive in (`AudioEngine.frames`: records of a
    machine built with `publish_frames=True`, each with "at", when its tick is heard).
    The patch at `path` gives the render size and fps (or `size`, `fps`; the defaults
    where it has an error)."""
    def make(ctx):
        from pathlib import Path

        from ..gfx.gpu import Gpu
        from ..gfx.picture import Picture
        from ..core.errors import DmmError
        from ..patch.grammar import SETTINGS
        from ..patch.parse import parse
        p = str(path)
        try:
            st = parse(Path(p).read_text(encoding="utf-8"), p, types=types).settings
        except (DmmError, OSError, UnicodeDecodeError):  # a file with an error: the defaults
            st = SETTINGS  # (play starts silent on it: the engine's machine has them too)
        wh = tuple(size or st["size"])
        gpu = Gpu(ctx=ctx, size=wh)
        return Fed(Picture(gpu, rate=rate, block=block, fps=fps or st["fps"], types=types), frames)
    return make


class Fed:
    """What the window draws when the engine sends its frames (`fed`): it stands where the
    mirror machine stood (`frame`, `t`, `image()`, `fps`, `rate`, `block`, `size`, `gpu`,
    `types`, `reports`, `tick`), and each `tick` draws the frames whose sound is heard by now, so
    the picture shows what the sound it goes with computed, when that sound is heard."""

    def __init__(self, picture, frames):
        self.picture, self.frames = picture, frames
        self.gpu, self.types, self.fps = picture.gpu, picture.types, picture.fps
        self.rate, self.block, self.size = picture.rate, picture.block, picture.gpu.size
        self.frame = -1
        self.t = 0  # the engine's tick of the frame shown
        self.reports: deque = deque()
        self._image = None

    def tick(self, n: int = 1) -> None:
        now = time.time()
        while self.frames and self.frames[0].get("at", 0.0) <= now:
            rec = self.frames.popleft()
            try:
                self._image = self.picture.draw(rec)
            except Exception as e:  # noqa: BLE001  (a bad frame never takes the window down)
                self.reports.append(f"window: frame {rec['frame']}: {type(e).__name__}: {e}")
            self.frame, self.t = rec["frame"], rec["tick"]
        self.reports.extend(self.picture.errors)
        self.picture.errors.clear()

    def wait(self) -> float:
        """Seconds until the next frame waiting is due (a quarter of a frame when none has
        come yet: they come a margin ahead of their time, so that is soon enough)."""
        if self.frames:
            return max(0.0, self.frames[0].get("at", 0.0) - time.time())
        return 0.25 / self.fps

    def image(self):
        return self._image


def letterbox(render: tuple, frame: tuple) -> tuple:
    """The viewport (x, y, w, h) that shows an image of size `render` as large as fits in a
    framebuffer of size `frame`, aspect kept, centred (bars left/right or top/bottom)."""
    rw, rh = render
    fw, fh = frame
    s = min(fw / rw, fh / rh)
    w, h = max(1, round(rw * s)), max(1, round(rh * s))
    return ((fw - w) // 2, (fh - h) // 2, w, h)


class Window:
    """A window showing a mirror machine's `screen`; see the module docstring.

    `machine_factory(ctx) -> Host or Machine`: called once, on this thread, with the window's
    moderngl context; the machine must draw with a Gpu on that context (`mirror(...)`
    makes such a factory). `size`: the window's size in pixels (None: the render size,
    scaled down to fit 1280x720; a headless window cannot be resized and stays 640x360). `status() -> dict` (xruns, load, latency, reloads...)
    and `errors() -> list[str]` feed the overlay; `on_close()` is called once, after the
    window has closed (Esc, the close button, `close()`). `headless`: None decides from
    the environment (`headless_default`).
    """

    def __init__(self, machine_factory: Callable, *, size=None, status: Callable | None = None,
                 errors: Callable | None = None, on_close: Callable | None = None,
                 headless: bool | None = None, title: str = "dmmlive", vsync: bool = True,
                 max_lag: float | None = None, overlay: bool = False):
        self.headless = headless_default() if headless is None else bool(headless)
        try:
            pyglet = self._pyglet = _pyglet(self.headless)
        except Exception as e:  # noqa: BLE001  (no display, no GL library: said as such)
            raise WindowError(f"cannot open the window: {type(e).__name__}: {e}") from e
        import moderngl
        from pyglet.window import key
        self._key = key
        self.status, self.errors, self.on_close = status, errors, on_close
        self._thread = threading.get_ident()
        w, h = (640, 360) if size is None else (int(size[0]), int(size[1]))
        gl = pyglet.gl
        # 8 bits a channel: some EGL configs default to RGB565, which would band the picture
        configs = [gl.Config(red_size=8, green_size=8, blue_size=8, alpha_size=8, double_buffer=True), None]
        try:
            for i, config in enumerate(configs):
                try:
                    self.window = pyglet.window.Window(w, h, caption=title, resizable=True, config=config,
                                                       vsync=vsync and not self.headless)
                    break
                except pyglet.window.NoSuchConfigException:
                    if i == len(configs) - 1:
                        raise
        except Exception as e:  # noqa: BLE001
            raise WindowError(f"cannot open the window: {type(e).__name__}: {e}") from e
        try:
            try:
                # the context pyglet made current on this thread (EGL headless, GLX on X11...);
                # init_context finds either, where create_context's detection is X11-only on Linux
                moderngl.init_context()  # sets moderngl's default context (and returns None)
                self.ctx = moderngl.get_context()
            except Exception as e:  # noqa: BLE001
                raise WindowError(f"cannot use the window's OpenGL context: {type(e).__name__}: {e}") from e
            made = machine_factory(self.ctx)
            self.host = made if hasattr(made, "machine") else None  # a Host, or a bare Machine
            self.machine = made.machine if self.host is not None else made
            self.gpu = self.machine.gpu
            if self.gpu is None or getattr(self.gpu, "ctx", None) is not self.ctx:
                raise ValueError("the machine factory must give the machine a Gpu on the window's context "
                                 "(Machine(gpu=Gpu(ctx=ctx, size=...)); see mirror())")
        except BaseException:
            self.window.close()
            raise
        # ticks run per loop turn at most: after a stall the rest of the time is dropped
        self.max_lag = 2.0 / self.machine.fps if max_lag is None else float(max_lag)
        if size is None:
            rw, rh = self.gpu.size
            s = min(1.0, MAX_WINDOW[0] / rw, MAX_WINDOW[1] / rh)
            self.window.set_size(max(1, round(rw * s)), max(1, round(rh * s)))
        self.window.push_handlers(on_key_press=self._on_key_press, on_close=self._on_close)
        self.overlay = bool(overlay)
        self._batch = pyglet.graphics.Batch()
        self._panel = pyglet.shapes.Rectangle(0, 0, 1, 1, color=(0, 0, 0, 170), batch=self._batch)
        self._label = pyglet.text.Label("", x=8, y=8, width=max(16, w - 16), multiline=True,
                                        font_size=11, color=(255, 255, 255, 255), anchor_y="bottom",
                                        batch=self._batch)
        self.overlay_text = ""
        self._texts: deque = deque()   # (text, path, Patch or None) saved, waiting for the GL thread
        self._osc: deque = deque()     # lists of OSC commands, waiting for the GL thread
        self._shaders: deque = deque()  # (shader file, done) saved, waiting for the GL thread
        self.on_frame: Callable | None = None  # f(window) after each new frame is drawn
        self._calls: deque = deque()   # (fn, done Event, result box) from other threads
        self._own_errors: deque = deque(maxlen=32)  # the mirror's rejected texts and reports
        self.frames_drawn = 0
        self.ticks = 0            # mirror ticks run by this window
        self.dropped = 0.0        # seconds of clock dropped after stalls
        self.frame_ms = 0.0       # work per drawn frame (ticks + drawing), smoothed
        self.interval_ms = 0.0    # time between drawn frames, smoothed
        self._shown = None        # the machine frame last drawn
        self._dirty = True
        self._running = False
        self._closing = False
        self._closed = False
        self._fullscreen = False  # headless only
        self._overlay_at = -1e9   # when the overlay's text was last made
        self.key_clock: Callable[[], float] = time.monotonic  # when a key is pressed (Esc Esc)
        self._esc_at = None       # when the Esc that showed QUIT_HINT was pressed
        self._t0 = None
        self._last_present = None
        self._clear_gl_errors()

    # ---- any thread ---------------------------------------------------------------------
    def apply_text(self, text: str, path: str | None = None, parsed=None) -> None:
        """Queue a saved patch text (`parsed`: its Patch, if parsed already) for the mirror;
        applied on the GL thread between ticks."""
        self._texts.append((text, path, parsed))

    def osc(self, cmds) -> None:
        """Queue OSC commands the engine ran, [(op, args, timetag, tag)], for the mirror: run
        on the GL thread between ticks through its Controller (those of `commands.mirrored()`; the
        replies are the engine's to send), so the picture follows OSC as the sound does."""
        cmds = [c for c in cmds if c[0] in commands.mirrored()]
        if cmds:
            self._osc.append(cmds)

    def reload_shader(self, path, done: Callable | None = None) -> None:
        """Queue a saved shader file: recompiled for the mirror's Gpu on the GL thread between
        ticks; then `done(path, None)`, or `done(path, ShaderError)` with the old one kept."""
        self._shaders.append((str(path), done))

    def close(self) -> None:
        """Close the window (now on the GL thread outside `run`; else at the loop's next turn),
        then call `on_close` once."""
        self._closing = True
        if self._running or threading.get_ident() != self._thread:
            return  # the loop finishes it on its thread
        self._finish()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fullscreen(self) -> bool:
        return self._fullscreen if self.headless else bool(self.window.fullscreen)

    # ---- the GL thread --------------------------------------------------------------------
    def run(self, seconds: float | None = None, frames: int | None = None) -> None:
        """Run the window's loop on this (the GL) thread until it is closed, or for `seconds`,
        or until `frames` more frames are drawn. The mirror's clock pauses between runs."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("run the window on the thread that made it (its GL thread)")
        if self._closed:
            return
        tps = self.machine.rate / self.machine.block
        now = time.perf_counter()
        self._t0 = now - self.ticks / tps  # resume where the last run stopped
        stop_at = None if seconds is None else now + float(seconds)
        last = None if frames is None else self.frames_drawn + int(frames)
        clock = self._pyglet.clock
        self._running = True
        try:
            while not self._closing:
                if stop_at is not None and time.perf_counter() >= stop_at:
                    break
                if last is not None and self.frames_drawn >= last:
                    break
                self.window.dispatch_events()
                clock.tick()
                if self._closing:
                    break
                self._serve()
                t = time.perf_counter()
                self._advance(t, tps)
                new = self.machine.frame != self._shown
                if new or self._dirty:
                    self._present()
                    self.frame_ms += 0.1 * (1000 * (time.perf_counter() - t) - self.frame_ms)
                    if new and self.on_frame is not None:
                        self._frame_hook()
                self._sleep(tps, stop_at)
        except BaseException:
            self._running = False
            self._closing = True
            self._finish()
            raise
        finally:
            self._running = False
        if self._closing:
            self._finish()
        else:
            self._serve()  # a screenshot asked for just as the run ended

    def screenshot(self, timeout: float = 10.0) -> np.ndarray:
        """The window's picture as uint8 RGB (h, w, 3) at its framebuffer size, row 0 at the top:
        the current frame drawn (with the overlay if shown) into the back buffer and read.
        From another thread, the running loop takes it (waiting up to `timeout` seconds)."""
        if threading.get_ident() != self._thread:
            return self._call(self._read, timeout)
        return self._read()

    def _read(self) -> np.ndarray:
        if self._closed:
            raise RuntimeError("screenshot: the window is closed")
        self.window.switch_to()
        fw, fh = self._draw()
        data = self.ctx.screen.read(viewport=(0, 0, fw, fh), components=3, alignment=1)
        self._clear_gl_errors()  # reading the default framebuffer flags a harmless GL error
        return np.frombuffer(data, np.uint8).reshape(fh, fw, 3)[::-1].copy()

    def toggle_fullscreen(self) -> None:
        if self.headless:  # a pbuffer keeps its size: only the state changes
            self._fullscreen = not self._fullscreen
        else:
            self.window.set_fullscreen(not self.window.fullscreen)
        self._dirty = True

    def toggle_overlay(self) -> None:
        self.overlay = not self.overlay
        self._overlay_at = -1e9  # a fresh text when it shows
        self._dirty = True

    # ---- internals --------------------------------------------------------------------------
    def _call(self, fn, timeout: float):
        """Run fn on the GL thread (by the loop) and return what it returns."""
        if self._closed:
            raise RuntimeError("the window is closed")
        done, box = threading.Event(), []
        self._calls.append((fn, done, box))
        if not done.wait(timeout):
            raise RuntimeError(f"the window's loop did not run it within {timeout:g} s (is it running?)")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _serve(self) -> None:
        if self._esc_at is not None and not self.quit_hint:  # the hint's second is over: draw without it
            self._esc_at = None
            self._overlay_at = -1e9
            self._dirty = True
        while self._texts:
            text, path, parsed = self._texts.popleft()
            try:
                if self.host is not None:
                    self.host.session.apply(text, path, parsed=parsed)
            except DmmError as e:
                self._own_errors.append(f"window: {e}")
            except Exception as e:  # noqa: BLE001  (a bad text must never take the window down)
                self._own_errors.append(f"window: {type(e).__name__}: {e}")
            self._dirty = True
        ctl = self.host.controller if self.host is not None else None
        while self._osc:
            cmds = self._osc.popleft()
            if ctl is None:
                continue
            for op, args, timetag, _ in cmds:
                try:  # a refused command is refused by the engine too, which replies
                    ctl.submit(op, args, timetag, None)
                except Exception as e:  # noqa: BLE001  (never takes the window down)
                    self._own_errors.append(f"window: OSC {op}: {type(e).__name__}: {e}")
            self._dirty = True
        while self._shaders:
            path, done = self._shaders.popleft()
            from ..gfx.types import reload_shader
            try:
                reload_shader(path, self.gpu, self.machine.types)
                err = None
            except Exception as e:  # noqa: BLE001  (a bad shader must never take the window down)
                err = e
            self._clear_gl_errors()
            self._dirty = True
            if done is not None:
                try:
                    done(path, err)
                except Exception as e:  # noqa: BLE001
                    self._own_errors.append(f"window: {type(e).__name__}: {e}")
            elif err is not None:
                self._own_errors.append(f"window: {err}")
        while self._calls:
            fn, done, box = self._calls.popleft()
            try:
                box.append(fn())
            except BaseException as e:  # noqa: BLE001  (handed to the caller)
                box.append(e)
            done.set()

    def _advance(self, now: float, tps: float) -> None:
        due = int((now - self._t0) * tps) - self.ticks
        cap = max(1, int(self.max_lag * tps))
        if due > cap:  # a stall: drop the time rather than race to catch up
            self._t0 += (due - cap) / tps
            self.dropped += (due - cap) / tps
            due = cap
        if due <= 0:
            return
        m = self.machine
        try:
            m.tick(due)
        except Exception as e:  # noqa: BLE001  (the machine reports its neurons' failures itself)
            self._own_errors.append(f"window: tick failed: {type(e).__name__}: {e}")
        self.ticks += due
        while m.reports:  # mostly what the engine's machine reports too: same text, shown once
            self._own_errors.append(m.reports.popleft())
        self._clear_gl_errors()

    def _frame_hook(self) -> None:
        try:
            self.on_frame(self)
        except Exception as e:  # noqa: BLE001  (recording trouble never stops the window)
            self._own_errors.append(f"window: on_frame: {type(e).__name__}: {e}")
        self._clear_gl_errors()

    def _sleep(self, tps: float, stop_at) -> None:
        """Until the tick of the mirror's next frame is due (at most one frame)."""
        m = self.machine
        if isinstance(m, Fed):  # the engine's frames: until the next is heard
            dt = min(m.wait(), 1.0 / m.fps)
            if stop_at is not None:
                dt = min(dt, stop_at - time.perf_counter())
            if dt > 0:
                time.sleep(dt)
            return
        nxt = (m.frame + 1) / m.fps                      # the next frame's time (s)
        tick = int(nxt * tps) + 1                        # the tick it falls in
        wake = self._t0 + tick / tps
        if stop_at is not None:
            wake = min(wake, stop_at)
        dt = min(wake - time.perf_counter(), 1.0 / m.fps)
        if dt > 0:
            time.sleep(dt)

    def _present(self) -> None:
        self.window.switch_to()
        self._draw()
        self.window.flip()
        self.frames_drawn += 1
        self._shown = self.machine.frame
        self._dirty = False
        t = time.perf_counter()
        if self._last_present is not None:
            self.interval_ms += 0.1 * (1000 * (t - self._last_present) - self.interval_ms)
        self._last_present = t

    def _draw(self) -> tuple:
        fw, fh = self.window.get_framebuffer_size()
        screen = self.ctx.screen
        screen.use()
        screen.viewport = (0, 0, fw, fh)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        img = self.machine.image()
        if img is not None:
            self.gpu.draw(img, screen, viewport=letterbox(self.gpu.size, (fw, fh)))
            screen.viewport = (0, 0, fw, fh)
        self._clear_gl_errors()
        if self.overlay or self.quit_hint:
            self._draw_overlay()
        return fw, fh

    def _overlay_lines(self) -> list:
        """What the overlay (H) shows: the quit hint while it shows, then the status."""
        lines = [QUIT_HINT] if self.quit_hint else []
        return lines + self._status_lines()

    def _status_lines(self) -> list:
        m = self.machine
        lines = [f"frame {self.frame_ms:.1f} ms, every {self.interval_ms:.1f} ms "
                 f"(target {1000 / m.fps:.1f}); render {m.size[0]}x{m.size[1]}; "
                 f"t={m.t / (m.rate / m.block):.1f} s"
                 + (f", dropped {self.dropped:.1f} s" if self.dropped else "")]
        if self.status is not None:
            try:
                s = self.status() or {}
                lines.append(f"sound: xruns {s.get('xruns', 0):.0f}{xrun_detail(s)}, load {s.get('load', 0.0):.2f}, "
                             f"latency {1000 * s.get('latency', 0.0):.0f} ms, reloads {s.get('reloads', 0):.0f}")
            except Exception as e:  # noqa: BLE001  (the engine may be gone: say so, keep drawing)
                lines.append(f"sound: status unavailable ({type(e).__name__}: {e})")
        errs = []
        if self.errors is not None:
            try:
                errs = list(self.errors())
            except Exception as e:  # noqa: BLE001
                errs = [f"errors unavailable ({type(e).__name__}: {e})"]
        errs += list(self._own_errors)
        seen, recent = set(), []
        for e in reversed(errs):  # newest first, each once
            if e not in seen:
                seen.add(e)
                recent.append(e)
        if recent:
            lines.append("errors (newest first):")
            lines += ["  " + ln for e in recent[:4] for ln in str(e).splitlines()[:3]]
        lines.append("F fullscreen · H overlay · Esc leave fullscreen · Esc Esc or Ctrl-Q quit")
        return lines

    def _draw_overlay(self) -> None:
        w, h = self.window.get_size()
        now = time.perf_counter()
        # overlay off: the quit hint alone (drawn only while it shows)
        self.overlay_text = text = "\n".join(self._overlay_lines() if self.overlay else [QUIT_HINT])
        width = max(16, w - 16)
        # laying a new text out costs milliseconds: a few times a second is enough to read
        if text != self._label.text and now - self._overlay_at >= OVERLAY_EVERY or self._label.width != width:
            self._overlay_at = now
            self._label.width = width
            self._label.text = text
        self._panel.width = w
        self._panel.height = min(h, self._label.content_height + 16)
        self._batch.draw()

    def _on_key_press(self, symbol, modifiers):
        k = self._key
        if symbol == k.Q and modifiers & (k.MOD_CTRL | k.MOD_COMMAND) and not modifiers & k.MOD_ALT:
            self.close()  # Ctrl-Q (Cmd-Q on a Mac)
            return True
        if modifiers & (k.MOD_CTRL | k.MOD_ALT | k.MOD_COMMAND):
            return None
        if symbol == k.F:
            self.toggle_fullscreen()
        elif symbol == k.H:
            self.toggle_overlay()
        elif symbol == k.ESCAPE:
            self.escape()
        else:
            return None
        return True  # handled: pyglet's default (Esc = on_close) does not run too

    def escape(self) -> None:
        """What Esc does: in fullscreen, leave it (nothing else); else the first Esc shows
        QUIT_HINT and a second within QUIT_WITHIN seconds closes the window."""
        now = self.key_clock()
        if self.fullscreen:
            self.toggle_fullscreen()
            self._esc_at = None
        elif self._esc_at is not None and now - self._esc_at <= QUIT_WITHIN:
            self._esc_at = None
            self.close()
        else:
            self._esc_at = now
            self._overlay_at = -1e9  # the hint's text at once
            self._dirty = True

    @property
    def quit_hint(self) -> bool:
        """Whether QUIT_HINT shows: within QUIT_WITHIN seconds of a first Esc."""
        at = self._esc_at
        return at is not None and self.key_clock() - at <= QUIT_WITHIN

    def _on_close(self):
        self.close()
        return True

    def _clear_gl_errors(self) -> None:
        """Drop GL error flags moderngl leaves (pyglet checks after its own calls and would
        blame itself for them)."""
        for _ in range(8):
            if self.ctx.error == "GL_NO_ERROR":
                break

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.window.switch_to()
            self.gpu.close()  # its textures and programs; the context is the window's
        except Exception:  # noqa: BLE001  (closing anyway)
            pass
        for fn, done, box in list(self._calls):
            box.append(RuntimeError("the window closed"))
            done.set()
        self._label.delete()
        self._panel.delete()
        self.window.close()
        if self.on_close is not None:
            self.on_close()
