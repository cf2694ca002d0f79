"""The `sample` player and the synthesised drum samples in assets/."""
import os
import pathlib

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

import dmmlive
from dmmlive import BadArgument, Machine
from dmmlive.neurons import sampler
from .signals import SIGNALS, TYPES, signal  # noqa: F401  (the shared test source)

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
RATE, B = 48000, 128


def pulses(name, length, at, width=1):
    """A trigger signal: 1 for `width` samples at each index in `at`, else 0."""
    x = np.zeros(length, np.float32)
    for a in at:
        x[a:a + width] = 1.0
    SIGNALS[name] = x
    return name


def wav(name):
    rate, data = wavfile.read(ASSETS / name)
    assert rate == RATE and data.dtype == np.int16
    return data.astype(np.float32) / 32768


def run(m, name, ticks):
    out = []
    for _ in range(ticks):
        m.tick()
        out.append(m.output(name))
    return np.concatenate(out)


def machine(trig, block=B, **args):
    m = Machine(rate=RATE, block=block, types=TYPES)
    m.add("src", "test_signal", signal=trig)
    m.add("s", "sample", **args)
    m.connect("s.trig", "src")
    return m


def test_trigger_plays_the_file_from_the_trigger_sample_exactly():
    kick = wav("kick.wav")
    at = 300  # inside the third block
    m = machine(pulses("one300", 30000, [at]), file="kick.wav")
    y = run(m, "s", 200)
    assert np.all(y[:at] == 0)
    np.testing.assert_array_equal(y[at:at + len(kick)], kick)
    assert np.all(y[at + len(kick):] == 0)


def test_default_file_is_the_kick():
    m = machine(pulses("zero", 100, [0]))
    np.testing.assert_array_equal(run(m, "s", 2), wav("kick.wav")[:2 * B])


def test_rate_two_plays_twice_as_fast():
    snare = wav("snare.wav")
    m = machine(pulses("one10", 30000, [10]), file="snare.wav")
    m.connect("s.rate", "one", 2.0)
    y = run(m, "s", 100)
    played = y[10:]
    n = (len(snare) + 1) // 2
    np.testing.assert_array_equal(played[:n], snare[::2])
    assert np.all(played[n:] == 0)


