"""SIGINT (Ctrl-C), SIGTERM and SIGHUP stop `dmmlive play` the clean way (dmmlive.app.StopSignals).

A real `dmmlive play --no-window --record --log` on the JACK dummy server, in a process group
of its own, gets one signal after it played a second and a half, as it comes in the field:
Ctrl-C and a closed terminal (SIGHUP) reach the whole process group, its engine and audio
processes too; `kill`, `timeout` and `docker stop` send SIGTERM to the app alone. Each time it
exits 0 within 2 s, printing the stop line, with a recording that decodes to its end, a log
that ends with its end line, the JACK client gone, and no process of it left.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")

BIN = Path(sys.executable).with_name("dmmlive")
CLI = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "dmmlive.cli"]
FPS, RATE = 30, 48000
PATCH = f"size(64, 36)\nfps({FPS})\nfade(0.02)\nout = 0.2*sine(freq=440)\n"
PLAYED = 1.5       # s of recording before the signal
STOP_WITHIN = 2.0  # s from the signal to the exit


class Output:
    """A pipe's text, read by a thread as it comes; `wait_for` a regex in it."""

    def __init__(self, stream):
        self.text = ""
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for line in stream:
            with self._cv:
                self.text += line
                self._cv.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self._cv:
            while not re.search(pattern, self.text, re.M):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def join(self):
        self._thread.join(5.0)


def group_processes(pgid: int) -> list[str]:
    """`pid state command` of the live (not zombie) processes in process group `pgid`."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(f"{d.name} {fields[0]} {cmd}")
    return out


def jack_ports(jack) -> set[str]:
    r = subprocess.run(["jack_lsp", "-s", jack.server], capture_output=True, text=True, timeout=10)
    return set(r.stdout.split())


def decode_all(path):
    """(video frames, last picture's end in s, audio samples): every packet decoded, an error raises."""
    frames = samples = 0
    end = 0.0
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.width, v.height) == (64, 36) and a.sample_rate == RATE
        for packet in c.demux(v, a):
            for f in packet.decode():
                if packet.stream is v:
                    frames += 1
                    end = max(end, float(f.pts * f.time_base) + 1 / FPS)
                else:
                    samples += f.samples
    return frames, end, samples


@pytest.mark.parametrize("sig, to_group", [("SIGINT", True), ("SIGTERM", False), ("SIGHUP", True)],
                         ids=["SIGINT-to-the-group", "SIGTERM-to-the-app", "SIGHUP-to-the-group"])
def test_a_signal_stops_play_cleanly(jack, tmp_path, sig, to_group):
    # (the recording and the log in a folder of their own: their writes in the patch's folder
    # would keep its watcher busy, and watchdog 7.1 may then log "InotifyEmitter.queue_events()
    # called when the thread is inactive" as it stops, whatever stopped play)
    patch, mp4, log = tmp_path / "p.dmm", tmp_path / "out" / "out.mp4", tmp_path / "out" / "out.dmmlog"
    patch.write_text(PATCH)
    mp4.parent.mkdir()
    ports = jack_ports(jack)
    p = subprocess.Popen(CLI + ["play", str(patch), "--no-window", "--device", jack.device, "--osc-port", "0",
                                "--record", str(mp4), "--log", str(log)],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, JACK_DEFAULT_SERVER=jack.server), start_new_session=True)
    out, err = Output(p.stdout), Output(p.stderr)
    try:
        assert out.wait_for(r"^recording to ", 60.0), (out.text, err.text)
        t0 = time.monotonic()
        time.sleep(PLAYED)
        played = time.monotonic() - t0
        if to_group:
            os.killpg(p.pid, getattr(signal, sig))
        else:
            p.send_signal(getattr(signal, sig))
        sent = time.monotonic()
        try:
            rc = p.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_WITHIN} s after {sig}:\n{out.text}\n{err.text}")
        took = time.monotonic() - sent
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        out.join()
        err.join()
    assert rc == 0, (rc, out.text, err.text)
    assert err.text == "", err.text
    assert re.search(rf"^{sig}: stopping$", out.text, re.M), out.text
    stopped = re.search(r"^stopped: (\d+) ticks, \d+ xruns", out.text, re.M)
    assert stopped, out.text
    assert re.search(rf"^recorded {re.escape(str(mp4))}: \d+ frames$", out.text, re.M), out.text

    # no process of it is left (zombies aside: this machine's init may reap them late), and
    # its JACK client is gone
    deadline = time.monotonic() + 2.0
    while group_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_processes(p.pid) == []
    assert jack_ports(jack) == ports

    # the log's last line is its end line, at the tick the engine stopped
    last = json.loads(log.read_text().splitlines()[-1])
    assert last == {"tick": int(stopped.group(1)), "kind": "end"}

    # the recording decodes to its end, sound and (black) pictures over the time played
    frames, end, samples = decode_all(mp4)
    seconds = samples / RATE
    assert played - 0.2 <= seconds <= played + took + 0.3, (played, took, seconds)
    assert abs(frames - seconds * FPS) <= 3 and abs(end - seconds) < 0.1, (frames, end, seconds)
