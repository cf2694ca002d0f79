"""Performance logs: a live set (file saves, OSC, knobs, timed bundles) replayed offline, sample for sample."""
from __future__ import annotations

import io
import json
import threading
import time

import av
import numpy as np
import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from scipy.io import wavfile

import dmmlive
from dmmlive import BadArgument
from dmmlive.app import App, build
from dmmlive.cli import main
from dmmlive.core.registry import STANDARD
from dmmlive.gfx import LIBRARY
from dmmlive.log import TAIL_SECONDS, Replayer, machine_from_log, read_log

from .conftest import replay, sound_of, wait_until

RATE, B = 48000, 128

PATCH = """\
fade(0.02)
k = knob("/k", default=0.3, lag=0.01)
a = sine(freq=220 + 200*k)
b = saw(freq=110)
out = 0.2*a + 0.05*b
"""
SAVED = PATCH.replace("saw(freq=110)", "saw(freq=165)")          # a file save
CODE = SAVED + "c = sine(freq=660, amp=0.3)\nout.right = 0.1*a + 0.2*c\n"  # /dmm/code
OTHER = SAVED + "d = sine(freq=880)\nout.left = 0.1*a + 0.1*d\n"          # /dmm/load other.dmm


# ---- in the engine process --------------------------------------------------------------
def logged_lines(host) -> int:
    return host.log.lines


# ---- helpers ------------------------------------------------------------------------------
def events(path):
    lines = [json.loads(x) for x in open(path, encoding="utf-8")]
    return lines[0], lines[1:]


def live_set(tmp_path, audio: bool, device=None, seconds: float = 3.0):
    """Play PATCH with a log; change it by a save, OSC commands, a knob, a timed bundle,
    /dmm/code and /dmm/load while capturing `seconds` of the engine's sound.
    Returns (log path, capture tick, captured frames, lines of the log)."""
    patch, other, log = tmp_path / "set.dmm", tmp_path / "other.dmm", tmp_path / "set.dmmlog"
    patch.write_text(PATCH)
    other.write_text(OTHER)
    app = App(patch, audio=audio, window=False, device=device, osc_port=0, log=log, out=io.StringIO(), err=io.StringIO())
    app.start()
    try:
        eng = app.engine
        got = {}
        frames = int(seconds * RATE) // B * B
        cap = threading.Thread(target=lambda: got.update(r=eng.capture(frames, timeout=seconds + 20)))
        cap.start()
        t_start = eng.status()["ticks"]  # let the capture begin before the first change
        wait_until(lambda: eng.status()["ticks"] >= t_start + 40, "the engine to tick")
        osc = SimpleUDPClient("127.0.0.1", app.server.address[1])
        n = 0

        def step(send, k=1):
            nonlocal n
            send()
            n += k
            wait_until(lambda: eng.call(logged_lines) >= 1 + n, f"log line {n}")

        step(lambda: osc.send_message("/dmm/set", ["out.left", "b", 0.12]))
        step(lambda: patch.write_text(SAVED))
        step(lambda: osc.send_message("/k", 0.9))
        b = OscBundleBuilder(time.time() + 0.25)  # a timed bundle: runs at the tick of its time
        msg = OscMessageBuilder("/dmm/value")
        msg.add_arg("a.amp")
        msg.add_arg(0.5)
        b.add_content(msg.build())
        step(lambda: osc.send(b.build()))
        step(lambda: osc.send_message("/dmm/code", CODE))
        step(lambda: osc.send_message("/dmm/neuron", ["e", "saw", "freq", 55.0]))
        step(lambda: osc.send_message("/dmm/set", ["out.right", "e", 0.05]))
        step(lambda: osc.send_message("/dmm/load", "other.dmm"))
        step(lambda: osc.send_message("/k", 0.1))
        osc.send_message("/dmm/set", ["out.left", "nobody", 1.0])  # refused: not logged
        cap.join(seconds + 30)
        tick0, data = got["r"]
    finally:
        app.stop()
    other.write_text("this is not a patch any more")  # the replay reads the log, not the folder
    patch.write_text("neither is this")
    return log, tick0, data, n


