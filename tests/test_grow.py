"""Neurons the network creates: declarations written into self (a ":declare" section of a
ΔW), `clone`, `max_neurons`, dormant neurons a network-written link revives, and a log
of a growing set replayed sample for sample."""
import numpy as np
import pytest
from scipy.io import wavfile

import dmmlive
from dmmlive import Machine, vv
from dmmlive.app import build
from dmmlive.core.declare import declaration
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
GROW = open("patches/grow.dmm").read()


def cells(m):
    return sum(1 for n in m.neurons if n.startswith("cell"))


def test_clone_doubles_the_cells_each_second_up_to_its_max():
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "grow.dmm").apply(GROW, now=True)
    seen = {}
    for _ in range(2300):
        m.tick()
        seen.setdefault(cells(m), m.t)
    # clone fires every 375 ticks (t % 375 == 0); Self installs what it wrote the same tick
    assert seen == {1: 1, 2: 375, 4: 750, 8: 1125, 16: 1500}
    assert cells(m) == 16 and not m.reports
    W = m.matrix
    freqs = [vv.path(W, n, "freq", "one", "out") for n in m.neurons if n.startswith("cell")]
    # detuned copies: each by up to 0.6% from its original, four generations deep at most
    assert len(set(freqs)) == 16 and all(abs(f / 110 - 1) <= 1.006 ** 4 - 1 for f in freqs)
    assert all(vv.path(W, "mix", "in", n, "out") == 0.12 for n in m.neurons if n.startswith("cell"))
    assert np.abs(m.sound()).max() > 0.01  # heard


def test_declarations_beyond_max_neurons_are_refused_and_reported():
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "grow.dmm").apply(GROW.replace("max_neurons(64)", "max_neurons(10)"), now=True)
    m.tick(1600)
    # live: self, one, edits, out, screen, mix, c and the cells: 10 leaves room for 3 cells
    # the second doubling (2 -> 4) is refused past its first copy
    assert len(m.neurons) == 10 and cells(m) == 3
    assert any("max_neurons (10) reached" in r for r in m.reports)


def test_a_network_declares_a_neuron_through_self_and_links_it():
    m = Machine(rate=RATE, block=B)
    d = {**declaration("v", "sine"), "v": {"freq": {"one": {"out": 330.0}}},
         "out": {"left": {"v": {"out": 0.25}}}}
    m.add("w", "pulse", value=d, period=100.0, phase=2 * B / RATE)  # fires at tick 2
    m.connect("self.delta", "w.out", 1.0)
    m.tick(2)
    assert m.neurons["v"] == "sine"   # declared by Self at the end of tick 2 (ordered)
    m.tick(2)
    assert m.neurons["v"] == "sine" and "v" in m.active
    assert vv.path(m.matrix, "out", "left", "v", "out") == 0.25
    assert np.abs(m.sound()[:, 0]).max() > 0.1


def test_a_retired_neuron_stays_dormant_and_a_network_written_link_revives_it_fresh():
    m = Machine(rate=RATE, block=B)
    m.add("c", "timer")
    m.connect("c.timer", "c.timer")
    cut = {"c": {"timer": {"c": {"timer": -1.0}}}}
    back = {"c": {"timer": {"c": {"timer": 1.0}}}}
    m.add("p1", "pulse", value=cut, period=100.0, phase=10 * B / RATE)
    m.add("p2", "pulse", value=back, period=100.0, phase=20 * B / RATE)
    m.connect("self.delta", "p1.out")
    m.connect("self.delta", "p2.out")
    got = []
    for _ in range(30):
        m.tick()
        got.append((m.t, "c" in m.neurons, "c" in m.dormant, vv.scalar(m.output("c", "timer"))))
    at = {t: (live, dormant, x) for t, live, dormant, x in got}
    assert at[9][0] and at[9][2] > 5
    assert not at[15][0] and at[15][1] and at[15][2] == 0.0        # dormant: declared, state freed
    assert at[25][0] and not at[25][1] and 0 < at[25][2] <= 6      # revived, counting afresh
    assert not any("no neuron" in r for r in m.reports)


def test_a_log_of_a_growing_set_replays_sample_for_sample(tmp_path):
    patch, log = tmp_path / "grow.dmm", tmp_path / "grow.dmmlog"
    patch.write_text(GROW)
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log))
    m = host.machine
    sound = []
    for t in range(1200):
        if t == 500:  # a save while it grows
            host.apply_text(GROW.replace("cutoff=1800", "cutoff=1200"), str(patch))
        host.tick()
        sound.append(m.sound().copy())
    host.log.close(m.t)
    assert cells(m) == 8
    rate, data = wavfile.read(dmmlive.render(log, tmp_path / "again.wav"))
    np.testing.assert_array_equal(data, np.concatenate(sound))


def test_clone_checks_its_arguments():
    m = Machine(rate=RATE, block=B)
    with pytest.raises(dmmlive.BadArgument, match="prefix must be"):
        m.add("c", "clone", prefix="a.b")
    with pytest.raises(dmmlive.BadArgument, match="max must be"):
        m.add("c", "clone", max=0)
