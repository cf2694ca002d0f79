"""OSC reaches the window: the App hands the commands the engine ran to the window's mirror
machine, so the picture follows `/dmm/set`, `/dmm/value` and the knobs as the sound does.

A headless window in this process (as tests/test_shader_reload.py), the engine without a
card (NullOutput), real UDP on loopback.
"""
from __future__ import annotations

import io
import time

import numpy as np

from dmmlive.app import App

from .window_run import run_beside
from dmmlive.drivers import osc

WAIT = 30.0
NAME = "test_osc_grey"  # test_*: left out of `dmmlive types`
SHADER = ("// A flat grey of 0.2 * gain, for the OSC test.\nuniform float gain;  // default 1\n"
          "vec4 effect(vec2 uv) {\n    return vec4(vec3(0.2 * gain), 1.0);\n}\n")
PATCH = f"""\
size(32, 18)
fps(30)
fade(0)
k = knob("/1/fader1", default=1.0, lag=0)
t = {NAME}()
t.gain = k
screen = t
"""


def level(px) -> float:
    return float(np.mean(np.asarray(px[:3], float))) / 255


def test_osc_commands_and_knobs_change_the_window_picture(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    folder = tmp_path / "shaders"
    folder.mkdir()
    (folder / f"{NAME}.frag").write_text(SHADER, encoding="utf-8")
    p = tmp_path / "p.dmm"
    p.write_text(PATCH, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    app = App(p, audio=False, osc_port=0, seconds=WAIT, out=out, err=err, window_size=(32, 18),
              shaders=folder)
    seen: dict = {}

    def until(want, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            got = level(app.window.screenshot()[9, 16])
            if abs(got - want) <= 2 / 255:
                seen[what] = got
                return True
            time.sleep(0.02)
        seen.setdefault("failed", (what, got))
        return False

    def controller():
        while app.window is None or app.window.frames_drawn < 2 or app.server is None:
            time.sleep(0.02)
        port = app.server.port
        steps = [
            (None, 0.2, "start"),                                   # 0.2 * k, k = 1
            (("/dmm/set", "t.gain", "k", 2.0), 0.4, "set"),         # 0.2 * 2k
            (("/1/fader1", 1.5), 0.6, "knob"),                      # 0.2 * 2 * 1.5
            (("/dmm/value", "t.gain", 0.5), 0.7, "value"),          # + 0.2 * 0.5 from one
        ]
        for msg, want, what in steps:
            if msg is not None:
                osc.send("127.0.0.1", port, *msg)
            if not until(want, what):
                return

    assert run_beside(app, controller, WAIT) == 0
    assert "failed" not in seen, (seen, out.getvalue(), err.getvalue())
    assert set(seen) == {"start", "set", "knob", "value"}
    assert err.getvalue() == ""
