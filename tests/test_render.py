"""Offline WAV rendering: exact length, exact samples, byte-identical reruns, clear errors."""
from __future__ import annotations

import wave

import numpy as np
import pytest
from scipy.io import wavfile

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive import BadArgument, Machine
from dmmlive.core.registry import STANDARD
from dmmlive.render import render


TYPES = STANDARD.copy()  # this module's types (its test type stays out of the standard table)


@TYPES.neuron_type("test_sine_render", kind="audio", inputs={"freq": 220.0, "amp": 0.1}, batched=True,
                   state={"phase": 0.0})
def _test_sine(state, rate, freq, amp):
    """A test-only sine oscillator."""
    ph = state.phase[:, None] + np.cumsum(freq, axis=1, dtype=np.float64) * (2 * np.pi / rate)
    state.phase[:] = ph[:, -1] % (2 * np.pi)
    return (amp * np.sin(ph)).astype(np.float32)


def build(block=128, rate=48000):
    m = Machine(rate=rate, block=block, types=TYPES)
    m.add("a", "test_sine_render")
    m.add("b", "test_sine_render")
    m.connect("a.freq", "one", 330.0)
    m.connect("b.freq", "one", 3.0)   # slow tremolo-ish amplitude change on the right
    m.connect("b.amp", "one", 6.0)    # loud: the limiter acts on the right channel
    m.connect("out.left", "a", 1.0)
    m.connect("out.right", "b", 1.0)
    return m


def by_hand(m, frames):
    blocks = []
    while sum(len(b) for b in blocks) < frames:
        m.tick()
        blocks.append(m.sound().copy())
    return np.concatenate(blocks)[:frames]


def test_render_is_exact_length_and_equals_ticking_by_hand(tmp_path):
    seconds = 0.1013  # 4862.4 frames: not a whole number of blocks
    path = render(build(), tmp_path / "a.wav", seconds)
    rate, data = wavfile.read(path)
    assert rate == 48000
    assert data.dtype == np.float32 and data.shape == (4862, 2)
    np.testing.assert_array_equal(data, by_hand(build(), 4862))
    assert np.abs(data).max() <= 1.0 and np.abs(data[:, 1]).max() > 0.9


def test_renders_of_machines_built_alike_are_byte_identical(tmp_path):
    a = render(build(), tmp_path / "a.wav", 0.25)
    b = render(build(), tmp_path / "b.wav", 0.25)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob("*.part"))


def test_render_16_bit_pcm(tmp_path):
    path = render(build(block=64, rate=44100), tmp_path / "p.wav", 0.05, sample_format="int16")
    rate, data = wavfile.read(path)
    frames = round(0.05 * 44100)
    assert rate == 44100 and data.dtype == np.int16 and data.shape == (frames, 2)
    want = np.rint(np.clip(by_hand(build(block=64, rate=44100), frames), -1, 1) * 32767).astype(np.int16)
    np.testing.assert_array_equal(data, want)
    with wave.open(str(path)) as w:  # the stdlib reads it too
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 44100, frames)


def test_progress_reports_frames_up_to_the_total(tmp_path):
    calls = []
    render(build(), tmp_path / "a.wav", 0.5, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 24000) and calls[-1] == (24000, 24000)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and len(calls) > 2


def test_zero_seconds_is_an_empty_valid_file(tmp_path):
    rate, data = wavfile.read(render(build(), tmp_path / "z.wav", 0))
    assert data.shape == (0, 2)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(BadArgument) as e:
        render(build(), tmp_path / "a.mp3", 1.0)
    assert str(e.value) == (f"cannot render to {str(tmp_path / 'a.mp3')!r}: unknown file type '.mp3'; "
                            "use .wav (sound), .mp4 (video and sound) or .png (frames)")
    with pytest.raises(BadArgument) as e:
        render(str(tmp_path / "nope.dmm"), tmp_path / "a.wav", 1.0)
    assert str(e.value) == f"cannot read patch {tmp_path / 'nope.dmm'}: No such file or directory"
    with pytest.raises(BadArgument, match="seconds must be a finite number >= 0"):
        render(build(), tmp_path / "a.wav", -1)
    with pytest.raises(BadArgument, match="sample_format must be one of"):
        render(build(), tmp_path / "a.wav", 1, sample_format="int24")
    assert not (tmp_path / "a.wav").exists()
