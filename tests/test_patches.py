"""The example patches: every patches/*.dmm checks, renders sound that is sane and repeatable,
and the examples show what their comments say they show."""
from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest
from scipy import signal
from scipy.io import wavfile

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.cli import main
from dmmlive.patch.live import load, open_patch
from dmmlive.patch.parse import parse
from dmmlive.render import render

PATCHES = sorted((Path(__file__).resolve().parents[1] / "patches").glob("*.dmm"))
RATE = 48000
SECONDS = 2.0
FLOOR = 0.02  # RMS of each channel over the render: about -34 dBFS


def ids(p):
    return p.stem


def has_screen(path) -> bool:
    return any(dst == "screen" for dst, _ in parse(Path(path).read_text(), str(path)).rows)


def sound(path, seconds=SECONDS) -> np.ndarray:
    """(frames, 2) float64: the machine of the patch ticked by hand."""
    m = load(path, size=(64, 36))
    n = int(round(seconds * m.rate))
    blocks = []
    while sum(len(b) for b in blocks) < n:
        m.tick()
        blocks.append(m.sound().copy())
    return np.concatenate(blocks)[:n].astype(np.float64)


def test_there_are_example_patches():
    assert len(PATCHES) >= 7 and {"demo", "bass", "schedules", "wave"} <= {p.stem for p in PATCHES}


