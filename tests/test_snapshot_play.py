"""/dmm/snapshot [path] on a playing set (the engine's Host) and play --from SNAP: the set
resumes where it was, sample for sample, and takes the next save as it would have."""
from __future__ import annotations

import subprocess
import sys
import threading

import av
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dmmlive import BadArgument, commands
from dmmlive.app import build

RATE, B = 48000, 128

PATCH = """\
fade(0.02)
k = knob("/k", default=0.3, lag=0.01)
a = sine(freq=220 + 200*k)
b = saw(freq=110)
e = delay(0.3*b + 0.5*e, time=0.25)
out = 0.2*a + 0.05*b + 0.2*e
"""
SAVED = PATCH.replace("saw(freq=110)", "saw(freq=165)")


def wait_writers():
    for t in threading.enumerate():
        if t.name == "dmmlive-snapshot":
            t.join()


def drive(host, ticks):
    out = []
    for _ in range(ticks):
        host.tick()
        out.append(host.machine.sound().copy())
    return out


def test_snapshot_command_and_resume_tick_on_sample_for_sample(tmp_path):
    patch = tmp_path / "set.dmm"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05)
    drive(host, 50)
    host.osc([("knob", ["/k", 0.8], None, None), ("set", ["out.left", "b", 0.3], None, None)])
    drive(host, 2)  # the set glides: the snapshot is taken in the middle of it
    replies = host.osc([("snapshot", [], None, None)])
    path = tmp_path / "set-52.dmmsnap"
    assert replies == [("/dmm/ok", ["/dmm/snapshot", str(path)], None)]
    named = host.osc([("snapshot", ["named.dmmsnap"], None, None)])
    assert named == [("/dmm/ok", ["/dmm/snapshot", str(tmp_path / "named.dmmsnap")], None)]
    assert host.osc([("snapshot", ["x.wav"], None, None)])[0][0] == "/dmm/error"
    assert host.osc([("snapshot", ["../out.dmmsnap"], None, None)])[0][0] == "/dmm/error"
    want = drive(host, 100)
    host.apply_text(SAVED, str(patch))  # a save after: applied over the resumed patch the same way
    want += drive(host, 200)
    wait_writers()

    again = build(str(patch), RATE, B, True, 0.05, resume=str(path))
    assert again.machine.t == 52
    got = drive(again, 100)
    again.apply_text(SAVED, str(patch))
    got += drive(again, 200)
    for x, y in zip(want, got):
        assert_array_equal(x, y)


def test_snapshot_is_not_journaled_and_is_in_the_table():
    op = commands.get("snapshot")
    assert op is not None and op.journal is None and not op.changes_picture
    assert "snapshot" not in commands.journaled("osc", "knob", "code")


def test_play_from_a_snapshot_starts_there(tmp_path):
    """Taken at 44100 Hz, 64 a tick, and played with no --rate/--block: the snapshot's (the
    recording's sound is at its rate); a rate or block given and not its own is refused."""
    patch = tmp_path / "set.dmm"
    patch.write_text(PATCH)
    host = build(str(patch), 44100, 64, True, 0.05)
    drive(host, 40)
    host.osc([("snapshot", ["s.dmmsnap"], None, None)])
    wait_writers()
    p = subprocess.run([sys.executable, "-m", "dmmlive.cli", "play", str(patch), "--from", str(tmp_path / "s.dmmsnap"),
                        "--no-audio", "--no-window", "--no-osc", "--seconds", "1", "--record", "r.mp4"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    with av.open(str(tmp_path / "r.mp4")) as c:
        assert c.streams.audio[0].rate == 44100
    bad = subprocess.run([sys.executable, "-m", "dmmlive.cli", "play", str(patch), "--from", str(patch),
                          "--no-audio", "--no-window", "--no-osc", "--seconds", "1"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 1 and "not a dmmlive snapshot" in bad.stderr, bad.stderr
    for rate, block in ((RATE, None), (None, B), (44100, B)):
        with pytest.raises(BadArgument, match="taken at 44100 Hz, 64 samples a tick: play --rate 44100 --block 64"):
            build(str(patch), rate, block, True, 0.05, resume=str(tmp_path / "s.dmmsnap"))
    m = build(str(patch), None, 64, True, 0.05, resume=str(tmp_path / "s.dmmsnap")).machine
    assert (m.rate, m.block, m.t) == (44100, 64, 40)


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    yield
    wait_writers()


def test_resumed_sound_is_not_the_fresh_patch(tmp_path):
    """(The check above would pass trivially if --from were ignored.)"""
    patch = tmp_path / "set.dmm"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05)
    drive(host, 30)
    host.osc([("snapshot", ["s.dmmsnap"], None, None)])
    wait_writers()
    fresh = np.concatenate(drive(build(str(patch), RATE, B, True, 0.05), 10))
    resumed = np.concatenate(drive(build(str(patch), RATE, B, True, 0.05, resume=str(tmp_path / "s.dmmsnap")), 10))
    assert not np.array_equal(fresh, resumed)


def test_a_resumed_set_keeps_its_quant(tmp_path):
    """Played with --quant 1 and resumed with no --quant: a save after resuming lands on the
    beat as it would have without the stop (not at once); a --quant given wins."""
    patch = tmp_path / "set.dmm"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05, quant=1.0)
    drive(host, 52)
    host.osc([("snapshot", ["q.dmmsnap"], None, None)])
    want = drive(host, 100)
    host.apply_text(SAVED, str(patch))  # at tick 152: lands on the beat, tick 188 (120 bpm)
    want += drive(host, 100)
    wait_writers()

    again = build(str(patch), RATE, B, True, 0.05, resume=str(tmp_path / "q.dmmsnap"))
    assert again.session.quant == 1.0
    got = drive(again, 100)
    again.apply_text(SAVED, str(patch))
    got += drive(again, 100)
    for x, y in zip(want, got, strict=True):
        assert_array_equal(x, y)

    now = build(str(patch), RATE, B, True, 0.05, quant=0.0, resume=str(tmp_path / "q.dmmsnap"))
    assert now.session.quant == 0.0
    at_once = drive(now, 100)
    now.apply_text(SAVED, str(patch))
    at_once += drive(now, 100)
    differ = [i for i, (x, y) in enumerate(zip(want, at_once)) if not np.array_equal(x, y)]
    assert 100 <= differ[0] < 188 - 52  # the save applied at once, before the beat the quantised one waits for
