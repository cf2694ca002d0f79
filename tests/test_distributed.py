"""A set's log rendered in segments (dmmlive/distributed.py): on 2 Ray workers the decoded
pictures and sound are those of --workers 1 (no Ray), a worker that dies is retried,
and without Ray the command says how to get it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dmmlive import BadArgument
from dmmlive.app import build
from dmmlive.cli import main
from dmmlive.distributed import DIE_ONCE, SOUND_SHARE, frame_tick, plan, render_split
from dmmlive.render import render

RATE, B = 48000, 128
DEMO = Path(__file__).resolve().parents[1] / "patches" / "demo.dmm"


@pytest.fixture(scope="module")
def setlog(tmp_path_factory):
    """3 s of a logged set drawing pictures (feedback, a waveform, a shader changed by a
    save), at 64x36, driven offline with `build` as the engine would."""
    d = tmp_path_factory.mktemp("set")
    patch, log = d / "set.dmm", d / "set.dmmlog"
    text = DEMO.read_text().replace("size(640, 360)", "size(64, 36)")
    patch.write_text(text)
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log))
    for t in range(3 * RATE // B):
        if t == 200:
            host.osc([("set", ["out.left", "echo", 0.4], None, None)])
        if t == 600:
            host.apply_text(text.replace("sides=6", "sides=5"), str(patch))
        host.tick()
    host.log.close(host.machine.t)
    return log


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def one(setlog, tmp_path_factory):
    """The set in segments of 1 s, in this process (workers 1, no Ray): its file, and the
    (done, total) its progress told."""
    told = []
    path = render_split(str(setlog), tmp_path_factory.mktemp("one") / "one.mp4", workers=1, segment=1.0,
                        warmup=0.5, progress=lambda done, total: told.append((done, total)))
    return path, told


@pytest.fixture
def ray_head():
    """A Ray cluster started as a user starts one (`ray start --head`, 2 CPUs, a port of its
    own): its address. Its files (and the address `ray.init()` would find) in a folder of its
    own, so no other Ray on this machine joins it; stopped after (its --block process told
    to end, which ends the rest: not `ray stop`, which stops every Ray here)."""
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="dmmray")  # (short: Ray's socket paths live under it)
    env = dict(os.environ, RAY_AUTH_MODE="token")  # Ray's token, the head's and the client's
    logf = open(Path(d, "head.log"), "w+")
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port),
                             "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", d, "--block"], stdout=logf, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in Path(d, "head.log").read_text():
            assert head.poll() is None and time.monotonic() < deadline, Path(d, "head.log").read_text()
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", env
    finally:
        head.terminate()
        head.wait(90)
        logf.close()
        shutil.rmtree(d, ignore_errors=True)


def decode(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        sound = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    return frames, sound


def same_pictures(a, b, what, per=30):
    """The decoded frames `a` and `b` are equal; if not, the message says which frames
    differ (and their segment of `per` frames), by how many levels at most, where, and
    over what share of the pixels."""
    assert len(a) == len(b), f"{what}: {len(a)} frames against {len(b)}"
    bad = []
    for k, (x, y) in enumerate(zip(a, b)):
        if not np.array_equal(x, y):
            d = np.abs(x.astype(np.int16) - y).max(axis=-1)
            r, c = np.unravel_index(int(np.argmax(d)), d.shape)
            bad.append(f"frame {k} (segment {k // per}): up to {int(d.max())} at row {r} col {c}, "
                       f"{int((d > 0).sum())} of {d.size} pixels differ")
    assert not bad, f"{what}: {len(bad)} of {len(a)} frames differ: " + "; ".join(bad[:12])


def test_the_segments_do_not_depend_on_the_workers():
    from fractions import Fraction
    segs = plan(95, Fraction(30), RATE, B, segment=1.0, warmup=0.5)
    assert [(a, b) for a, b, _ in segs] == [(0, 30), (30, 60), (60, 90), (90, 95)]
    assert segs[0][2] == 0 and segs[1][2] == frame_tick(30, Fraction(30), RATE, B) - 1 - 188
    assert frame_tick(0, Fraction(30), RATE, B) == 1 and frame_tick(30, Fraction(30), RATE, B) == 376


def test_two_ray_workers_give_the_file_of_one_and_a_dead_worker_is_retried(setlog, one, tmp_path, ray_local,
                                                                           monkeypatch):
    one, told = one
    first = round(90 * SOUND_SHARE)  # the bar's first steps: the fast pass (the sound)
    assert first == 4 and {t for _, t in told} == {90 + first}
    done = [d for d, _ in told]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 90 + first  # one bar: it only rises, to its end
    assert {0, 1, 2, 3} <= set(done[:done.index(first)])  # it moves while the fast pass runs
    assert len(done) - done.index(first) >= 90 // 5  # and every few frames
    died = tmp_path / "died"
    monkeypatch.setenv(DIE_ONCE, str(died))  # the first segment's worker dies; Ray runs it again
    seen = []
    two = render_split(str(setlog), tmp_path / "two.mp4", workers=2, segment=1.0, warmup=0.5,
                       progress=lambda done, total: seen.append((done, total)))
    assert died.exists()
    f1, s1 = decode(one)
    f2, s2 = decode(two)
    assert len(f1) == len(f2) == 90 and f1[0].shape == (36, 64, 3)
    same_pictures(f1, f2, "workers 1 (this process) against 2 Ray workers")
    assert_array_equal(s1, s2)
    assert seen[0] == (0, 94) and seen[-1] == (94, 94) and (4, 94) in seen
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # one bar over all segments, never back
    # the sound is the set's, as a render in one piece has it
    render(str(setlog), tmp_path / "whole.mp4")
    _, s0 = decode(tmp_path / "whole.mp4")
    assert_array_equal(s0, s1)
    assert np.abs(s1).max() > 0.01 and f1[-1].max() > 0


def test_the_cli_renders_with_workers(setlog, tmp_path, ray_local, capsys):
    out = tmp_path / "cli.mp4"
    assert main(["render", str(setlog), "-o", str(out), "--workers", "2", "--seconds", "1", "-q"]) == 0
    frames, sound = decode(out)
    assert len(frames) == 30 and sound.shape[0] == 2
    assert f"wrote {out}" in capsys.readouterr().out
    # --ray ADDRESS with no --workers: the cluster's workers (here: the instance already up)
    assert main(["render", str(setlog), "-o", str(tmp_path / "r.mp4"), "--ray", "auto", "--seconds", "1", "-q"]) == 0
    again, _ = decode(tmp_path / "r.mp4")
    assert len(again) == 30
    same_pictures(frames, again, "--workers 2 against --ray auto", per=300)


def test_a_cluster_given_by_its_address_gives_the_file_of_one(setlog, one, ray_head, tmp_path):
    """`--ray ADDRESS`: a cluster started apart (ray start --head), joined by its address from
    a process of its own, renders the segments of the set to the file of --workers 1."""
    address, env = ray_head
    out = tmp_path / "cluster.mp4"
    job = (f"from dmmlive.distributed import render_split; render_split({str(setlog)!r}, {str(out)!r}, "
           f"workers=2, address={address!r}, segment=1.0, warmup=0.5)")
    p = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    assert "Connecting to existing Ray cluster" in p.stderr  # (not a Ray of its own)
    f1, s1 = decode(one[0])
    f2, s2 = decode(out)
    assert len(f2) == 90
    same_pictures(f1, f2, "workers 1 (this process) against the cluster's 2")
    assert_array_equal(s1, s2)


def test_without_ray_it_says_how_to_get_it(setlog, tmp_path, without_ray, capsys):
    with pytest.raises(BadArgument, match=r"pip install 'dmmlive\[ray\]'"):
        render_split(str(setlog), tmp_path / "x.mp4", workers=2)
    assert main(["render", str(setlog), "-o", str(tmp_path / "x.mp4"), "--workers", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert "render --workers needs Ray" in err and "pip install 'dmmlive[ray]'" in err
    assert not (tmp_path / "x.mp4").exists()
    # one worker needs no Ray
    assert main(["render", str(setlog), "-o", str(tmp_path / "w1.mp4"), "--workers", "1", "--seconds", "0.5",
                 "-q"]) == 0


def test_bad_requests(setlog, tmp_path):
    with pytest.raises(BadArgument, match="mp4"):
        render_split(str(setlog), tmp_path / "x.wav", workers=1)
    with pytest.raises(BadArgument, match="log"):
        render_split(str(DEMO), tmp_path / "x.mp4", workers=1)
    with pytest.raises(BadArgument, match="workers"):
        render_split(str(setlog), tmp_path / "x.mp4", workers=0)
    assert not os.path.exists(tmp_path / "x.mp4")
