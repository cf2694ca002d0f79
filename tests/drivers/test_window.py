"""The window through its seams: pictures read back from its framebuffer, keys dispatched
through pyglet's event API, texts applied as a save would, and `dmmlive play` with it.

Runs on pyglet's headless EGL window (no display needed); one test opens a real X window
under Xvfb in a subprocess (pyglet chooses headless or not once per process). Nothing
waits on the wall clock but generous timeouts for things that must happen.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dmmlive.drivers.window import Window, WindowError, letterbox, mirror

WAIT = 30.0  # seconds to wait for something that must happen


def patch(tmp_path, body, name="p.dmm", size=(32, 18)):
    p = tmp_path / name
    p.write_text(f"size({size[0]}, {size[1]})\nfps(30)\n{body}\n", encoding="utf-8")
    return p


@pytest.fixture
def make(tmp_path):
    made = []

    def make_window(body="screen = 0.5", size=(64, 54), render=(32, 18), **kw):
        w = Window(mirror(patch(tmp_path, body, size=render)), size=size, headless=True, **kw)
        made.append(w)
        return w
    yield make_window
    for w in made:
        w.close()


def is_grey(px, v):
    """Whether uint8 pixels are the grey v (drivers round v*255 either way: 0.5 is 127 or 128)."""
    return bool((np.abs(np.asarray(px, int) - v * 255) <= 1).all())


def shown(w):
    """The mirror's current image as read_rgb8 reads it: what the window must show."""
    return w.gpu.read_rgb8(w.machine.image())


def press(w, symbol_name, modifiers=0):
    """A key press as pyglet delivers it: queued on the window, handled when its events are
    dispatched (as the loop does each turn). Import pyglet.window only once a Window chose
    headless or not."""
    from pyglet.window import key
    w.window.dispatch_event("on_key_press", getattr(key, symbol_name), modifiers)
    w.window.dispatch_events()


def test_letterbox_fits_and_centres():
    assert letterbox((32, 18), (64, 54)) == (0, 9, 64, 36)      # bars top and bottom
    assert letterbox((32, 18), (96, 18)) == (32, 0, 32, 18)     # bars left and right
    assert letterbox((640, 360), (1920, 1080)) == (0, 0, 1920, 1080)
    assert letterbox((100, 100), (7, 3)) == (2, 0, 3, 3)


def test_window_shows_the_mirror_screen_letterboxed(make):
    w = make("screen = 0.5", size=(64, 54))
    assert w.headless and w.gpu.size == (32, 18) and w.gpu.ctx is w.ctx
    w.run(frames=3)
    assert w.frames_drawn >= 3 and w.machine.frame >= 1
    ref = w.gpu.read_rgb8(w.machine.image())
    assert is_grey(ref, 0.5) and (ref == ref[0, 0]).all()
    shot = w.screenshot()
    assert shot.shape == (54, 64, 3)
    # render 32x18 scaled by 2 into 64x54: 9 black rows above and below
    assert (shot[9:45] == ref[0, 0]).all()
    assert (shot[:9] == 0).all() and (shot[45:] == 0).all()


def test_picture_is_the_machine_image_pixel_for_pixel(make):
    # a gradient (red left to right, green bottom to top) at 1:1 scale, then pillarboxed
    w = make("screen = gradient()", size=(32, 18))
    w.run(frames=2)
    ref = w.gpu.read_rgb8(w.machine.image())
    shot = w.screenshot()
    assert ref[0, -1, 0] > ref[0, 0, 0] and ref[0, 0, 1] > ref[-1, 0, 1]  # row 0 is the top
    np.testing.assert_array_equal(shot, ref)
    wide = make("screen = gradient()", size=(96, 18))  # a pbuffer cannot be resized: another window
    wide.run(frames=2)
    ref = wide.gpu.read_rgb8(wide.machine.image())
    shot = wide.screenshot()
    np.testing.assert_array_equal(shot[:, 32:64], ref)
    assert (shot[:, :32] == 0).all() and (shot[:, 64:] == 0).all()


