"""Shader hot reload while playing: the App watches the shader files its patch uses and
recompiles a saved one for the window's mirror on its GL thread; a file that does not
compile is reported with file:line (console and overlay) and the old shader goes on.

Headless window in this process (as tests/drivers/test_window.py); the shader lives in a
temporary folder handed to the App as `shaders=` (`dmmlive play --shaders FOLDER`).
"""
from __future__ import annotations

import io
import time

import numpy as np

from dmmlive.app import App

from .window_run import run_beside

WAIT = 30.0
NAME = "test_reload_tint"  # test_*: left out of `dmmlive types`


def shader(v: float, extra: str = "") -> str:
    return (f"// A flat grey, for the reload test.\nuniform float gain;  // default 1\n"
            f"vec4 effect(vec2 uv) {{\n{extra}    return vec4(vec3({v} * gain), 1.0);\n}}\n")


def grey(px, v):
    return bool((np.abs(np.asarray(px, int) - v * 255) <= 2).all())


def test_a_saved_shader_changes_the_picture_and_a_broken_one_does_not(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    folder = tmp_path / "shaders"
    folder.mkdir()
    frag = folder / f"{NAME}.frag"
    frag.write_text(shader(0.2), encoding="utf-8")
    p = tmp_path / "p.dmm"
    p.write_text(f"size(32, 18)\nfps(30)\nt = {NAME}()\nscreen = t\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    app = App(p, audio=False, osc=False, seconds=WAIT, out=out, err=err, window_size=(32, 18),
              shaders=folder)
    seen = {}

    def until(cond, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.02)
        seen.setdefault("failed", what)
        return False

    def editor():
        w = lambda: app.window  # noqa: E731
        if not until(lambda: w() is not None and w().frames_drawn >= 2, "first frames"):
            return
        seen["before"] = w().screenshot()[9, 16].copy()
        frag.write_text(shader(0.6), encoding="utf-8")
        if not until(lambda: grey(w().screenshot()[9, 16], 0.6), "the saved shader shown"):
            return
        # a broken save: reported with the file and its GLSL line; the picture stays
        frag.write_text(shader(0.9, "    float x = nope;\n"), encoding="utf-8")
        if not until(lambda: f"{NAME}.frag:4" in err.getvalue(), "the error reported"):
            return
        time.sleep(0.2)
        seen["broken"] = w().screenshot()[9, 16].copy()
        seen["overlay"] = w()._overlay_lines()  # what the overlay (H) shows
        frag.write_text(shader(0.4), encoding="utf-8")  # fixed: applies
        until(lambda: grey(w().screenshot()[9, 16], 0.4), "the fixed shader shown")
        seen["fixed"] = True

    assert run_beside(app, editor, WAIT) == 0
    assert "failed" not in seen and "fixed" in seen, (seen, out.getvalue(), err.getvalue())
    assert grey(seen["before"], 0.2) and grey(seen["broken"], 0.6) and seen["fixed"]
    e = err.getvalue()
    assert f"{frag}:4:" in e and "previous shader goes on running" in e
    assert any(f"{NAME}.frag:4" in line for line in seen["overlay"]), seen["overlay"]
    assert app.shader_reloads == 2 and app.reloads == 0
    assert f"{NAME}.frag: shader applied" in out.getvalue()


def test_a_shader_broken_at_start_is_shown_and_its_fix_applies(tmp_path, monkeypatch):
    """A shader file that does not compile when `play` starts is reported at once, like a
    patch error (file:line:col, the line, a caret; console and overlay); the rest plays
    on, and saving the fixed file brings the picture."""
    monkeypatch.delenv("DISPLAY", raising=False)
    folder = tmp_path / "shaders"
    folder.mkdir()
    frag = folder / f"{NAME}.frag"
    broken = shader(0.3).replace("    return", "    float x = 1.0\n    return")  # ';' missing, line 4
    frag.write_text(broken, encoding="utf-8")
    p = tmp_path / "p.dmm"
    p.write_text(f"size(32, 18)\nfps(30)\nt = {NAME}()\nscreen = t\nout = 0.1*sine(freq=440)\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    app = App(p, audio=False, osc=False, seconds=WAIT, out=out, err=err, window_size=(32, 18), shaders=folder)
    seen = {}

    def editor():
        deadline = time.monotonic() + WAIT
        w = lambda: app.window  # noqa: E731
        while time.monotonic() < deadline and not (w() is not None and w().frames_drawn >= 2):
            time.sleep(0.02)
        seen["overlay"] = w()._overlay_lines()
        seen["black"] = w().screenshot()[9, 16].copy()
        frag.write_text(shader(0.3), encoding="utf-8")
        while time.monotonic() < deadline and not grey(w().screenshot()[9, 16], 0.3):
            time.sleep(0.02)
        seen["fixed"] = grey(w().screenshot()[9, 16], 0.3)

    assert run_beside(app, editor, WAIT) == 0
    e = err.getvalue()
    head = f"{NAME}.frag:4:18: error: syntax error"
    assert head in e and "(a ';' missing at the end of line 4?)" in e, e
    assert "\n        float x = 1.0\n                     ^\n" in e, e  # the line and a caret after it
    assert "the rest plays on" in e
    assert e.count(head) == 1  # once
    assert any(head in line for line in seen["overlay"]), seen["overlay"]
    assert grey(seen["black"], 0.0) and seen["fixed"], seen