def test_rate_half_interpolates_linearly():
    hat = wav("hat.wav")
    m = machine(pulses("zero", 100, [0]), file="hat.wav")
    m.connect("s.rate", "one", 0.5)
    y = run(m, "s", 2 * len(hat) // B + 2)
    np.testing.assert_array_equal(y[0:2 * len(hat):2], hat)
    mid = (hat[:-1].astype(np.float64) + hat[1:]) / 2
    np.testing.assert_allclose(y[1:2 * len(hat) - 2:2], mid, atol=1e-7)
    assert y[2 * len(hat) - 1] == pytest.approx(hat[-1] / 2, abs=1e-7)  # towards silence past the end
    assert np.all(y[2 * len(hat):] == 0)


def test_retrigger_restarts_from_the_start():
    clap = wav("clap.wav")
    a, b = 50, 5000
    m = machine(pulses("two", 40000, [a, b]), file="clap.wav")
    y = run(m, "s", 200)
    np.testing.assert_array_equal(y[a:b], clap[:b - a])
    np.testing.assert_array_equal(y[b:b + len(clap)], clap)
    assert np.all(y[b + len(clap):] == 0)


def test_only_rising_edges_through_zero_trigger():
    hat = wav("hat.wav")
    SIGNALS["gate"] = np.concatenate([np.zeros(20), np.full(3000, 0.7), np.full(4000, 0.2),
                                      np.full(100, -0.5), np.full(10, 1.0)]).astype(np.float32)
    m = machine("gate", file="hat.wav")
    y = run(m, "s", 80)
    np.testing.assert_array_equal(y[20:20 + len(hat)], hat)   # held high: one trigger
    assert np.all(y[20 + len(hat):7120] == 0)                  # 0.7 -> 0.2 is no edge
    np.testing.assert_array_equal(y[7120:7120 + 2000], hat[:2000])  # -0.5 -> 1.0 is one


def test_amp_scales():
    kick = wav("kick.wav")
    m = machine(pulses("zero", 100, [0]), file="kick.wav")
    m.connect("s.amp", "one", 0.5)
    np.testing.assert_array_equal(run(m, "s", 10), kick[:10 * B] * np.float32(0.5))


def test_a_group_plays_each_neuron_from_its_own_trigger():
    kick = wav("kick.wav")
    m = Machine(rate=RATE, block=B, types=TYPES)
    for k, at in enumerate([0, 129, 1000]):
        m.add(f"src{k}", "test_signal", signal=pulses(f"at{at}", 30000, [at]))
        m.add(f"s{k}", "sample", file="kick.wav")
        m.connect(f"s{k}.trig", f"src{k}")
    ys = [[] for _ in range(3)]
    for _ in range(200):
        m.tick()
        for k in range(3):
            ys[k].append(m.output(f"s{k}"))
    for k, at in enumerate([0, 129, 1000]):
        y = np.concatenate(ys[k])
        assert np.all(y[:at] == 0)
        np.testing.assert_array_equal(y[at:at + len(kick)], kick)


def test_block_size_does_not_change_the_sound():
    trig = pulses("blocks", 20000, [7, 3000, 3333])
    y64 = run(machine(trig, block=64, file="snare.wav"), "s", 20000 // 64)
    y512 = run(machine(trig, block=512, file="snare.wav"), "s", 20000 // 512 + 1)
    np.testing.assert_array_equal(y64, y512[:len(y64)])


def test_stereo_file_at_another_rate_is_mixed_down_and_resampled(tmp_path):
    rng = np.random.default_rng(0)
    left, right = (rng.uniform(-0.5, 0.5, 2400) * 32767).astype(np.int16), np.zeros(2400, np.int16)
    path = tmp_path / "stereo.wav"
    wavfile.write(path, 24000, np.stack([left, right], axis=1))
    mono = (left.astype(np.float64) / 32768 + right / 32768) / 2
    want = resample_poly(mono, 2, 1)
    m = machine(pulses("zero", 100, [0]), file=str(path))
    y = run(m, "s", len(want) // B + 2)
    assert len(want) == 4800
    np.testing.assert_allclose(y[:4800], want, atol=1e-6)
    assert np.all(y[4800:] == 0)


@pytest.mark.parametrize("dtype,scale", [(np.float32, 1.0), (np.int32, 2.0 ** 31), (np.uint8, None)])
def test_sample_formats(tmp_path, dtype, scale):
    x = np.linspace(-0.9, 0.9, 500)
    if dtype is np.uint8:
        data = np.round(x * 127 + 128).astype(np.uint8)
        want = (data.astype(np.float64) - 128) / 128
    else:
        data = (x * scale).astype(dtype)
        want = data / scale
    path = tmp_path / "fmt.wav"
    wavfile.write(path, RATE, data)
    y = run(machine(pulses("zero", 100, [0]), file=str(path)), "s", 4)
    np.testing.assert_allclose(y[:500], want, atol=1e-7)
    assert np.all(y[500:] == 0)


def test_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    wavfile.write(tmp_path / "mine.wav", RATE, np.full(10, 0.25, np.float32))
    monkeypatch.chdir(tmp_path)
    m = machine(pulses("zero", 100, [0]), file="mine.wav")
    np.testing.assert_array_equal(run(m, "s", 1)[:11], [0.25] * 10 + [0.0])
    m = machine(pulses("zero", 100, [0]), file="kick.wav")  # not here: found in assets/
    np.testing.assert_array_equal(run(m, "s", 1), wav("kick.wav")[:B])


def test_a_missing_file_names_its_path():
    m = Machine(rate=RATE, block=B)
    with pytest.raises(BadArgument) as e:
        m.add("s", "sample", file="nope.wav")
    assert str(e.value) == (f"sample: cannot read {str(ASSETS / 'nope.wav')!r}: no such file "
                            f"(a name is looked for in the working directory, then in {str(ASSETS)!r})")
    with pytest.raises(BadArgument, match="nope.wav"):
        m.edit(declare={"s": ("sample", {"file": "nope.wav"})})
    assert "s" not in m.neurons


def test_an_unreadable_file_names_its_path(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"this is not a wave file at all")
    with pytest.raises(BadArgument) as e:
        Machine(rate=RATE, block=B).add("s", "sample", file=str(path))
    assert str(e.value).startswith(f"sample: cannot read {str(path)!r}: not a readable WAV file (")


def test_a_bad_file_argument():
    with pytest.raises(BadArgument, match=r"sample: file must be a path to a WAV file, got 3"):
        Machine(rate=RATE, block=B).add("s", "sample", file=3)


def test_a_file_changed_on_disk_is_read_again_by_a_new_declaration(tmp_path):
    path = tmp_path / "changing.wav"
    wavfile.write(path, RATE, np.full(4, 0.5, np.float32))
    m = machine(pulses("zero", 100, [0]), file=str(path))
    assert run(m, "s", 1)[0] == 0.5
    wavfile.write(path, RATE, np.full(4, -0.25, np.float32))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    m = machine(pulses("zero", 100, [0]), file=str(path))
    assert run(m, "s", 1)[0] == -0.25


def test_a_file_gone_before_the_first_tick_mutes_and_reports(tmp_path):
    path = tmp_path / "gone.wav"
    wavfile.write(path, 44100, np.full(4, 0.5, np.float32))
    m = machine(pulses("zero", 100, [0]), file=str(path))  # checked here
    path.unlink()
    assert np.all(run(m, "s", 2) == 0)  # the music goes on
    assert any(str(path) in r and "no such file" in r for r in m.reports), list(m.reports)


def test_help_text():
    t = dmmlive.TYPES["sample"]
    assert list(t.inputs) == ["trig", "rate", "amp"] and list(t.outputs) == ["out"]
    assert (t.inputs["rate"].default, t.inputs["amp"].default) == (1.0, 1.0)
    assert t.args == {"file": "kick.wav"}
    assert "rising edge" in t.doc.splitlines()[0]
    assert 'sample(clock(bpm=120), file="kick.wav"' in t.doc


# ---- the synthesised assets ------------------------------------------------------------

@pytest.mark.parametrize("name", ["kick", "snare", "hat", "clap"])
def test_assets_are_small_mono_48k_16bit(name):
    path = ASSETS / f"{name}.wav"
    rate, data = wavfile.read(path)
    assert rate == 48000 and data.dtype == np.int16 and data.ndim == 1
    assert len(data) < rate and path.stat().st_size < 64 * 1024
    assert 0.5 < np.abs(data).max() / 32768 < 1.0
    assert data[0] == 0 and data[-1] == 0  # no click at either end


def test_assets_character():
    def centroid(name):
        x = wav(name).astype(np.float64)
        p = np.abs(np.fft.rfft(x)) ** 2
        return np.sum(np.fft.rfftfreq(len(x), 1 / RATE) * p) / np.sum(p)
    c = {n: centroid(f"{n}.wav") for n in ["kick", "snare", "clap", "hat"]}
    assert c["kick"] < 200 < c["snare"] and c["clap"] < 4000 < 7000 < c["hat"]


def test_make_samples_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_samples", ASSETS / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for name in ["kick", "snare", "hat", "clap"]:
        assert (tmp_path / f"{name}.wav").read_bytes() == (ASSETS / f"{name}.wav").read_bytes(), name


def test_the_player_resolves_assets_from_the_package():
    assert sampler.ASSETS == ASSETS
