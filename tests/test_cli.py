"""The command line, called in-process and as the installed console script."""
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from scipy.io import wavfile

from dmmlive.cli import main
from dmmlive.core.registry import STANDARD
from dmmlive.patch.live import load

BIN = Path(sys.executable).with_name("dmmlive")
CLI = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "dmmlive.cli"]

GOOD = """\
# a tone with vibrato
fade(0.1)
lfo  = sine(freq=5)
tone = saw(freq=220 + 3*lfo)
out.left = 0.2*tone
out.right = 0.1*tone + 0.05*lfo
"""

# sound and picture: a 440 Hz sine and a plasma on the screen
VISUAL = """\
size(320, 180)
fps(30)
tone = sine(freq=440)
out = 0.25*tone
glow = plasma(speed=0.5)
screen = glow
"""


@pytest.fixture
def good(tmp_path):
    p = tmp_path / "good.dmm"
    p.write_text(GOOD)
    return p


@pytest.fixture
def visual(tmp_path):
    p = tmp_path / "visual.dmm"
    p.write_text(VISUAL)
    return p


def run(*args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=120)


def read_video(path):
    """(frames as (h, w, 3) uint8 arrays, audio sample rate, audio samples per channel, left channel)."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        chunks = [f.to_ndarray() for f in c.decode(audio=0)]  # planar float: (channels, n)
    left = np.concatenate([ch[0] for ch in chunks])
    return frames, rate, len(left), left


def read_png(path):
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


# ---- types --------------------------------------------------------------------------------
def test_types_lists_every_type_with_ports_and_doc(capsys):
    assert main(["types"]) == 0
    out = capsys.readouterr().out
    for name in ("identity", "accum", "max_norm", "dot", "compare", "const", "timer", "self", "one", "edits", "out"):
        assert f"\n  {name} " in "\n" + out, name
        assert STANDARD[name].doc.splitlines()[0] in out
    assert "accum (accum:vvalue, delta:vvalue) -> (single:vvalue)" in out
    # grouped by the kind of what they output, sinks last
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert heads == ["vvalue neurons:", "number neurons:", "audio neurons:", "image neurons:", "sinks:"]
    assert out.index("\n  sine ") > out.index("audio neurons:") > out.index("\n  rms ")


def test_types_filters_by_name(capsys):
    assert main(["types", "sine", "plasm"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert listed == ["sine_kr", "sine", "plasma"]  # by kind: number, audio, image
    assert main(["types", "sinne"]) == 1
    assert "no neuron type matches 'sinne' (did you mean 'sine'?)" in capsys.readouterr().err


def test_version(capsys):
    from dmmlive import __version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"dmmlive {__version__}\n"


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "dmmlive.cli", "types"], capture_output=True, text=True)
    assert r.returncode == 0 and "timer (timer:vvalue) -> (timer:vvalue)" in r.stdout


# ---- check --------------------------------------------------------------------------------
def test_check_prints_the_network_and_exits_0(good, capsys):
    assert main(["check", str(good)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        f"{good}: ok: 2 neurons, 6 weights, schedule ordered, fade 0.1 s\n"
        "  lfo = sine\n"
        "  tone = saw\n"
        "  lfo.freq = 5\n"
        "  out.left = 0.2*tone.out\n"
        "  out.right = 0.1*tone.out + 0.05*lfo.out\n"
        "  tone.freq = 3*lfo.out + 220\n")


def test_check_names_the_schedule_and_construction_arguments(tmp_path, capsys):
    p = tmp_path / "s.dmm"
    p.write_text('schedule("synchronous")\nd = delay(0.5*d, time=0.1, max=0.5)\nout = 0.1*d\n')
    assert main(["check", str(p)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{p}: ok: 1 neurons, 4 weights, schedule synchronous, fade 0.05 s"
    assert "  d = delay max=0.5" in out
    assert "  d.in = 0.5*d.out" in out


def test_check_syntax_error_is_positioned_with_a_caret(tmp_path, capsys):
    p = tmp_path / "syn.dmm"
    p.write_text("a = sine(freq=220\nout = a\n")
    assert main(["check", str(p)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"dmmlive: {p}:1:9: syntax error: '(' was never closed\n"
                   "    a = sine(freq=220\n"
                   "            ^\n")


def test_check_unknown_type_says_did_you_mean(tmp_path, capsys):
    p = tmp_path / "unk.dmm"
    p.write_text("fade(0.05)\na = sinee(freq=220)\nout = 0.2*a\n")
    assert main(["check", str(p)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"dmmlive: {p}:2:5: unknown neuron type 'sinee' (did you mean 'sine'?)\n"
                   "    a = sinee(freq=220)\n"
                   "        ^\n")


def test_check_missing_file_is_one_line(tmp_path, capsys):
    p = tmp_path / "nope.dmm"
    assert main(["check", str(p)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"dmmlive: cannot read patch {p}: No such file or directory\n"


def test_check_errors_from_the_console_script_have_no_traceback(tmp_path):
    p = tmp_path / "unk.dmm"
    p.write_text("fade(0.05)\na = sinee(freq=220)\nout = 0.2*a\n")
    r = run("check", p)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [f"dmmlive: {p}:2:5: unknown neuron type 'sinee' (did you mean 'sine'?)",
                                     "    a = sinee(freq=220)",
                                     "        ^"]
    r = run("check", tmp_path / "missing.dmm")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"dmmlive: cannot read patch {tmp_path / 'missing.dmm'}: No such file or directory\n"


# ---- render: wav --------------------------------------------------------------------------
def test_render_wav_exact_length_and_the_patch_machines_samples(good, tmp_path, capsys):
    out = tmp_path / "a.wav"
    assert main(["render", str(good), "-o", str(out), "--seconds", "0.3013", "-q"]) == 0
    assert capsys.readouterr() == (f"wrote {out}\n", "")
    rate, data = wavfile.read(out)
    assert rate == 48000 and data.dtype == np.float32 and data.shape == (14462, 2)  # round(0.3013 * 48000)
    m = load(good)
    blocks = []
    for _ in range(-(-14462 // m.block)):
        m.tick()
        blocks.append(m.sound().copy())
    np.testing.assert_array_equal(data, np.concatenate(blocks)[:14462])
    assert np.abs(data[:, 0]).max() > 0.1  # the saw at 0.2 is there


def test_render_wav_twice_is_byte_identical(good, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert main(["render", str(good), "-o", str(a), "--seconds", "0.5", "-q"]) == 0
    assert main(["render", str(good), "-o", str(b), "--seconds", "0.5", "-q"]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav", "good.dmm"]  # no .part left


def test_render_progress_bar_goes_to_stderr(good, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # as on a terminal
    assert main(["render", str(good), "-o", str(tmp_path / "a.wav"), "--seconds", "0.2"]) == 0
    out, err = capsys.readouterr()
    assert out == f"wrote {tmp_path / 'a.wav'}\n"
    assert err.startswith("\r[") and err.endswith("] 100.0%\n")


def test_console_script_renders_wav(good, tmp_path):
    out = tmp_path / "c.wav"
    r = run("render", good, "-o", out, "--seconds", "0.25", "-q")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"wrote {out}\n", "")
    rate, data = wavfile.read(out)
    assert rate == 48000 and data.shape == (12000, 2)


# ---- render: mp4 and png ------------------------------------------------------------------
def test_render_mp4_frames_size_and_sound(visual, tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    for p in (a, b):
        assert main(["render", str(visual), "-o", str(p), "--seconds", "1", "--fps", "12",
                     "--size", "64x36", "-q"]) == 0
    frames, rate, n, left = read_video(a)
    assert len(frames) == 12                               # round(1 s * 12 fps), not the patch's 30
    assert all(f.shape == (36, 64, 3) for f in frames)     # --size, not the patch's 320x180
    assert all(f.max() > 32 for f in frames)               # the plasma, not black
    assert rate == 48000 and abs(n - 48000) <= 2048         # AAC pads to whole 1024-sample frames
    spec = np.abs(np.fft.rfft(left[4096:4096 + 32768] * np.hanning(32768)))
    assert abs(np.argmax(spec) * 48000 / 32768 - 440) < 3  # the patch's sine came through the codec
    with av.open(str(a)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio[0].codec_context.name == "aac"
    frames_b, _, n_b, left_b = read_video(b)
    assert n_b == n
    for x, y in zip(frames, frames_b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(left, left_b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "visual.dmm"]


def test_render_png_sequence(visual, tmp_path, capsys):
    out = tmp_path / "f.png"
    assert main(["render", str(visual), "-o", str(out), "--seconds", "0.5", "--fps", "10",
                 "--size", "64x36", "-q"]) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == [f"f_{i:05d}.png" for i in range(5)]  # round(0.5 s * 10 fps)
    pics = [read_png(tmp_path / n) for n in names]
    assert all(p.shape == (36, 64, 3) for p in pics)
    assert all(p.max() > 32 for p in pics)
    assert not all(np.array_equal(pics[0], p) for p in pics[1:])  # it moves
    # the mp4 holds the same pictures in the same order (up to H.264's loss): each of its
    # frames is nearest to the png of the same index
    assert main(["render", str(visual), "-o", str(tmp_path / "v.mp4"), "--seconds", "0.5", "--fps", "10",
                 "--size", "64x36", "-q"]) == 0
    video = read_video(tmp_path / "v.mp4")[0]
    assert len(video) == 5
    dist = [[np.abs(v.astype(int) - p.astype(int)).mean() for p in pics] for v in video]
    assert [int(np.argmin(d)) for d in dist] == [0, 1, 2, 3, 4], np.round(dist, 1)


# ---- render: errors -----------------------------------------------------------------------
def test_render_bad_suffix_is_a_clear_error(good, tmp_path, capsys):
    out = tmp_path / "a.mp3"
    assert main(["render", str(good), "-o", str(out), "--seconds", "1", "-q"]) == 1
    assert capsys.readouterr() == ("", f"dmmlive: cannot render to {str(out)!r}: unknown file type '.mp3'; "
                                       "use .wav (sound), .mp4 (video and sound) or .png (frames)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.dmm"]


@pytest.mark.parametrize("size", ["10y3", "0x3", "64x", "-4x4", "axb"])
def test_render_bad_size_is_a_usage_error(good, tmp_path, capsys, size):
    with pytest.raises(SystemExit) as e:
        main(["render", str(good), "-o", str(tmp_path / "a.mp4"), f"--size={size}"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("dmmlive render: error: argument --size: size must be WIDTHxHEIGHT, "
                                    f"like 1280x720, not {size!r}")


def test_console_script_render_errors_have_no_traceback(good, tmp_path):
    r = run("render", good, "-o", tmp_path / "a.ogg", "-q")
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("dmmlive: cannot render to ") and len(r.stderr.splitlines()) == 1
    r = run("render", good, "-o", tmp_path / "a.mp4", "--size", "big")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].endswith("size must be WIDTHxHEIGHT, like 1280x720, not 'big'")
    r = run("render", tmp_path / "missing.dmm", "-o", tmp_path / "a.wav", "-q")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == f"dmmlive: cannot read patch {tmp_path / 'missing.dmm'}: No such file or directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.dmm"]


def test_render_negative_fps_and_seconds_are_clear_errors(visual, tmp_path, capsys):
    assert main(["render", str(visual), "-o", str(tmp_path / "a.png"), "--fps", "-5", "-q"]) == 1
    assert capsys.readouterr().err == "dmmlive: fps must be > 0, got -5.0\n"
    assert main(["render", str(visual), "-o", str(tmp_path / "a.wav"), "--seconds", "-1", "-q"]) == 1
    assert capsys.readouterr().err == "dmmlive: seconds must be a finite number >= 0, got -1.0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visual.dmm"]


def test_render_zero_fps_is_a_clear_error(visual, tmp_path, capsys):
    code = main(["render", str(visual), "-o", str(tmp_path / "a.png"), "--seconds", "0.1", "--fps", "0",
                 "--size", "64x36", "-q"])
    assert (code, capsys.readouterr().err) == (1, "dmmlive: fps must be > 0, got 0.0\n")
    assert list(tmp_path.glob("*.png")) == []


@pytest.mark.parametrize("name", ["a.wav", "a.mp4", "a.png"])
def test_render_into_a_missing_folder_is_a_clear_error(visual, tmp_path, capsys, name):
    out = tmp_path / "no" / name
    code = main(["render", str(visual), "-o", str(out), "--seconds", "0.1", "--size", "64x36", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("dmmlive: ") and str(tmp_path / "no") in err and len(err.splitlines()) == 1


def test_render_mp4_odd_size_error_names_the_output(visual, tmp_path, capsys):
    out = tmp_path / "a.mp4"
    assert main(["render", str(visual), "-o", str(out), "--seconds", "0.1", "--size", "63x36", "-q"]) == 1
    assert capsys.readouterr().err == f"dmmlive: {out}: H.264 needs an even width and height, got 63x36\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visual.dmm"]


# ---- play --ahead ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["0", "0.6", "nan"])
def test_play_ahead_out_of_range_is_a_clear_error(tmp_path, capsys, bad):
    p = tmp_path / "a.dmm"
    p.write_text("out = 0.1*sine()\n")
    assert main(["play", str(p), "--ahead", bad, "--no-audio", "--no-window", "--no-osc", "--seconds", "1"]) == 1
    assert capsys.readouterr().err == f"dmmlive: --ahead must be seconds from 0.005 to 0.5, got {float(bad)!r}\n"


def test_play_ahead_sets_the_engines_margin(tmp_path):
    from dmmlive.app import App
    p = tmp_path / "a.dmm"
    p.write_text("out = 0.1*sine()\n")
    for ahead in (0.02, 0.2):
        app = App(str(p), audio=False, window=False, osc=False, ahead=ahead, out=io.StringIO()).start()
        try:
            assert app.engine.info["ahead"] == pytest.approx(ahead, abs=1 / 48000)
            # the margin starts at 50 ms at least and comes down to --ahead once calm (a busy
            # host may grow it again for a while: wait for the floor)
            deadline = time.monotonic() + 20.0
            while app.engine.status()["margin"] > ahead + 1 / 48000 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert app.engine.status()["margin"] == pytest.approx(ahead, abs=1 / 48000)
            time.sleep(0.1)
            assert app.engine.status()["ahead"] == pytest.approx(ahead, abs=0.01)  # kept computed
        finally:
            app.stop()


RINGS = ("// Rings, for the --shaders tests.\nuniform float speed;  // default 1\n"
         "vec4 effect(vec2 uv) { return vec4(vec3(0.25 * speed), 1.0); }\n")


def test_a_shaders_folder_beside_the_patch_or_given_serves_check_render_and_types(tmp_path, capsys):
    (tmp_path / "shaders").mkdir()
    (tmp_path / "shaders" / "test_rings_cli.frag").write_text(RINGS)
    patch = tmp_path / "p.dmm"
    patch.write_text("size(16, 8)\nr = test_rings_cli(speed=2)\nscreen = r\n")
    assert main(["check", str(patch)]) == 0                      # found beside the patch
    assert "r = test_rings_cli" in capsys.readouterr().out
    out = tmp_path / "f.png"
    assert main(["render", str(patch), "-o", str(out), "--seconds", "0.04", "-q"]) == 0
    with av.open(str(tmp_path / "f_00000.png")) as c:
        pic = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert (np.abs(pic.astype(int) - 128) <= 1).all()              # 0.25 * speed 2, drawn
    # elsewhere, named with --shaders; without it the type is unknown
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = other / "p.dmm"
    moved.write_text(patch.read_text())
    capsys.readouterr()
    assert main(["check", str(moved)]) == 1
    assert "test_rings_cli" in capsys.readouterr().err
    assert main(["check", str(moved), "--shaders", str(tmp_path / "shaders")]) == 0
    assert main(["types", "test_rings", "--shaders", str(tmp_path / "shaders")]) == 0
    assert "test_rings_cli (speed:number=1) -> (out:image)" in capsys.readouterr().out
    assert main(["check", str(moved), "--shaders", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "--shaders" in err and "no such folder" in err


def test_render_without_a_terminal_draws_no_progress_bar_and_warns_of_a_black_video(tmp_path, capsys):
    patch = tmp_path / "p.dmm"
    patch.write_text("out = 0.1*sine(freq=220)\n")
    assert main(["render", str(patch), "-o", str(tmp_path / "a.mp4"), "--seconds", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "[###" not in err        # stderr is not a terminal here
    assert "draws nothing on `screen`: the pictures will be black" in err
    assert main(["render", str(patch), "-o", str(tmp_path / "a.wav"), "--seconds", "0.1"]) == 0
    assert "screen" not in capsys.readouterr().err     # sound alone: nothing to warn of


def test_a_shader_that_does_not_compile_fails_check_and_render_with_its_line(tmp_path, capsys):
    (tmp_path / "shaders").mkdir()
    body = RINGS.replace("{ return", "{\n    float k = 2.0\n    return")  # ';' missing on line 4
    (tmp_path / "shaders" / "test_rings_bad.frag").write_text(body)
    patch = tmp_path / "p.dmm"
    patch.write_text("size(16, 8)\nr = test_rings_bad(speed=2)\nscreen = r\nout = 0.1*sine(freq=220)\n")
    want = ("shaders/test_rings_bad.frag:4:18: error: syntax error, unexpected 'return', expecting ',' or ';'"
            " (a ';' missing at the end of line 4?)\n        float k = 2.0\n                     ^")
    assert main(["check", str(patch)]) == 1
    cap = capsys.readouterr()
    assert want in cap.err and cap.out == ""
    out = tmp_path / "bad.mp4"
    assert main(["render", str(patch), "-o", str(out), "--seconds", "0.1", "-q"]) == 1
    assert want in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("bad*"))   # no black video written
    # the sound alone does not need it
    assert main(["render", str(patch), "-o", str(tmp_path / "s.wav"), "--seconds", "0.1", "-q"]) == 0
    # a log that holds the broken source: its render fails the same way
    from dmmlive.render import render
    from dmmlive.gfx.types import ShadersBroken
    from dmmlive.log import logged_types
    from dmmlive.patch.live import load as load_patch
    types = logged_types({"test_rings_bad": body})
    with pytest.raises(ShadersBroken, match=r"test_rings_bad.frag.*:4:18: error: syntax error"):
        render(load_patch(str(patch), types=types), tmp_path / "log.mp4", seconds=0.1)


def test_check_refuses_a_constant_out_of_range_at_its_place(tmp_path, capsys):
    patch = tmp_path / "echo.dmm"
    patch.write_text("click = clock(bpm=120)\necho = delay(click, time=5, feedback=0.5)\nout = 0.3*echo\n")
    assert main(["check", str(patch)]) == 1
    assert capsys.readouterr().err == (f"dmmlive: {patch}:2:26: delay time = 5 is out of range: 0 to 2 s (max=2.0)\n"
                                       "    echo = delay(click, time=5, feedback=0.5)\n"
                                       "                             ^\n")
    assert main(["types", "delay"]) == 0
    assert "time:audio=0.25 [0 to 2 s (max=2.0)], feedback:audio [-1 to 1]" in capsys.readouterr().out


def test_devices_lists_the_sound_outputs_play_can_use(jack):
    r = subprocess.run(CLI + ["devices"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(re.match(rf"^\s*\d+\*? {re.escape(jack.device)}\s+\(JACK Audio Connection Kit, \d+ channels, 48000 Hz\)$",
                        line) for line in lines), r.stdout
    assert lines[-1].startswith("(* the default; play --device takes the index")


def test_every_option_says_what_it_does():
    from dmmlive.cli import build_parser
    sub = build_parser()._subparsers._group_actions[0]
    for name, parser in sub.choices.items():
        for a in parser._actions:
            if a.dest != "help" and name != "send":
                assert a.help, (name, a.option_strings or a.dest)


def test_a_runaway_loop_is_flagged_by_check_and_its_reset_told_by_render(tmp_path, capsys):
    patch = tmp_path / "loud.dmm"
    patch.write_text("c = clock(bpm=600)\na = delay(c + 1e20*a, time=0.001)\nout = 0.3*a\n")
    assert main(["check", str(patch)]) == 0   # a warning, not an error: it plays
    err = capsys.readouterr().err
    assert err == (f"dmmlive: {patch}: warning: the feedback loop a -> a has a gain of 1e+20 (1 or more): it grows "
                   "until the limiter stops it (keep the loop's weights under 1)\n")
    assert main(["render", str(patch), "-o", str(tmp_path / "l.wav"), "--seconds", "0.5", "-q"]) == 0
    assert capsys.readouterr().err == "dmmlive: a (delay) output out went non-finite: muted and reset\n"  # once
    # a loop through a saturating type, a delay's own feedback below 1, weights below 1: no warning
    patch.write_text("c = clock()\na = delay(c + 2*t, time=0.1, feedback=0.5)\nt = tanh(a)\n"
                     "b = delay(c + 0.5*b + 0.4*d, time=0.2)\nd = lowpass(b)\nout = a + b\n")
    assert main(["check", str(patch)]) == 0
    assert capsys.readouterr().err == ""