def test_a_saved_text_changes_the_picture_and_a_bad_one_does_not(make, tmp_path):
    w = make("screen = 0.5")
    w.run(frames=2)
    assert (w.screenshot()[9:45] == shown(w)[0, 0]).all() and is_grey(shown(w), 0.5)
    path = str(tmp_path / "p.dmm")
    w.apply_text("size(32, 18)\nfps(30)\nscreen = 0.2\n", path)
    w.run(frames=2)
    assert (w.screenshot()[9:45] == shown(w)[0, 0]).all() and is_grey(shown(w), 0.2)
    w.apply_text("size(32, 18)\nscreen = sinee(\n", path)  # rejected whole: the picture stays
    w.run(frames=2)
    assert (w.screenshot()[9:45] == shown(w)[0, 0]).all() and is_grey(shown(w), 0.2)
    assert any("was never closed" in e for e in w._own_errors)


def test_apply_text_and_screenshot_from_another_thread(make, tmp_path):
    w = make("screen = 0.5")
    got = {}

    def other():
        w.apply_text("size(32, 18)\nfps(30)\nscreen = 0.2\n", str(tmp_path / "p.dmm"))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            shot = w.screenshot()  # taken by the running loop on its thread
            if is_grey(shot[20, 20], 0.2):
                got["shot"] = shot
                break
        w.close()  # from this thread: the loop closes the window on its own

    closed = []
    w.on_close = lambda: closed.append(threading.current_thread().name)
    t = threading.Thread(target=other, name="other")
    t.start()
    w.run(seconds=WAIT)
    t.join(WAIT)
    assert "shot" in got and (got["shot"][:9] == 0).all()
    assert w.closed and closed == [threading.current_thread().name]


def test_keys_toggle_fullscreen_and_overlay_and_esc_closes(make):
    closed = []
    w = make("screen = 0.5", on_close=lambda: closed.append(1))
    from pyglet.window import key
    w.run(frames=1)
    plain = w.screenshot()

    assert not w.fullscreen
    press(w, "F")
    assert w.fullscreen  # headless: the state (a pbuffer keeps its size; Xvfb test: the real one)
    press(w, "F")
    assert not w.fullscreen and w.window.get_size() == (64, 54)
    press(w, "F", key.MOD_CTRL)  # Ctrl-F is not ours
    assert not w.fullscreen

    assert not w.overlay
    press(w, "H")
    assert w.overlay
    w.run(frames=1)
    assert "F fullscreen" in w.overlay_text
    assert (w.screenshot() != plain).any()  # the overlay is drawn over the picture
    press(w, "H")
    assert not w.overlay
    np.testing.assert_array_equal(w.screenshot(), plain)

    press(w, "ESCAPE")
    assert not w.closed and w.quit_hint  # one Esc: the hint
    press(w, "ESCAPE")
    assert w.closed and closed == [1]    # two within a second: closed
    w.close()
    w.run(seconds=1)
    assert closed == [1]  # once


def test_esc_in_the_running_loop_ends_run_and_calls_on_close(make):
    closed = []
    w = make("screen = 0.5", on_close=lambda: closed.append(w.closed))
    from pyglet.window import key
    w.run(frames=1)
    w.window.dispatch_event("on_key_press", key.ESCAPE, 0)  # queued: the loop handles them
    w.window.dispatch_event("on_key_press", key.ESCAPE, 0)
    w.run(seconds=WAIT)  # returns when Esc Esc closes it
    assert w.closed and closed == [True]  # the window was closed before on_close ran


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_one_esc_does_not_quit_it_shows_the_hint_for_a_second(make):
    from dmmlive.drivers.window import QUIT_HINT
    closed = []
    w = make("screen = 0.5", on_close=lambda: closed.append(1))
    w.key_clock = clock = FakeClock()
    w.run(frames=1)
    plain = w.screenshot()
    assert not w.overlay and not w.quit_hint
    press(w, "ESCAPE")
    assert not w.closed and w.quit_hint and not w.fullscreen
    w.run(frames=1)
    assert w.overlay_text == QUIT_HINT == "press Esc again to quit (or Ctrl-Q)"
    assert (w.screenshot() != plain).any()  # shown with the overlay off
    clock.t += 1.5
    assert not w.quit_hint
    w.run(frames=1)  # the loop draws it away
    np.testing.assert_array_equal(w.screenshot(), plain)
    press(w, "ESCAPE")               # 1.5 s after the first: a first again
    assert not w.closed and w.quit_hint
    clock.t += 0.9
    press(w, "ESCAPE")               # 0.9 s after: closes
    assert w.closed and closed == [1]


