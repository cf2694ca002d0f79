"""The compiled tick (neurons/tickvm.py) against the tick in Python: the same machine run
both ways (`compiled_tick`) must agree sample for sample and output for output, over every
example patch and over random networks of the types it compiles, edited as they run
(weights written in place, glides, neurons replaced and removed, outputs gone non-finite)."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.io import wavfile

from dmmlive import DmmError, Machine
from dmmlive.core.plan import entries
from dmmlive.core.registry import TICK_VM
from dmmlive.neurons import tickvm
from dmmlive.neurons.control import set_knob
from dmmlive.patch.live import load

ROOT = Path(__file__).resolve().parents[2]
PATCHES = sorted((ROOT / "patches").glob("*.dmm"))


def pair(make):
    a, b = make(), make()
    b.compiled_tick = False
    return a, b


def dense(m):
    return {k: m._Y[k].copy() for k in ("number", "audio")}


def same(a, b):
    np.testing.assert_array_equal(a.sound(), b.sound())
    da, db = dense(a), dense(b)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    assert a.reports == b.reports
    sa, sb = a.state_of("out"), b.state_of("out")  # the sink's limiter and its count of non-finite samples
    assert (sa.get("nan"), sa["gain"]) == (sb.get("nan"), sb["gain"])
    assert a._rings.keys() == b._rings.keys()  # frame neurons' audio (a waveform's): the same samples
    for k, ring in a._rings.items():
        assert ring.pos == b._rings[k].pos
        np.testing.assert_array_equal(ring.buf, b._rings[k].buf, err_msg=str(k))


def both(a, b, n):
    """n ticks of both machines, the same after each."""
    for _ in range(n):
        a.tick()
        b.tick()
        same(a, b)


def ran_compiled(m) -> int:
    """How many operations the machine's compiled table holds (0: it ran in Python)."""
    p = m._program
    return len(p.ints) if p is not None and p.levels else 0


def test_the_compiled_tick_is_registered_with_the_neuron_library():
    assert TICK_VM["vm"] is tickvm


@pytest.mark.parametrize("path", PATCHES, ids=[p.stem for p in PATCHES])
def test_every_example_patch_ticks_the_same_compiled_and_in_python(path):
    a, b = pair(lambda: load(str(path), block=128))
    both(a, b, 300)
    assert ran_compiled(b) == 0
    if path.stem in ("bass", "bell", "drone", "drums", "schedules", "wave"):
        # every group of these runs in the table: the Python between holds singles only
        p = a._program
        assert ran_compiled(a) >= sum(len(lv.groups) for lv in a._plan.levels) > 0
        assert {kind for kind, _, _ in p.items} <= {0, 2, 3, 4}
    if path.stem == "demo":  # pictures drawing the sound (rings filled between two runs of the table)
        assert a._rings and ran_compiled(a) > 0


# (type, arguments): each type the table runs, and two it does not (a number type and an analyser)
TYPES = [("sine", {}), ("saw", {}), ("square", {}), ("tri", {}), ("phasor", {}), ("lowpass", {}),
         ("highpass", {}), ("bandpass", {}), ("delay", {"max": 0.01}), ("reverb", {}), ("ar", {}), ("adsr", {}),
         ("clock", {}), ("seq", {"values": [1.0, -2.0, 3.0]}), ("mul", {}), ("tanh", {}), ("clip", {}),
         ("noise", {}), ("noise", {"color": "pink"}), ("sum", {}), ("sample", {"file": "hat.wav"}),
         ("pan", {}), ("input", {"channel": 2}), ("knob", {"address": "/k", "lag": 0.01}),
         ("midicc", {"cc": 74}), ("midinote", {}), ("sum_kr", {}), ("rms", {}), ("sine_kr", {})]
NAMES = [f"n{i}" for i in range(6)]
WEIGHTS = [0.25, -0.5, 1.0, 3.0, 200.0, 1e30]  # (1e30: outputs that go non-finite, muted)


def audio_ports(m, name, output):
    d = m.pending_decls()[name]
    table = d.type.outputs if output else {p: x.kind for p, x in d.type.inputs.items()}
    return [(p, k) for p, k in table.items() if k in ("number", "audio")]


