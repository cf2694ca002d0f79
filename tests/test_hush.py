"""OSC /dmm/hush: the sound fades to exact silence over the patch's fade and stays there
while the network runs on; /dmm/hush 0 and a save bring it back; no click; a set log
with a hush replays sample for sample."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

import dmmlive
from dmmlive import commands
from dmmlive.app import build
from dmmlive.control import Controller
from dmmlive.neurons.sinks import HUSH_MIN, hushed
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
FADE = 0.05
FADE_TICKS = int(np.ceil(FADE * RATE / B))  # 19: the ramp ends inside the 19th block

PATCH = f"""\
fade({FADE})
a = sine(freq=440, amp=0.5)
clk = clock(bpm=600)
notes = seq(clk, values=[110, 165, 220])
b = saw(freq=notes, amp=0.2)
out = 0.8*a + 0.5*b
"""


def session(text=PATCH, limiter=False):
    m = dmmlive.Machine(rate=RATE, block=B, limiter=limiter)
    s = PatchSession(m, "t.dmm")
    s.apply(text, now=True)
    return m, s, Controller(m, s)


def run(m, n):
    """n ticks: the left channel's samples and the sine's outputs, each (n, B)."""
    sound, sine = [], []
    for _ in range(n):
        m.tick()
        sound.append(m.sound()[:, 0].astype(np.float64))
        sine.append(np.array(m.output("a", "out"), np.float64))
    return np.array(sound), np.array(sine)


def test_hush_is_a_journaled_command_answered_with_ok():
    op = commands.get("hush")
    assert op.journal == "osc" and not op.changes_picture and "hush" in commands.journaled("osc")
    assert op.check([]) == [] and op.check([0]) == [0.0] and op.check([1.0]) == [1.0]
    with pytest.raises(commands.ArgError):
        op.check(["loud"])
    m, s, ctl = session()
    assert ctl.execute("hush", []) == [("/dmm/ok", ["/dmm/hush"])]
    assert hushed(m)
    assert ctl.execute("hush", [0]) == [("/dmm/ok", ["/dmm/hush", 0])]
    assert not hushed(m)
    assert ctl.execute("hush", ["x"])[0][0] == "/dmm/error"


def test_hush_goes_to_exactly_zero_after_the_fade_and_stays_while_the_network_runs():
    m, _, ctl = session()
    ref, _, _ = session()          # the same set, never hushed
    run(m, 30), run(ref, 30)
    ctl.execute("hush", [])
    snd, sine = run(m, 400)
    rsnd, rsine = run(ref, 400)
    assert np.abs(snd[FADE_TICKS - 2]).max() > 0       # still fading inside the fade
    assert (snd[FADE_TICKS:] == 0).all()                # exactly 0 after it, for 380 ticks
    assert (np.abs(rsnd[FADE_TICKS:]).max(axis=1) > 0.1).all()  # (the set itself is loud)
    # the network runs on: the sine advances its phase exactly as in the set never hushed
    np.testing.assert_array_equal(sine, rsine)
    assert not np.array_equal(sine[-1], sine[-2])
    np.testing.assert_array_equal(m.output("notes", "out"), ref.output("notes", "out"))  # the sequencer steps on


def test_hush_0_brings_the_sound_back_over_the_fade_state_intact():
    m, _, ctl = session()
    ref, _, _ = session()
    run(m, 10), run(ref, 10)
    ctl.execute("hush", [])
    run(m, 100), run(ref, 100)
    ctl.execute("hush", [0])
    snd, _ = run(m, 60)
    rsnd, _ = run(ref, 60)
    assert (snd[0] != 0).any() and np.abs(snd[0]).max() < np.abs(rsnd[0]).max() * 3 * (B / (FADE * RATE)) ** 2
    # fading in: the gain is smoothstep(k / (FADE * RATE)) at the k-th sample
    k = np.arange(1, FADE_TICKS * B + 1)
    r = np.minimum(k / (FADE * RATE), 1.0)
    g = (r * r * (3 - 2 * r)).astype(np.float32).astype(np.float64)  # a smoothstep
    np.testing.assert_allclose(snd[:FADE_TICKS].ravel(), (rsnd[:FADE_TICKS].ravel() * g), atol=1e-6)
    np.testing.assert_array_equal(snd[FADE_TICKS:], rsnd[FADE_TICKS:])  # then the very same set


def test_a_save_brings_the_sound_back_and_a_bad_save_does_not():
    m, s, ctl = session()
    ctl.execute("hush", [])
    run(m, 40)
    with pytest.raises(dmmlive.DmmError):
        s.apply(PATCH + "c = sinee(freq=1)\n")
    assert hushed(m)
    assert (run(m, 5)[0] == 0).all()
    s.apply(PATCH.replace("fade(0.05)", "fade(0.1)"))  # the fade of the text applied
    assert not hushed(m)
    snd, _ = run(m, 60)
    assert np.abs(snd[0]).max() > 0
    ramp = int(0.1 * RATE)
    assert np.abs(snd.ravel()[:ramp]).max() < np.abs(snd.ravel()[ramp:]).max()
    assert np.abs(snd[-1]).max() > 0.1


def test_the_fade_out_is_smooth():
    """The largest step between two samples while fading out is bounded by the set's own
    largest step plus the ramp's (amplitude x gain step), and no energy above 12 kHz
    appears around the hush (as tests/test_click_free.py measures an edit)."""
    text = f"fade({FADE})\na = sine(freq=440)\nout = 0.9*a\n"
    m, _, ctl = session(text)
    ref, _, _ = session(text)
    pre, rpre = run(m, 40)[0][-8:], run(ref, 40)[0][-8:]
    ctl.execute("hush", [])
    snd = np.concatenate([pre, run(m, 30)[0]]).ravel()
    rsnd = np.concatenate([rpre, run(ref, 30)[0]]).ravel()
    at = 8 * B  # the first sample hushed
    own = np.abs(np.diff(rsnd)).max()
    assert np.abs(np.diff(snd)).max() <= own + 1.5 * 0.9 / (FADE * RATE) + 1e-6  # (smoothstep's slope: 1.5 at most)
    assert (snd[:at] == rsnd[:at]).all() and (snd[at + FADE_TICKS * B:] == 0).all()
    hard = rsnd.copy()
    hard[at + 100:] = 0.0  # a mute without a ramp: a jump of up to 0.9
    assert np.abs(np.diff(hard)).max() > 10 * own

    def hf(x, at):
        win = int(0.020 * RATE)
        seg = x[at - win // 2: at + win // 2] * np.hanning(win)
        spec = np.abs(np.fft.rfft(seg)) ** 2
        return spec[np.fft.rfftfreq(win, 1 / RATE) > 12000].sum(), spec.sum()

    for where in (at, at + FADE_TICKS * B // 2, at + int(FADE * RATE)):  # the ramp's start, middle, end
        e, total = hf(snd, where)
        ref_e = max(hf(rsnd, where)[0], 1e-13 * total)
        assert 10 * np.log10(e / ref_e) <= 3.0, where
    e, total = hf(hard, at + 100)
    assert 10 * np.log10(e / max(hf(rsnd, at + 100)[0], 1e-13 * total)) > 10.0  # the measure hears a cut


def test_fade_0_still_ramps_over_hush_min():
    m, _, ctl = session(PATCH.replace(f"fade({FADE})", "fade(0)"))
    run(m, 5)
    ctl.execute("hush", [])
    snd, _ = run(m, 10)
    n = int(np.ceil(HUSH_MIN * RATE))
    flat = snd.ravel()
    assert np.abs(flat[:n // 2]).max() > 0 and (flat[n + 1:] == 0).all()


def test_a_log_with_a_hush_replays_sample_for_sample(tmp_path):
    patch, log = tmp_path / "set.dmm", tmp_path / "set.dmmlog"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log))
    m = host.machine
    sound = []
    for t in range(260):
        if t == 30:
            assert host.osc([("hush", [], None, None)]) == [("/dmm/ok", ["/dmm/hush"], None)]
        if t == 90:
            assert host.osc([("hush", [0], None, None)]) == [("/dmm/ok", ["/dmm/hush", 0], None)]
        if t == 130:
            host.osc([("hush", [1], None, None)])
        if t == 140:  # a hush 0 while fading out: it turns round there
            host.osc([("hush", [0.0], None, None)])
        if t == 150:
            host.osc([("hush", [], None, None)])
        if t == 200:  # a save un-hushes
            host.apply_text(PATCH.replace("110", "147"), str(patch))
        host.tick()
        sound.append(m.sound().copy())
    host.log.close(m.t)
    sound = np.concatenate(sound)
    lines = [json.loads(x) for x in open(log, encoding="utf-8")][1:]
    assert [(e["kind"], e.get("op"), e.get("args"), e["tick"]) for e in lines[:5]] == [
        ("osc", "hush", [], 30), ("osc", "hush", [0], 90), ("osc", "hush", [1], 130),
        ("osc", "hush", [0.0], 140), ("osc", "hush", [], 150)]
    assert lines[5]["kind"] == "code" and lines[5]["tick"] == 200
    assert (sound[(31 + FADE_TICKS) * B:90 * B] == 0).all() and (sound[(151 + FADE_TICKS) * B:200 * B] == 0).all()
    assert np.abs(sound[-B:]).max() > 0.05
    again = dmmlive.render(log, tmp_path / "again.wav")
    _, data = wavfile.read(again)
    assert data.shape == sound.shape == (260 * B, 2)
    np.testing.assert_array_equal(data, sound)