def test_the_hint_tops_the_overlay_when_it_is_on(make):
    w = make("screen = 0.5")
    w.key_clock = FakeClock()
    press(w, "H")
    press(w, "ESCAPE")
    w.run(frames=1)
    lines = w.overlay_text.splitlines()
    assert lines[0] == "press Esc again to quit (or Ctrl-Q)" and len(lines) > 1
    assert lines[-1] == "F fullscreen · H overlay · Esc leave fullscreen · Esc Esc or Ctrl-Q quit"


def test_ctrl_q_quits_and_q_alone_does_not(make):
    from pyglet.window import key
    closed = []
    w = make("screen = 0.5", on_close=lambda: closed.append(1))
    press(w, "Q")
    press(w, "Q", key.MOD_ALT)
    assert not w.closed
    press(w, "Q", key.MOD_CTRL)
    assert w.closed and closed == [1]
    w2 = make("screen = 0.5")
    press(w2, "Q", key.MOD_COMMAND)  # Cmd-Q on a Mac
    assert w2.closed
    w3 = make("screen = 0.5")
    w3.run(frames=1)
    w3.window.dispatch_event("on_key_press", key.Q, key.MOD_CTRL)  # queued: the loop handles it
    w3.run(seconds=WAIT)
    assert w3.closed


def test_esc_in_fullscreen_leaves_it_and_does_not_count_toward_quitting(make):
    closed = []
    w = make("screen = 0.5", on_close=lambda: closed.append(1))
    w.key_clock = FakeClock()
    press(w, "F")
    assert w.fullscreen
    press(w, "ESCAPE")
    assert not w.fullscreen and not w.closed and not w.quit_hint
    press(w, "ESCAPE")  # at once: the first Esc out of fullscreen
    assert not w.fullscreen and not w.closed and w.quit_hint
    press(w, "F")
    press(w, "ESCAPE")  # fullscreen again: Esc leaves it, even within the hint's second
    assert not w.fullscreen and not w.closed and not w.quit_hint
    press(w, "ESCAPE")
    press(w, "ESCAPE")
    assert w.closed and closed == [1]


def test_overlay_shows_status_and_the_latest_errors(make, tmp_path):
    errs = ["p.dmm:3:8: unknown neuron type 'sinee' (did you mean 'sine'?)"]
    w = make("screen = 0.5", status=lambda: {"xruns": 3, "short": 1, "underflows": 2, "load": 0.25, "latency": 0.012, "reloads": 2},
             errors=lambda: list(errs), overlay=True)
    w.run(frames=1)
    assert "xruns 3 (engine 1, host 2), load 0.25, latency 12 ms, reloads 2" in w.overlay_text
    assert "unknown neuron type 'sinee' (did you mean 'sine'?)" in w.overlay_text
    errs.append("p.dmm:4:1: syntax error")
    w.apply_text("size(32, 18)\nfps(30)\nscreen = plasma(speed=\n", str(tmp_path / "p.dmm"))
    w.run(frames=1)
    lines = w.overlay_text.splitlines()
    assert "syntax error" in w.overlay_text and "was never closed" in w.overlay_text
    # newest first: the mirror's own rejection, then the App's latest
    assert lines.index("errors (newest first):") + 1 == next(i for i, s in enumerate(lines) if "window:" in s)

    def broken():
        raise RuntimeError("engine gone")
    w.status = broken
    w.run(frames=1)
    assert "status unavailable (RuntimeError: engine gone)" in w.overlay_text


def test_a_window_that_cannot_open_says_why(make):
    make()  # pyglet is loaded headless in this process: a real window cannot be made here
    with pytest.raises(WindowError, match="cannot open the window: .*fresh process"):
        Window(lambda ctx: None, size=(16, 16), headless=False)


def test_play_without_a_window_to_open_stops_and_says_use_no_window(make, tmp_path, monkeypatch, capsys):
    from dmmlive.cli import main
    make()
    monkeypatch.setenv("DISPLAY", ":99")  # asks for a real window, which this process cannot make
    p = patch(tmp_path, "screen = 0.5")
    assert main(["play", str(p), "--no-audio", "--no-osc", "--seconds", "30"]) == 1
    assert "(use --no-window to play without one)" in capsys.readouterr().err