def check_live_set(log, tick0, data, n):
    header, evs = events(log)
    kinds = [e["kind"] for e in evs]
    assert kinds == ["osc", "code", "knob", "osc", "code", "osc", "osc", "code", "knob", "end"], kinds
    assert [e.get("op") for e in evs if e["kind"] == "osc"] == ["set", "value", "neuron", "set"]
    assert evs[1]["text"] == SAVED and evs[4]["text"] == CODE and evs[7]["text"] == OTHER
    assert evs[4]["path"] == "<osc>" and evs[7]["path"].endswith("other.dmm")
    assert evs[2]["address"] == "/k" and evs[2]["values"] == pytest.approx([0.9])
    ticks = [e["tick"] for e in evs]
    assert ticks == sorted(ticks)
    n_blocks = len(data) // B
    # every change landed inside the captured span (one logged at t first shows in tick t+1)
    assert tick0 <= ticks[0] and ticks[-2] < tick0 + n_blocks - 2, (tick0, n_blocks, ticks)
    assert ticks[-1] >= tick0 + n_blocks - 1  # end: where the engine stopped
    again = replay(log, tick0, n_blocks)
    assert again.dtype == data.dtype == np.float32 and again.shape == data.shape
    np.testing.assert_array_equal(again, data)
    assert np.abs(data).max() > 0.1
    m = machine_from_log(log)  # the changes matter: without them the sound differs after the first
    m.before_tick[:] = [h for h in m.before_tick if not isinstance(h, Replayer)]
    without = sound_of(m, tick0, n_blocks)
    k = (ticks[0] - tick0 + 1) * B   # the first tick the first change reached
    np.testing.assert_array_equal(without[:k], data[:k])
    assert not np.array_equal(without[k:], data[k:])
    print(f"\ncompared {data.size} samples ({n_blocks} ticks from tick {tick0}), {n} changes at ticks "
          f"{ticks[:-1]}, end {ticks[-1]}: identical")
    return evs


def test_a_live_set_on_jack_replays_sample_for_sample(jack, tmp_path):
    log, tick0, data, n = live_set(tmp_path, audio=True, device=jack.device)
    evs = check_live_set(log, tick0, data, n)
    # and through dmmlive.render: the .wav of the log holds the same samples at the same ticks
    out = dmmlive.render(log, tmp_path / "set.wav")
    rate, wav = wavfile.read(out)
    assert rate == RATE and len(wav) == evs[-1]["tick"] * B  # to the end line
    np.testing.assert_array_equal(wav[(tick0 - 1) * B:(tick0 - 1) * B + len(data)], data)


def test_a_live_set_without_sound_card_replays_sample_for_sample(tmp_path):
    log, tick0, data, n = live_set(tmp_path, audio=False, seconds=2.5)
    check_live_set(log, tick0, data, n)


# ---- offline: the engine-side functions in this process --------------------------------------
def offline_set(tmp_path, patch_text=PATCH, ticks=300, end=True):
    """A log written by `build` in this process, driven by hand; returns (log, sound of ticks 1..)."""
    patch, log = tmp_path / "set.dmm", tmp_path / "set.dmmlog"
    patch.write_text(patch_text)
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log))
    m = host.machine
    sound = []
    for t in range(ticks):
        if t == 40:
            assert host.osc([("set", ["out.left", "b", 0.3], None, None)]) == [("/dmm/ok", ["/dmm/set", "out.left", "b", 0.3], None)]
        if t == 80:
            host.apply_text(patch_text.replace("110", "147"), str(patch))
        if t == 120:
            host.osc([("knob", ["/k", 0.8], None, None), ("get", ["a"], None, ("h", 1))])
        if t == 121:  # timed: kept, then run by the before_tick hook at its tick
            assert host.osc([("value", ["a.amp", 0.4], time.time() + 0.1, None)]) == []
        if t == 200:
            assert host.osc([("set", ["out.left", "zz", 1.0], None, None)])[0][0] == "/dmm/error"
        host.tick()  # as the engine: the host hears of the tick (timed commands), then it runs
        sound.append(m.sound().copy())
    host.log.close(m.t if end else None)
    return log, np.concatenate(sound)


