"""`dmmlive play`: real file saves reach the engine's machine; a bad save is reported and the
old network plays on; on a clocked device (the JACK dummy) a save costs no xrun.

One App (engine process, watcher, no OSC) is shared by the in-process tests; the probes
below run in the engine process (`engine.call` pickles them by reference: this module is
importable there because the spawned process gets this process's sys.path).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dmmlive.app import App

from .conftest import engine_xruns_allowed, host_xruns_allowed, skip_if_host_unfit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("dmmlive")
CLI = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "dmmlive.cli"]
RATE = 48000

PATCH = """\
fade(0.02)
a = sine(freq=440)
b = sine(freq=660)
out = 0.2*a
"""


# ---- probes, run in the engine process ------------------------------------------------------
def out_rows(host):
    """W's rows of `out.left` and `out.right`: {src: weight}."""
    W = host.machine.matrix.get("out", {})
    return {port: {src: outs["out"] for src, outs in W.get(port, {}).items()} for port in ("left", "right")}


def declared(host):
    """{neuron: type name} of the running machine, built-ins left out."""
    return {n: t for n, t in host.machine.neurons.items() if n not in ("self", "one", "edits", "out", "screen")}


def ticks(host):
    return host.machine.t


# ---- helpers --------------------------------------------------------------------------------
class Console:
    """A stream the App prints to, from its threads; `wait_for` a regex in what came."""

    def __init__(self):
        self.text = ""
        self._cv = threading.Condition()

    def write(self, s):
        with self._cv:
            self.text += s
            self._cv.notify_all()
        return len(s)

    def flush(self):
        pass

    def wait_for(self, pattern, start=0, timeout=15.0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        with self._cv:
            while True:
                m = rx.search(self.text, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern!r} within {timeout} s in:\n{self.text[start:]}")
                self._cv.wait(left)


def save(path: Path, text: str) -> None:
    """An atomic save, as many editors do it: write a temporary file, then move it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_until(fn, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, want {want!r}")
        time.sleep(0.02)


def amplitudes(x, freqs):
    """Least-squares amplitudes of sines at `freqs` (Hz) in x (any phase)."""
    t = np.arange(len(x)) / RATE
    cols = [f(2 * np.pi * fr * t) for fr in freqs for f in (np.sin, np.cos)]
    coef, *_ = np.linalg.lstsq(np.stack(cols, 1), x, rcond=None)
    return [float(np.hypot(coef[2 * i], coef[2 * i + 1])) for i in range(len(freqs))]


@pytest.fixture(scope="module")
def player(tmp_path_factory):
    path = tmp_path_factory.mktemp("play") / "live.dmm"
    path.write_text(PATCH)
    out, err = Console(), Console()
    app = App(str(path), audio=False, window=False, osc=False, out=out, err=err)
    app.start()
    try:
        yield app, path, out, err
    finally:
        app.stop()


# ---- in-process App -------------------------------------------------------------------------
def test_the_app_plays_the_patch(player):
    app, path, out, err = player
    assert f"playing {path} (no audio)" in out.text
    assert app.engine.call(out_rows) == {"left": {"a": 0.2}, "right": {"a": 0.2}}
    assert app.engine.call(declared) == {"a": "sine", "b": "sine"}
    assert err.text == ""


def test_a_save_changes_the_running_network(player):
    app, path, out, err = player
    mark, n = len(out.text), app.reloads
    save(path, PATCH.replace("out = 0.2*a", "out = 0.1*a + 0.3*b"))
    out.wait_for(r"^live\.dmm: applied \(2 neurons, fade 0\.02 s\)$", mark)
    want = {"left": {"a": 0.1, "b": 0.3}, "right": {"a": 0.1, "b": 0.3}}
    wait_until(lambda: app.engine.call(out_rows), want)  # after the 20 ms glide
    assert app.reloads == n + 1
    # and it is heard: the sound computed next (past the glide: W shows the target at
    # once, the sound glides over the patch's fade) holds both sines at the new gains
    _, sound = app.engine.capture(2400 + 9600)
    sound = sound[2400:].astype(np.float64)
    np.testing.assert_array_equal(sound[:, 0], sound[:, 1])
    a, b = amplitudes(sound[:, 0], [440.0, 660.0])
    assert a == pytest.approx(0.1, abs=1e-4) and b == pytest.approx(0.3, abs=1e-4)


def test_a_bad_save_is_reported_and_the_old_network_plays_on(player):
    app, path, out, err = player
    good = PATCH.replace("out = 0.2*a", "out = 0.15*b")
    mark = len(out.text)
    save(path, good)
    out.wait_for(r"live\.dmm: applied", mark)
    want = {"left": {"b": 0.15}, "right": {"b": 0.15}}
    wait_until(lambda: app.engine.call(out_rows), want)
    n, emark, omark = app.reloads, len(err.text), len(out.text)

    save(path, good + "c = saw(freq=\n")
    err.wait_for(r"the previous network goes on playing", emark)
    assert err.text[emark:] == (f"{path}:5:8: syntax error: '(' was never closed\n"
                                "    c = saw(freq=\n"
                                "           ^\n"
                                "(the previous network goes on playing)\n")
    t0 = app.engine.call(ticks)
    wait_until(lambda: app.engine.call(ticks) > t0 + 20, True)  # the engine ticks on
    assert app.engine.call(out_rows) == want and app.engine.call(declared) == {"a": "sine", "b": "sine"}
    assert app.reloads == n and out.text[omark:].count("applied") == 0

    emark = len(err.text)
    save(path, good + "c = sawe(freq=110)\nout.left += 0.1*c\n")
    err.wait_for(r"the previous network goes on playing", emark)
    assert err.text[emark:] == (f"{path}:5:5: unknown neuron type 'sawe' (did you mean 'saw'?)\n"
                                "    c = sawe(freq=110)\n"
                                "        ^\n"
                                "(the previous network goes on playing)\n")
    assert app.engine.call(out_rows) == want

    # the next good save applies
    omark = len(out.text)
    save(path, good + "c = saw(freq=110)\nout.left += 0.1*c\n")
    out.wait_for(r"^live\.dmm: applied \(3 neurons, fade 0\.02 s\)$", omark)
    wait_until(lambda: app.engine.call(out_rows), {"left": {"b": 0.15, "c": 0.1}, "right": {"b": 0.15}})
    assert app.engine.call(declared) == {"a": "sine", "b": "sine", "c": "saw"}
    assert app.reloads == n + 1
    assert app.engine.status()["running"]


# ---- the console script ---------------------------------------------------------------------
class Proc:
    """A `dmmlive play` child whose stdout and stderr are collected line by line."""

    def __init__(self, args, env=None):
        self.out, self.err = Console(), Console()
        self.p = subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        self.threads = [threading.Thread(target=self._pump, args=(s, c), daemon=True)
                        for s, c in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _pump(stream, console):
        for line in stream:
            console.write(line)

    def wait(self, timeout=60.0):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
            raise
        for t in self.threads:
            t.join(5)
        return rc

    def wait_for(self, pattern, timeout=15.0):
        """`out.wait_for`, or stop the child and fail with all it printed."""
        try:
            return self.out.wait_for(pattern, timeout=timeout)
        except AssertionError:
            self.p.terminate()
            try:
                self.wait(15)
            except subprocess.TimeoutExpired:
                pass
            raise AssertionError(f"no {pattern!r} within {timeout} s; stdout:\n{self.out.text}"
                                 f"\nstderr:\n{self.err.text}") from None


def bass_copy(tmp_path) -> tuple[Path, str]:
    path = tmp_path / "bass.dmm"
    shutil.copy(ROOT / "patches" / "bass.dmm", path)
    text, n = re.subn(r"^out\s*=.*$", "out  = 0.25*vca", path.read_text(), flags=re.M)
    assert n == 1
    return path, text


def test_console_script_plays_without_audio_and_applies_a_save(tmp_path):
    path, edited = bass_copy(tmp_path)
    p = Proc(["play", path, "--no-audio", "--no-window", "--no-osc", "--seconds", "3"])
    try:
        p.wait_for(r"^playing .* \(no audio\)")
        save(path, edited)
        p.wait_for(r"^bass\.dmm: applied \(8 neurons, fade 0\.05 s\)$")
    finally:
        rc = p.wait()
    assert rc == 0, p.err.text
    assert p.err.text == ""
    # (no xrun count here: without a device the timer's clock is this busy machine's)
    assert re.search(r"^stopped: \d+ ticks, \d+ xruns$", p.out.text, re.M), p.out.text
    assert "reloads=1" in p.out.text


def test_play_on_jack_has_no_xruns_while_a_save_applies(jack, tmp_path):
    path, edited = bass_copy(tmp_path)
    p = Proc(["play", path, "--device", jack.device, "--no-window", "--no-osc", "--seconds", "3"],
             env=dict(os.environ, JACK_DEFAULT_SERVER=jack.server))
    try:
        p.wait_for(r"^playing .* \(sound: system\)", timeout=60)
        p.wait_for(r"^t=\d+ xruns=")  # a second played; then the save, in the middle of the run
        save(path, edited)
        p.wait_for(r"^bass\.dmm: applied \(8 neurons, fade 0\.05 s\)$")
    finally:
        rc = p.wait()
    assert rc == 0, p.err.text
    assert p.err.text == "", p.err.text
    # An xrun is the engine's (it fell behind: never, save or not) or the host's (a late JACK
    # cycle: see host_xruns_allowed); the status lines say which.
    xruns = r"xruns=(\d+)(?: \(engine (\d+), host (\d+)\))?"
    status = re.findall(rf"^t=(\d+) {xruns} .* reloads=(\d+)$", p.out.text, re.M)
    assert len(status) >= 2, p.out.text
    assert status[-1][4] == "1"
    m = re.search(r"^stopped: (\d+) ticks, (\d+) xruns(?: \(engine (\d+), host (\d+)\))?$", p.out.text, re.M)
    assert m, p.out.text
    periods = int(m.group(1)) * 128 / jack.period
    skip_if_host_unfit(jack, int(m.group(4) or 0), periods)
    for total, engine, host in [s[1:4] for s in status] + [m.groups()[1:]]:
        assert int(total) == int(engine or 0) + int(host or 0), p.out.text
        assert int(engine or 0) <= engine_xruns_allowed(jack, int(host or 0)), p.out.text
    assert int(m.group(4) or 0) <= host_xruns_allowed(jack, periods), (jack.realtime, p.out.text)
    assert int(m.group(1)) > 2 * RATE // 128  # it played for seconds, not a moment


def assert_engine_kept_up(jack, st0: dict, st1: dict) -> None:
    """Between two engine statuses: no engine xrun, host-flagged ones within the rule."""
    calls = st1["callbacks"] - st0["callbacks"]
    under = st1["underflows"] - st0["underflows"]
    skip_if_host_unfit(jack, under, calls)
    assert st1["short"] - st0["short"] <= engine_xruns_allowed(jack, under), (st0, st1)
    assert st1["underflows"] - st0["underflows"] <= host_xruns_allowed(jack, calls), (jack.realtime, st1)


def sines(n: int, gain: float) -> str:
    """A patch of n sines mixed to out, the first at `gain`, the others at 1/n."""
    lines = ["fade(0.05)"] + [f"s{i} = sine(freq={100 + 7 * i})" for i in range(n)]
    return "\n".join(lines + ["out = " + " + ".join(f"{gain if i == 0 else 1 / n:.6g}*s{i}"
                                                     for i in range(n))]) + "\n"


def test_a_1000_neuron_save_is_heard_late_not_as_a_gap(jack, tmp_path):
    # Parsing, diffing and recompiling 1,000 neurons takes ~200 ms here, four times the
    # engine's 50 ms ahead: it computes sound ahead to cover the work before it starts it.
    path = tmp_path / "big.dmm"
    path.write_text(sines(1000, 0.001))
    out, err = Console(), Console()
    app = App(str(path), audio=True, device=jack.device, window=False, osc=False, out=out, err=err,
              status_every=60.0)
    app.start()
    try:
        st0 = app.engine.status()
        for k, gain in enumerate((0.002, 0.003, 0.004)):
            save(path, sines(1000, gain))
            wait_until(lambda: out.text.count("big.dmm: applied (1000 neurons, fade 0.05 s)"), k + 1, timeout=30)
            time.sleep(0.5)  # the glide, and the recompile at its end
        st1 = app.engine.status()
        assert app.engine.call(out_rows)["left"]["s0"] == pytest.approx(0.004)
    finally:
        app.stop()
    assert err.text == ""
    assert_engine_kept_up(jack, st0, st1)


def test_osc_weight_changes_on_a_1000_neuron_patch_leave_no_gap(jack, tmp_path):
    # Each /dmm/set changes W: the next tick recompiles the plan (~40 ms at 1,000 neurons
    # here, about the engine's margin). The engine times its compiles and covers them.
    from dmmlive.drivers import osc
    path = tmp_path / "big.dmm"
    path.write_text(sines(1000, 0.001))
    out, err = Console(), Console()
    app = App(str(path), audio=True, device=jack.device, window=False, osc_port=0, out=out, err=err,
              status_every=60.0)
    app.start()
    try:
        # The probes live in this module: the engine imports it (and pytest with it, ~100 ms)
        # at the first one, and that import would stall it. Done before the measurement.
        app.engine.call(ticks)
        st0 = app.engine.status()
        for k in range(10):
            osc.send("127.0.0.1", app.server.port, "/dmm/set", "out.left", "s0", 0.001 * (k + 2))
            time.sleep(0.15)
        wait_until(lambda: round(app.engine.call(out_rows)["left"]["s0"], 6), 0.011, timeout=10)
        time.sleep(0.3)
        st1 = app.engine.status()
    finally:
        app.stop()
    assert err.text == ""
    assert_engine_kept_up(jack, st0, st1)


SELFMOD = 'drift = const(value={"s0": {"freq": {"one": {"out": 0.01}}}})\nself.delta = drift\n' \
    'screen = plasma(speed=0.5)\n'


def engine_w(host):
    """(compiles, tick, s0's frequency weight): what the self-modifying patch changes."""
    m = host.machine
    return m.compiles, m.t, m.matrix["s0"]["freq"]["one"]["out"]


def test_a_patch_rewriting_its_w_every_tick_plays_with_the_window_open(jack, tmp_path, monkeypatch):
    # A const neuron linked into self.delta adds 0.01 Hz to s0's frequency every tick: W
    # changes 375 times a second, the plan takes each change in place (no compile), and
    # the window's mirror machine runs the same network beside the engine.
    monkeypatch.delenv("DISPLAY", raising=False)
    path = tmp_path / "selfmod.dmm"
    path.write_text(sines(100, 0.01) + SELFMOD)
    out, err = Console(), Console()
    app = App(str(path), audio=True, device=jack.device, window_size=(64, 36), osc=False, out=out,
              err=err, status_every=60.0, seconds=30)
    got: dict = {}

    def probe():
        try:
            while app.window is None or app.window.frames_drawn < 2:
                time.sleep(0.02)
            app.engine.call(ticks)  # the engine imports this module at the first probe
            time.sleep(0.5)
            got["st0"], got["w0"] = app.engine.status(), app.engine.call(engine_w)
            time.sleep(3.0)
            got["st1"], got["w1"] = app.engine.status(), app.engine.call(engine_w)
            got["frames"] = app.window.frames_drawn
        finally:
            if app.window is not None:
                app.window.close()

    t = threading.Thread(target=probe)
    t.start()
    assert app.run() == 0
    t.join(30)
    assert err.text == "", err.text
    (c0, t0, f0), (c1, t1, f1) = got["w0"], got["w1"]
    assert c1 == c0                       # W changed every tick; the plan never compiled
    assert t1 - t0 > 2 * RATE // 128      # seconds of ticks
    assert f1 - f0 == pytest.approx(0.01 * (t1 - t0), abs=0.0101)
    assert got["frames"] > 30             # the window drew all along
    assert_engine_kept_up(jack, got["st0"], got["st1"])


BROKEN = "fade(0)\na = sine(freq=440\nout = 0.2*a\n"   # line 2: the call is never closed
FIXED = "fade(0)\na = sine(freq=440)\nout = 0.2*a\n"


def test_play_starts_silent_on_a_broken_patch_and_takes_its_first_good_save(tmp_path):
    path = tmp_path / "live.dmm"
    path.write_text(BROKEN)
    out, err = Console(), Console()
    app = App(str(path), audio=False, window=False, osc=False, out=out, err=err)
    app.start()
    try:
        err.wait_for(r"live\.dmm:2:9: syntax error: '\(' was never closed")
        assert "(silent until live.dmm is saved without errors)" in err.text
        assert app.engine.call(declared) == {} and app.engine.call(out_rows) == {"left": {}, "right": {}}
        assert app.status_line().endswith(" ERR live.dmm:2")
        save(path, FIXED.replace("out = 0.2*a", "out = 0.2*a +"))   # still broken: line 3 now
        err.wait_for(r"live\.dmm:3:\d+: syntax error")
        assert app.status_line().endswith(" ERR live.dmm:3")
        save(path, FIXED)
        out.wait_for(r"^live\.dmm: applied")
        wait_until(lambda: app.engine.call(out_rows), {"left": {"a": 0.2}, "right": {"a": 0.2}})
        assert app.engine.call(declared) == {"a": "sine"}
        assert "ERR" not in app.status_line()
    finally:
        app.stop()


def test_the_status_line_is_redrawn_in_place_on_a_terminal(tmp_path):
    """On a terminal (a real pty here) the status line is drawn over itself, a message
    printed in its place and the status drawn again after it; a broken file on disk shows
    as ERR in it until the fix is saved."""
    import pty
    path = tmp_path / "live.dmm"
    path.write_text(BROKEN)
    master, slave = pty.openpty()
    p = subprocess.Popen(CLI + ["play", str(path), "--no-audio", "--no-window", "--no-osc", "--seconds", "5"],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = Console()

    def pump():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            seen.write(data.decode("utf-8", "replace"))
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        seen.wait_for(r"ERR live\.dmm:2")
        save(path, FIXED)
        at = seen.wait_for(r"live\.dmm: applied").end()
        seen.wait_for(r"\x1b\[Kt=\d+ [^\r\n]*reloads=1", start=at)
        assert p.wait(60) == 0
    finally:
        if p.poll() is None:
            p.kill()
        t.join(5)
        os.close(master)
    text = seen.text
    statuses = re.findall(r"\r\x1b\[K(t=\d+[^\r\n]*)", text)
    assert len(statuses) >= 3 and all("margin=" in s for s in statuses)
    assert not re.search(r"(^|\n)t=\d+ ", text)     # never a status on a line of its own
    assert any(s.endswith("ERR live.dmm:2") for s in statuses)
    assert not statuses[-1].endswith("ERR live.dmm:2") and "reloads=1" in statuses[-1]
    # a message takes the status line's place: cleared first, then the message on its line
    assert re.search(r"\r\x1b\[K(\r\n)?live\.dmm: applied", text)


def make_a_report(host, text):
    """In the engine process: the machine reports `text` (as a muted neuron is reported)."""
    host.machine.report(("test", text), text)


def test_a_report_of_the_machine_is_printed_once(player):
    app, path, out, err = player
    start = len(err.text)
    app.engine.call(make_a_report, "test report: printed once")
    deadline = time.monotonic() + 10
    while "test report: printed once" not in err.text[start:] and time.monotonic() < deadline:
        app.report()
        time.sleep(0.05)
    app.report()
    time.sleep(0.2)
    app.report()
    assert err.text[start:].count("test report: printed once") == 1