def test_a_factory_without_the_windows_gpu_is_refused():
    from dmmlive import Machine
    with pytest.raises(ValueError, match="Gpu on the window's context"):
        Window(lambda ctx: Machine(), size=(16, 16), headless=True)


def test_play_with_a_window_applies_saves_and_stops_cleanly(tmp_path, monkeypatch):
    from dmmlive.app import App
    monkeypatch.delenv("DISPLAY", raising=False)  # headless, as in this process already
    p = patch(tmp_path, "screen = 0.5")
    out, err = io.StringIO(), io.StringIO()
    app = App(p, audio=False, osc=False, seconds=WAIT, out=out, err=err, window_size=(64, 54))
    seen = {}

    def editor():
        deadline = time.monotonic() + WAIT
        while (app.window is None or app.window.frames_drawn < 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        seen["before"] = app.window.screenshot()[20, 20].copy()
        p.write_text("size(32, 18)\nfps(30)\nscreen = 0.2\n", encoding="utf-8")
        while time.monotonic() < deadline:
            if is_grey(app.window.screenshot()[20, 20], 0.2):
                seen["after"] = True
                break
            time.sleep(0.02)
        app.window.close()  # as Esc does: the window closes, then the app stops

    t = threading.Thread(target=editor)
    t.start()
    assert app.run() == 0
    t.join(WAIT)
    assert is_grey(seen["before"], 0.5) and seen.get("after")
    assert app.window.closed and app.reloads == 1
    assert not app.engine.running and app.watcher is not None
    text = out.getvalue()
    assert "headless" in text and "applied" in text and "stopped:" in text


def test_play_cli_no_window_and_seconds(tmp_path, monkeypatch):
    from dmmlive.cli import build_parser, main
    assert build_parser().parse_args(["play", "x.dmm", "--no-window"]).no_window
    assert not build_parser().parse_args(["play", "x.dmm"]).no_window
    monkeypatch.delenv("DISPLAY", raising=False)
    p = patch(tmp_path, "screen = 0.5")
    assert main(["play", str(p), "--no-audio", "--no-osc", "--seconds", "1"]) == 0  # and returns


XVFB_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from pyglet.window import key
    from dmmlive.drivers.window import Window, mirror
    closed = []
    w = Window(mirror(sys.argv[1]), size=(64, 54), headless=None, on_close=lambda: closed.append(1))
    assert not w.headless, "a DISPLAY is set: a real window"
    print(type(w.window).__name__)
    w.run(frames=3)
    shot = w.screenshot().astype(int)
    assert (abs(shot[9:45] - 127.5) <= 1).all() and (shot[:9] == 0).all(), shot[:, 0]
    w.window.dispatch_event("on_key_press", key.F, 0)
    w.run(frames=2)
    assert w.fullscreen and w.window.get_size() == (320, 240), w.window.get_size()
    shot = w.screenshot().astype(int)
    assert shot.shape == (240, 320, 3) and (abs(shot[30:210] - 127.5) <= 1).all() and (shot[:30] == 0).all()
    w.window.dispatch_event("on_key_press", key.ESCAPE, 0)  # Esc leaves fullscreen, and only that
    w.run(frames=2)
    assert not w.fullscreen and not w.closed and not w.quit_hint
    w.window.dispatch_event("on_key_press", key.ESCAPE, 0)
    w.run(frames=2)
    assert not w.closed and w.quit_hint
    w.window.dispatch_event("on_key_press", key.ESCAPE, 0)
    w.run(seconds=5)
    assert w.closed and closed == [1]
    print("ok")
""")


def test_a_real_window_under_xvfb(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb xauth)")
    p = patch(tmp_path, "screen = 0.5")
    script = tmp_path / "real_window.py"
    script.write_text(XVFB_SCRIPT, encoding="utf-8")
    env = dict(os.environ)
    env.pop("PYGLET_HEADLESS", None)
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 320x240x24", sys.executable, str(script), str(p)],
                       capture_output=True, text=True, timeout=120, env=env,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["XlibWindow", "ok"]