def links(m):
    decls = m.pending_decls()
    names = [n for n in decls if n in NAMES or n == "one"]
    out = []
    for dst in [n for n in names if n != "one"] + ["out"]:
        for inp, dk in (audio_ports(m, dst, False) if dst != "out" else [("left", "audio")]):
            for src in names:
                for o, sk in audio_ports(m, src, True):
                    if dk == sk or (dk == "audio" and sk == "number"):
                        out.append((dst, inp, src, o))
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), schedule=st.sampled_from(["ordered", "synchronous"]))
def test_random_networks_edited_as_they_run_tick_the_same_compiled_and_in_python(data, schedule):
    a, b = pair(lambda: Machine(schedule=schedule, block=64))
    for m in (a, b):  # the sound card's input: a ramp on channel 2 (the `input` neurons read it)
        m.before_tick.append(lambda m: m.audio_in.__setitem__(1, np.arange(64, dtype=np.float32) / 64 - m.t % 3))
    for _ in range(data.draw(st.integers(4, 24), label="ops")):
        op = data.draw(st.sampled_from(["declare", "declare", "link", "link", "link", "bump", "remove", "turn",
                                        "tick", "tick", "tick"]), label="op")
        fade = data.draw(st.sampled_from([0.0, 0.0, 64 / 48000, 300 / 48000]), label="fade")
        if op == "tick":
            both(a, b, data.draw(st.integers(1, 6), label="n"))
            continue
        pend = a.pending_matrix()
        if op == "turn":  # a knob turned from outside (OSC): its target written in place
            knobs = [n for n, t in a.neurons.items() if t == "knob"]
            if knobs:
                name, v = data.draw(st.sampled_from(knobs), label="knob"), data.draw(st.sampled_from([0.0, 0.9, 5.0]))
                for m in (a, b):
                    set_knob(m, name, v)
            continue
        if op == "declare":
            t, args = data.draw(st.sampled_from(TYPES), label="type")
            kw = dict(declare={data.draw(st.sampled_from(NAMES), label="name"): (t, args)}, fade=fade,
                      replace=True)
        elif op == "link":
            choices = links(a)
            if not choices:
                continue
            dst, inp, src, o = data.draw(st.sampled_from(choices), label="link")
            kw = dict(delta={dst: {inp: {src: {o: data.draw(st.sampled_from(WEIGHTS), label="w")}}}}, fade=fade)
        elif op == "bump":  # an entry the plan has: written in place (a fader)
            have = [e for e in entries(pend) if e[:2] != ("self", "delta")]
            if not have:
                continue
            dst, inp, src, o, w = data.draw(st.sampled_from(have), label="entry")
            kw = dict(delta={dst: {inp: {src: {o: data.draw(st.sampled_from([0.125, -0.25]), label="dw")}}}},
                      fade=fade)
        else:
            name = data.draw(st.sampled_from(NAMES), label="name")
            delta = {}
            for d, i, s, o, w in entries(pend):
                if name in (d, s) and d != "self":
                    delta.setdefault(d, {}).setdefault(i, {}).setdefault(s, {})[o] = -w
            if not delta:
                continue
            kw = dict(delta=delta, fade=fade)
        errs = []
        for m in (a, b):
            try:
                m.edit(**kw)
                errs.append(None)
            except DmmError as e:
                errs.append(str(e))
        assert errs[0] == errs[1]
    for m in (a, b):  # and one more of the table's neurons: whatever the network, a table runs
        m.edit(declare={"z": "sine"}, delta={"z": {"freq": {"one": {"out": 300.0}}},
                                             "out": {"left": {"z": {"out": 0.1}}}})
    both(a, b, 16)
    assert ran_compiled(a) > 0


def test_a_group_gone_non_finite_in_the_table_is_muted_and_reset_as_in_python():
    def make():
        m = Machine(block=64)
        m.apply({"m": {"a": {"one": {"out": 1e30}}, "b": {"one": {"out": 1.0}, "s": {"out": 1e30}}},
                 "s": {"freq": {"one": {"out": 440.0}}},
                 "f": {"in": {"s": {"out": 1.0}}, "cutoff": {"one": {"out": 800.0}}},
                 "out": {"left": {"m": {"out": 1.0}, "f": {"out": 0.5}}}},
                {"m": "mul", "s": "sine", "f": "lowpass"})
        return m
    a, b = pair(make)
    both(a, b, 40)
    assert ran_compiled(a) >= 3
    assert any("m (mul) output out went non-finite: muted and reset" in r for r in a.reports)
    assert np.all(a.output("m") == 0.0) and np.any(a.output("f") != 0.0)  # muted; the rest plays on