# ---- every patch ----------------------------------------------------------------------------
@pytest.mark.parametrize("patch", PATCHES, ids=ids)
def test_check_passes(patch, capsys):
    assert main(["check", str(patch)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"{patch}: ok: ")


@pytest.mark.parametrize("patch", PATCHES, ids=ids)
def test_render_is_sound_finite_bounded_and_deterministic(patch, tmp_path):
    a = render(str(patch), tmp_path / "a.wav", SECONDS, size=(64, 36))
    b = render(str(patch), tmp_path / "b.wav", SECONDS, size=(64, 36))
    assert a.read_bytes() == b.read_bytes()
    rate, x = wavfile.read(a)
    assert rate == RATE and x.dtype == np.float32 and x.shape == (int(SECONDS * RATE), 2)
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= 1.0
    rms = np.sqrt((x.astype(np.float64) ** 2).mean(axis=0))
    assert (rms > FLOOR).all(), rms
    # sound all the way through, not only a burst at the start
    for half in (x[: len(x) // 2], x[len(x) // 2:]):
        assert np.sqrt((half.astype(np.float64) ** 2).mean()) > FLOOR / 2


@pytest.mark.parametrize("patch", [p for p in PATCHES if has_screen(p)], ids=ids)
def test_pictures_are_not_black_and_move(patch, tmp_path):
    render(str(patch), tmp_path / "f.png", 1.0, size=(64, 36), fps=10)
    pics = []
    for i in range(10):
        with av.open(str(tmp_path / f"f_{i:05d}.png")) as c:
            pics.append(next(c.decode(video=0)).to_ndarray(format="rgb24"))
    assert all(p.shape == (36, 64, 3) for p in pics)
    assert all(p.max() > 64 and p.mean() > 16 for p in pics), [(p.max(), p.mean()) for p in pics]
    assert len({p.tobytes() for p in pics}) == 10


def test_demo_has_a_screen():
    assert has_screen(next(p for p in PATCHES if p.stem == "demo"))


# ---- bass.dmm: the notes of its sequencer ---------------------------------------------------
def test_bass_plays_its_notes_step_by_step():
    """Each sixteenth-note step (120 bpm: 0.125 s) is best explained by the note its sequencer
    holds: the harmonic sum of the spectrum (fundamental and 4 harmonics: the saw) picks it
    out of the sequence's notes, even with the echo of a note three steps back beneath."""
    patch = next(p for p in PATCHES if p.stem == "bass")
    notes = [55, 55, 82.41, 55, 73.42, 55, 98, 65.41]
    assert "values=[55, 55, 82.41, 55, 73.42, 55, 98, 65.41]" in patch.read_text()
    x = sound(patch)[:, 0]
    step, nfft = RATE // 8, 1 << 17
    f = np.fft.rfftfreq(nfft, 1 / RATE)
    candidates = sorted(set(notes))
    for k in range(16):
        seg = x[k * step:(k + 1) * step]
        spec = np.abs(np.fft.rfft(seg * np.hanning(step), nfft))
        score = {c: sum(np.log(np.interp(h * c, f, spec)) for h in range(1, 6)) for c in candidates}
        assert max(score, key=score.get) == notes[k % 8], (k, score)
        if k < 5:  # before the echo of another note arrives, the spectral peak is the note itself
            band = (f > 52) & (f < 105)
            assert abs(f[band][np.argmax(spec[band])] - notes[k]) < 1.0, k


# ---- schedules.dmm: ordered is phase-aligned, synchronous combs -----------------------------
def schedules_text(schedule: str, dry_and_lowpass_only: bool = False) -> str:
    text = next(p for p in PATCHES if p.stem == "schedules").read_text()
    assert 'schedule("ordered")' in text
    text = text.replace('schedule("ordered")', f'schedule("{schedule}")')
    if dry_and_lowpass_only:  # the two paths of one source, without the echo
        text, n = re.subn(r"^out\s*=.*$", "out  = 0.45*hit + 0.45*body", text, flags=re.M)
        assert n == 1
    return text


def psd(tmp_path, text, name):
    p = tmp_path / f"{name}.dmm"
    p.write_text(text)
    f, pxx = signal.welch(sound(p)[:, 0], fs=RATE, nperseg=4096)
    return f, pxx


def test_schedules_sounds_different_ordered_and_synchronous(tmp_path):
    a = tmp_path / "o.dmm"
    b = tmp_path / "s.dmm"
    a.write_text(schedules_text("ordered"))
    b.write_text(schedules_text("synchronous"))
    assert open_patch(a).patch.settings["schedule"] == "ordered"
    assert open_patch(b).patch.settings["schedule"] == "synchronous"
    x, y = sound(a), sound(b)
    assert np.abs(x - y).max() > 0.1
    assert np.sqrt(((x - y) ** 2).mean()) > 0.2 * np.sqrt((x ** 2).mean())


def test_schedules_synchronous_combs_the_dry_and_lowpass_sum(tmp_path):
    """The same noise reaches out dry and through a lowpass. Against the dry path alone
    (same seeded noise, so the ratio of long-term spectra is the paths' transfer function):
    ordered, the sum has no notch; synchronous, the lowpass path arrives one block (128
    samples) late and the sum has notches about 375 Hz apart (bent a little lower by the
    lowpass's own phase) where the delayed path cancels the dry one."""
    dry = schedules_text("ordered", True).replace("out  = 0.45*hit + 0.45*body", "out  = 0.9*hit")
    f, p_dry = psd(tmp_path, dry, "dry")
    _, p_ord = psd(tmp_path, schedules_text("ordered", True), "ordered")
    _, p_syn = psd(tmp_path, schedules_text("synchronous", True), "synchronous")
    band = (f > 50) & (f < 1600)
    fb = f[band]
    r_ord = 10 * np.log10(p_ord[band] / p_dry[band])
    r_syn = 10 * np.log10(p_syn[band] / p_dry[band])
    # ordered: |0.5 + 0.5*H_lowpass|^2, the lowpass's smooth roll-off: no notch anywhere
    assert np.diff(r_ord).max() < 0.1, np.diff(r_ord).max()
    assert r_ord[fb < 1000].min() > -3.0, r_ord.min()
    # synchronous: deep notches, evenly spaced
    notches = [i for i in signal.argrelmin(r_syn, order=5)[0] if r_syn[i] < -10.0]
    freqs = fb[notches]
    assert len(freqs) >= 4, freqs
    assert abs(freqs[0] - 187.5) < 30, freqs                 # the first: half the comb spacing
    spacing = np.diff(freqs)
    assert ((spacing > 300) & (spacing < 400)).all(), freqs
    assert abs(spacing.mean() - 375) < 40, freqs
    # between the notches the two paths add up as they do ordered: a comb, not a cut
    peaks = [i for i in signal.argrelmax(r_syn, order=5)[0] if fb[i] < 1000]
    assert len(peaks) >= 2
    assert all(abs(r_syn[i] - r_ord[i]) < 3.0 for i in peaks), [(fb[i], r_syn[i], r_ord[i]) for i in peaks]


# ---- wave.dmm: the network moves its own output weight --------------------------------------
def test_wave_moves_the_output_weight_round_a_b_c():
    patch = next(p for p in PATCHES if p.stem == "wave")
    m = load(patch)
    seen = []
    for seconds in (0.1, 0.6, 1.1, 1.6, 2.1, 2.6):
        m.tick(int(round(seconds * m.rate / m.block)) - m.t)
        W = m.matrix["out"]
        assert W["left"] == W["right"]
        seen.append({k: round(v["out"], 9) for k, v in W["left"].items()})
    assert seen == [{"a": 0.2}, {"b": 0.2}, {"c": 0.2}, {"a": 0.2}, {"b": 0.2}, {"c": 0.2}]


def test_wave_sound_follows_the_weight():
    """The loudest frequency of each half second is the voice the weight is on."""
    patch = next(p for p in PATCHES if p.stem == "wave")
    x = sound(patch, 1.5)[:, 0]
    n = 12000  # 0.25 s from the middle of each half second
    for start, freq in ((0.125, 220.0), (0.625, 277.18), (1.125, 329.63)):
        seg = x[int(start * RATE):int(start * RATE) + n]
        spec = np.abs(np.fft.rfft(seg * np.hanning(n), 1 << 18))
        peak = np.argmax(spec) * RATE / (1 << 18)
        assert abs(peak - freq) < 1.0, (start, peak)
        assert np.sqrt((seg ** 2).mean()) == pytest.approx(0.2 / np.sqrt(2), rel=0.02)