def test_the_log_is_json_lines_with_header_and_events(tmp_path):
    visual = PATCH + "glow = plasma(speed=0.5)\nscreen = glow\n"
    log, _ = offline_set(tmp_path, visual, ticks=160)
    header, evs = events(log)
    assert header["format"] == "dmmlog" and header["version"] == 1
    assert (header["rate"], header["block"], header["seed"], header["schedule"]) == (RATE, B, 0, "ordered")
    assert header["fps"] == 30.0 and header["size"] == [640, 360] and header["limiter"] is True
    assert header["patch"] == str(tmp_path / "set.dmm") and header["text"] == visual
    assert header["shaders"] == {"plasma": (LIBRARY / "plasma.frag").read_text()}
    assert [e["kind"] for e in evs] == ["osc", "code", "knob", "osc", "end"]  # not the get, not the refused set
    assert [e["tick"] for e in evs] == [40, 80, 120, evs[3]["tick"], 160]
    assert 121 < evs[3]["tick"] < 160 and evs[3]["op"] == "value"   # ran at its time, logged then
    assert evs[1]["text"] == visual.replace("110", "147") and "shaders" not in evs[1]
    assert evs[0] == {"tick": 40, "kind": "osc", "op": "set", "args": ["out.left", "b", 0.3]}


def test_an_offline_driven_set_replays_sample_for_sample(tmp_path):
    log, sound = offline_set(tmp_path)
    again = dmmlive.render(log, tmp_path / "again.wav")  # seconds: to the end line
    rate, data = wavfile.read(again)
    assert data.shape == sound.shape == (300 * B, 2)
    np.testing.assert_array_equal(data, sound)


def test_a_truncated_log_replays_up_to_the_cut_with_a_warning(tmp_path, capsys):
    log, sound = offline_set(tmp_path, end=False)
    lines = log.read_bytes().split(b"\n")
    assert len(lines) == 6 and lines[-1] == b""  # header, 4 changes, no end line
    cut = b"\n".join(lines[:4]) + b"\n" + lines[4][:17]   # line 5 (the timed value) cut mid-line
    log.write_bytes(cut)
    r = read_log(log)
    assert [e["kind"] for _, e in r.events] == ["osc", "code", "knob"] and r.cut == 5 and r.end is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{log}: line 5 is cut short" in err, err
    t_cut = r.events[-1][1]["tick"]
    assert r.ticks == t_cut + int(np.ceil(TAIL_SECONDS * RATE / B))
    out = tmp_path / "cut.wav"
    assert main(["render", str(log), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 5 is cut short" in err
    _, data = wavfile.read(out)
    assert len(data) == r.ticks * B
    timed = json.loads(lines[4])["tick"]
    # the same sound up to the cut change's first tick, then without it
    np.testing.assert_array_equal(data[:timed * B], sound[:timed * B])
    assert not np.array_equal(data[timed * B:(timed + 10) * B], sound[timed * B:(timed + 10) * B])


def test_a_log_cut_between_lines_warns_too_and_a_broken_one_is_an_error(tmp_path, capsys):
    log, _ = offline_set(tmp_path, ticks=100, end=False)
    r = read_log(log)
    assert r.cut is None and r.end is None and len(r.events) == 2
    assert "no end line after line 3" in capsys.readouterr().err
    log.write_text(log.read_text().replace('"kind": "osc"', '"kind": "oops"'))
    with pytest.raises(BadArgument, match=r"set.dmmlog: line 2: unknown kind 'oops'"):
        read_log(log)
    log.write_text('{"hello": 1}\n')
    with pytest.raises(BadArgument, match="line 1 is not a dmmlive log header"):
        read_log(log)


def test_replay_at_another_size_renders_the_mp4_with_the_right_frames(tmp_path):
    visual = PATCH + "glow = plasma(speed=0.5 + 2*k)\nscreen = glow\n"
    log, sound = offline_set(tmp_path, visual, ticks=375)  # 1 s
    out = tmp_path / "set.mp4"
    assert main(["render", str(log), "-o", str(out), "--size", "64x36", "--fps", "12", "-q"]) == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        n = sum(f.samples for f in c.decode(audio=0))
    assert len(frames) == 12 and all(f.shape == (36, 64, 3) for f in frames)
    assert all(f.max() > 32 for f in frames)
    assert abs(n - 48000) <= 2048   # AAC pads to whole 1024-sample frames
    # the sound of the replay is the one played, whatever the picture size
    m = machine_from_log(log, size=(64, 36), fps=12)
    blocks = []
    for _ in range(375):
        m.tick()
        blocks.append(m.sound().copy())
    np.testing.assert_array_equal(np.concatenate(blocks), sound)


def test_the_replay_draws_with_the_shader_sources_the_log_recorded(tmp_path):
    log, _ = offline_set(tmp_path, PATCH + "glow = plasma(speed=0.5)\nscreen = glow\n", ticks=40)
    lines = log.read_text().splitlines()
    header = json.loads(lines[0])
    plasma = STANDARD["plasma"]
    # as if shaders/plasma.frag was red (and had one more port) when the set was played
    header["shaders"]["plasma"] = ("// red\nuniform float speed;\nuniform float extra; // default 0.0\n"
                                   "vec4 effect(vec2 uv) { return vec4(1.0, 0.0, 0.0, 1.0); }\n")
    log.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    dmmlive.render(log, tmp_path / "f.png", 0.1, size=(16, 8))
    with av.open(str(tmp_path / "f_00000.png")) as c:
        pic = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert (pic == [255, 0, 0]).all()
    assert STANDARD["plasma"] is plasma and list(plasma.inputs) == ["speed"]  # the standard type untouched
    assert plasma.fn.shader.src.body == (LIBRARY / "plasma.frag").read_text()


def test_a_shader_type_a_command_declares_is_logged_with_its_source(tmp_path):
    patch, log = tmp_path / "set.dmm", tmp_path / "set.dmmlog"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log))
    assert host.osc([("neuron", ["g", "plasma"], None, None)]) == [("/dmm/ok", ["/dmm/neuron", "g", "plasma"], None)]
    host.tick(2)
    assert host.osc([("replace", ["g", "kaleid"], None, None)]) == [("/dmm/ok", ["/dmm/replace", "g", "kaleid"], None)]
    host.tick(2)
    host.log.close(host.machine.t)
    _, evs = events(log)
    assert [(e["op"], sorted(e["shaders"])) for e in evs if e["kind"] == "osc"] == \
        [("neuron", ["plasma"]), ("replace", ["kaleid"])]
    assert evs[1]["shaders"]["kaleid"] == (LIBRARY / "kaleid.frag").read_text()