def test_a_sample_file_read_again_is_heard_from_the_compiled_tick_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rate = 48000
    wavfile.write("hit.wav", rate, np.linspace(1.0, 0.0, 4800).astype(np.float32))

    def make():
        m = Machine(block=64)
        m.apply({"k": {"trig": {"c": {"out": 1.0}}}, "c": {"bpm": {"one": {"out": 600.0}}},
                 "out": {"left": {"k": {"out": 1.0}}}},
                {"k": ("sample", {"file": "hit.wav"}), "c": "clock"})
        return m
    a, b = pair(make)
    both(a, b, 20)
    assert ran_compiled(a) >= 2
    epoch = tickvm.EPOCH[0]
    wavfile.write("hit.wav", rate, np.full(4800, -0.5, np.float32))
    Path("hit.wav").touch()
    for m in (a, b):  # a declaration checks the file: read again (a save does this)
        m.edit(declare={"k2": ("sample", {"file": "hit.wav"})}, delta={"out": {"left": {"k2": {"out": 0.0}}}})
    assert tickvm.EPOCH[0] > epoch
    heard = []
    for _ in range(120):
        both(a, b, 1)
        heard.append(a.output("k").copy())
    assert np.any(np.concatenate(heard) == np.float32(-0.5))  # the new samples, in both


def test_the_blocks_the_compiled_sink_hands_out_are_never_written_again():
    """`out`'s block is made in the table, the next of a run of 64 (tickvm.Sink): a block
    a reader keeps (the engine's ring writer, a recorder) stays as it was heard, across
    runs, and the limiter and the NaN guard act on it as in Python."""
    def make():
        m = Machine(block=64)
        m.apply({"s": {"freq": {"one": {"out": 220.0}}, "amp": {"one": {"out": 3.0}}},
                 "out": {"left": {"s": {"out": 1.0}}, "right": {"s": {"out": -0.5}}}}, {"s": "sine"})
        return m
    a, b = pair(make)
    kept, copies = [], []
    for _ in range(200):
        both(a, b, 1)
        kept.append(a.sound())
        copies.append(a.sound().copy())
    assert ran_compiled(a) >= 2 and len({id(x.base) for x in kept[-150:]}) >= 3  # (runs of blocks renewed)
    for x, y in zip(kept, copies):
        np.testing.assert_array_equal(x, y)
    assert a.state_of("out")["gain"] < 0.5 and np.abs(np.concatenate(kept)).max() <= 1.0  # limited


def test_knobs_turned_from_outside_glide_in_the_table_as_in_python():
    """knob (and midicc, midibend: the same one pole), midinote's rows and a named sum of
    numbers (sum_kr), in the table: a target written from outside between two ticks is
    followed as `toward_target` does."""
    def make():
        m = Machine(block=64)
        m.apply({"s": {"freq": {"kk": {"out": 400.0}, "n": {"freq": 1.0}}, "amp": {"c": {"out": 1.0}}},
                 "kk": {"in": {"k": {"out": 1.0}, "c": {"out": 0.5}}},
                 "out": {"left": {"s": {"out": 0.5}}}},
                {"s": "sine", "k": ("knob", {"address": "/k", "lag": 0.01}), "c": ("midicc", {"cc": 7}),
                 "n": "midinote", "kk": "sum_kr"})
        return m
    a, b = pair(make)
    for t in range(60):
        if t in (10, 30):
            for m in (a, b):
                set_knob(m, "k", 0.1 if t == 10 else 2.0)
                arrays, i = m.group_row("n")
                arrays["freq"][i] = 220.0 * (1 + t // 30)  # (a note played: the MIDI link writes its rows)
        a.tick()
        b.tick()
        same(a, b)
    assert ran_compiled(a) >= 5 and {k for k, _, _ in a._program.items} <= {0, 2, 4}  # no group in Python
    assert 1.9 < a.output("k") < 2.0  # (gliding toward 2.0)
