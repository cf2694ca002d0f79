"""Audio input offline: `input(channel)` fed by `render --input FILE.wav`, sample for sample."""
import numpy as np
import pytest
from scipy.io import wavfile

from dmmlive import BadArgument, Machine
from dmmlive.neurons.inputs import InputFeed
from dmmlive.patch.live import PatchSession
from dmmlive.render import render

RATE, B = 48000, 128


def test_an_input_neuron_hears_its_channel_block_by_block():
    n = 10 * B + 37
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (n, 3)).astype(np.float32)
    m = Machine(rate=RATE, block=B)
    m.add("a", "input")
    m.add("b", "input", channel=3)
    m.connect("out.left", "a", 1.0)
    m.connect("out.right", "b", 1.0)
    m.before_tick.append(InputFeed(x))
    got = []
    for _ in range(12):
        m.tick()
        got.append(m.sound().copy())
    got = np.concatenate(got)
    np.testing.assert_array_equal(got[:n, 0], x[:, 0])
    np.testing.assert_array_equal(got[:n, 1], x[:, 2])
    assert not got[n:].any()  # silence past the recording's end


def test_render_input_feeds_a_wav_file_through_a_patch(tmp_path):
    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    hiss = np.random.default_rng(2).uniform(-0.1, 0.1, RATE).astype(np.float32)
    wav = tmp_path / "in.wav"
    wavfile.write(wav, RATE, np.stack([tone, hiss], axis=1))
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "p.dmm").apply("out.left = input(1)\nout.right = lowpass(input(2), cutoff=500)\n", now=True)
    out = tmp_path / "out.wav"
    render(m, out, seconds=1.0, input=wav)
    rate, y = wavfile.read(out)
    assert rate == RATE
    np.testing.assert_array_equal(y[:, 0], tone)     # through as it came
    # the lowpass took the hiss down: most of its power was above 500 Hz
    assert np.std(y[2000:, 1]) < 0.35 * np.std(hiss)
    with pytest.raises(BadArgument, match="no such file"):
        render(Machine(rate=RATE, block=B), tmp_path / "x.wav", seconds=0.1, input=tmp_path / "none.wav")


def test_input_channel_is_checked():
    m = Machine(rate=RATE, block=B)
    with pytest.raises(BadArgument, match="channel must be a whole number from 1 to 8"):
        m.add("a", "input", channel=9)


def test_dmmlive_render_input_on_the_command_line(tmp_path, capsys):
    from dmmlive.cli import main
    x = (0.3 * np.sin(2 * np.pi * 330 * np.arange(RATE // 2) / RATE)).astype(np.float32)
    wavfile.write(tmp_path / "in.wav", RATE, x)
    (tmp_path / "p.dmm").write_text("out = input(1)\n")
    assert main(["render", str(tmp_path / "p.dmm"), "-o", str(tmp_path / "o.wav"), "--seconds", "0.5",
                 "--input", str(tmp_path / "in.wav"), "-q"]) == 0
    _, y = wavfile.read(tmp_path / "o.wav")
    np.testing.assert_array_equal(y[:, 0], x)
    assert main(["render", str(tmp_path / "p.dmm"), "-o", str(tmp_path / "o.wav"), "--seconds", "0.5",
                 "--input", str(tmp_path / "nope.wav"), "-q"]) == 1
    assert "no such file" in capsys.readouterr().err
