"""/dmm/snapshot [path] on a playing set (the engine's Host) and play --from SNAP: the set
resumes where it was, sample for sample, and takes the next save as it would have."""
from __future__ import annotations

import subprocess
import sys
import threading

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
    patch = tmp_path / "set.dmm"
    patch.write_text(PATCH)
    host = build(str(patch), RATE, B, True, 0.05)
    drive(host, 40)
    host.osc([("snapshot", ["s.dmmsnap"], None, None)])
    wait_writers()
    p = subprocess.run([sys.executable, "-m", "dmmlive.cli", "play", str(patch), "--from", str(tmp_path / "s.dmmsnap"),
                        "--no-audio", "--no-window", "--no-osc", "--seconds", "1"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    bad = subprocess.run([sys.executable, "-m", "dmmlive.cli", "play", str(patch), "--from", str(patch),
                          "--no-audio", "--no-window", "--no-osc", "--seconds", "1"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 1 and "not a dmmlive snapshot" in bad.stderr, bad.stderr
    with pytest.raises(BadArgument, match="--rate 48000 --block 128"):
        build(str(patch), RATE, 256, True, 0.05, resume=str(tmp_path / "s.dmmsnap"))


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