def test_an_excerpt_of_a_log_is_that_part_of_the_whole(tmp_path):
    """render --start/--end: the sound is the whole replay's samples from start to end (to
    the sample, also mid-block), and the pictures its frames from the frame at start."""
    visual = PATCH + "glow = plasma(speed=0.5 + 2*k)\nscreen = glow\n"
    log, sound = offline_set(tmp_path, visual, ticks=750)  # 2 s
    start, end = 0.2013, 1.9       # 9662.4 samples: mid-block; changes at ticks 80-200 after it
    assert main(["render", str(log), "-o", str(tmp_path / "x.wav"), "--start", str(start), "--end", str(end),
                 "-q"]) == 0
    _, part = wavfile.read(tmp_path / "x.wav")
    a = int(round(start * RATE))
    np.testing.assert_array_equal(part, sound[a:a + int(round((end - start) * RATE))])
    # the pictures: frames 2.. of the whole at 8 fps (start 0.2013 -> frame 2, at 0.25 s)
    dmmlive.render(log, tmp_path / "all.png", 1.5, size=(16, 8), fps=8)
    dmmlive.render(log, tmp_path / "ex.png", 0.5, size=(16, 8), fps=8, start=start)
    whole = sorted(tmp_path.glob("all_*.png"))
    ex = sorted(tmp_path.glob("ex_*.png"))
    assert len(whole) == 12 and len(ex) == 4
    for i, f in enumerate(ex):
        with av.open(str(f)) as c, av.open(str(whole[2 + i])) as d:
            np.testing.assert_array_equal(next(c.decode(video=0)).to_ndarray(), next(d.decode(video=0)).to_ndarray())
    assert main(["render", str(log), "-o", str(tmp_path / "y.wav"), "--start", "1", "--end", "0.5"]) == 1


def test_check_reads_a_log_and_names_the_line_at_fault(tmp_path, capsys):
    log, _ = offline_set(tmp_path)
    assert main(["check", str(log)]) == 0
    out = capsys.readouterr().out
    assert out == (f"{log}: ok: a set of 0.8 s (300 ticks at {RATE} Hz, block {B}) from {tmp_path / 'set.dmm'}: "
                   "1 saves, 2 OSC commands, 1 knob moves; ended cleanly\n")
    lines = log.read_text().splitlines()
    code = next(i for i, line in enumerate(lines) if '"kind": "code"' in line)
    e = json.loads(lines[code])
    e["text"] = e["text"].replace("sine(", "sinee(", 1)
    lines[code] = json.dumps(e)
    log.write_text("\n".join(lines) + "\n")
    assert main(["check", str(log)]) == 1
    err = capsys.readouterr().err
    assert f"{log}:{code + 1}: the code change at tick 80 does not apply:" in err
    assert "unknown neuron type 'sinee' (did you mean 'sine'?)" in err
