"""Synthesise the drum samples in assets/ (kick, snare, hat, clap) with numpy alone.

Run `python assets/make_samples.py` to remake them: fixed seeds, so the same
numpy gives the same files. 48 kHz, mono, 16-bit PCM, each well under a second.
"""
from __future__ import annotations

import pathlib
import sys
import wave

import numpy as np

RATE = 48000
HERE = pathlib.Path(__file__).resolve().parent


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * RATE))) / RATE


def _band(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Band-limit x to [lo, hi] Hz with soft (raised-cosine, half an octave) edges in the FFT."""
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    g = np.ones_like(f)
    if lo > 0:
        e = np.clip(np.log2(np.maximum(f, 1e-9) / lo) / 0.5 + 1, 0, 1)  # 0 below lo/sqrt2, 1 at lo
        g *= 0.5 - 0.5 * np.cos(np.pi * e)
    if hi < RATE / 2:
        e = np.clip(1 - np.log2(np.maximum(f, 1e-9) / hi) / 0.5, 0, 1)
        g *= 0.5 - 0.5 * np.cos(np.pi * e)
    return np.fft.irfft(np.fft.rfft(x) * g, len(x))


def _finish(x: np.ndarray, peak: float = 0.9, tail: float = 0.01) -> np.ndarray:
    """Normalise to `peak` and fade the last `tail` seconds to exact silence (no end click)."""
    n = int(tail * RATE)
    x = x.copy()
    x[-n:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, n))
    return x * (peak / np.max(np.abs(x)))


def kick() -> np.ndarray:
    """A sine falling from 160 Hz to 48 Hz, a long amplitude decay and a short click."""
    t = _t(0.45)
    freq = 48 + 112 * np.exp(-t / 0.035)
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    body = np.sin(phase) * np.exp(-t / 0.16)
    click = _band(np.random.default_rng(1).standard_normal(len(t)), 1500, 6000) * np.exp(-t / 0.003)
    x = np.tanh(1.6 * (body + 0.25 * click))
    attack = np.minimum(1, t / 0.0008)  # 0.8 ms so the first sample is not a jump
    return _finish(x * attack)


def snare() -> np.ndarray:
    """Two decaying tones (185, 330 Hz) under band-passed noise."""
    t = _t(0.3)
    tone = (np.sin(2 * np.pi * 185 * t) + 0.6 * np.sin(2 * np.pi * 330 * t)) * np.exp(-t / 0.05)
    noise = _band(np.random.default_rng(2).standard_normal(len(t)), 1200, 9000) * np.exp(-t / 0.075)
    attack = np.minimum(1, t / 0.0005)
    return _finish((0.7 * tone + 0.25 * noise) * attack)


def hat() -> np.ndarray:
    """Closed hat: six detuned square waves (808 style) plus noise, high-passed, 40 ms decay."""
    t = _t(0.12)
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0))
    noise = np.random.default_rng(3).standard_normal(len(t))
    x = _band(0.5 * metal + noise, 7000, 16000) * np.exp(-t / 0.04)
    attack = np.minimum(1, t / 0.0003)
    return _finish(x * attack)


def clap() -> np.ndarray:
    """Four noise bursts 11 ms apart, then a 90 ms tail, band-passed around 1-3 kHz."""
    t = _t(0.35)
    env = np.zeros_like(t)
    for k, start in enumerate((0.0, 0.011, 0.022, 0.033)):
        s = t - start
        env += np.where(s >= 0, np.exp(-np.maximum(s, 0) / (0.004 if k < 3 else 0.09)), 0.0)
    noise = np.random.default_rng(4).standard_normal(len(t))
    x = _band(noise * env, 900, 3200)
    attack = np.minimum(1, t / 0.0005)
    return _finish(x * attack)


SAMPLES = {"kick": kick, "snare": snare, "hat": hat, "clap": clap}


def write_wav(path: pathlib.Path, x: np.ndarray) -> None:
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def main(out: pathlib.Path = HERE) -> None:
    for name, make in SAMPLES.items():
        path = out / f"{name}.wav"
        write_wav(path, make())
        print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
