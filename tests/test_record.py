"""`dmmlive play --record`: the window's frames and the engine's sound go to a fragmented mp4
while playing; a process killed mid-recording leaves a file that plays up to its last fragment.

Runs `dmmlive play --no-audio` (timer-paced sound) with a headless window in a subprocess.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")

BIN = Path(sys.executable).with_name("dmmlive")
CLI = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "dmmlive.cli"]
FPS, RATE = 30, 48000
PATCH = f"size(64, 36)\nfps({FPS})\na = plasma(speed=1)\nscreen = a\nout = 0.2*sine(freq=440)\n"
WAIT = 60.0


def env():
    e = dict(os.environ)
    e.pop("DISPLAY", None)  # the window runs headless
    return e


def decoded(path):
    """(video frames, audio samples, seconds the pictures span) decodable from the file, up
    to the first broken packet. The span runs to the end of the last frame: a live recording
    keeps each frame's time (its pts) when the window drops frames, so it can exceed
    frames / FPS."""
    frames = samples = 0
    span = 0.0
    with av.open(str(path)) as c:
        try:
            for f in c.decode(video=0):
                frames += 1
                span = float(f.pts * f.time_base) + 1 / FPS
        except av.error.FFmpegError:
            pass
    with av.open(str(path)) as c:
        try:
            for f in c.decode(audio=0):
                samples += f.samples
        except av.error.FFmpegError:
            pass
    return frames, samples, span


def play(tmp_path, *args):
    p = tmp_path / "p.dmm"
    p.write_text(PATCH, encoding="utf-8")
    return subprocess.Popen(CLI + ["play", str(p), "--no-audio", "--no-osc", *args], cwd=tmp_path,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_mid_recording_leaves_a_playable_file(tmp_path):
    out = tmp_path / "x.mp4"
    proc = play(tmp_path, "--record", str(out))
    try:
        deadline = time.monotonic() + WAIT
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert out.exists(), proc.communicate(timeout=10)
        t0 = time.monotonic()
        # a keyframe (and so a fragment) a second: wait for a few of them to be written
        while time.monotonic() - t0 < 4.0 or out.stat().st_size < 4000:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate(timeout=10)
            time.sleep(0.05)
        played = time.monotonic() - t0
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    frames, samples, _ = decoded(out)
    assert 0 < frames <= (played + 1) * FPS
    assert frames >= FPS  # at least a fragment's worth (a second) was written and decodes
    assert samples > 0.5 * RATE


def test_a_clean_stop_gives_a_complete_file(tmp_path):
    out = tmp_path / "x.mp4"
    proc = play(tmp_path, "--record", str(out), "--seconds", "3")
    stdout, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, stderr
    assert f"recorded {out}" in stdout
    frames, samples, span = decoded(out)
    # recording starts once the window is open: a little less than the 3 seconds played (a
    # busy machine's software GL drops frames; those left keep their times)
    assert 1.5 * FPS <= frames <= 3 * FPS + 3
    assert abs(samples / RATE - span) < 0.25  # sound and pictures span the same time
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (64, 36) and c.streams.audio[0].sample_rate == RATE


def test_no_window_records_sound_with_black_frames(tmp_path):
    out = tmp_path / "x.mp4"
    proc = play(tmp_path, "--record", str(out), "--seconds", "2", "--no-window")
    stdout, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, stderr
    frames, samples, span = decoded(out)
    assert samples > 1.0 * RATE
    # (the span: the first picture lasts the AAC priming longer, 1024 samples: see test_recorder)
    assert abs(frames - samples / RATE * FPS) <= 3 and abs(span - frames / FPS - 1024 / RATE) < 1e-3  # black frames timed by the sound
    with av.open(str(out)) as c:
        f = next(c.decode(video=0)).to_ndarray(format="rgb24")
        assert f.max() <= 20  # black (give or take the encoder)
