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


def _section(n, type_name="sine", args=None):
    sec = {}
    for i in range(n):
        sec.update(declaration(f"n{i}", type_name, args)[":declare"])
    return sec


def test_a_section_the_cap_refuses_every_tick_costs_no_tick_its_time():
    """A `const` writing a 2,000-name ":declare" section into self every tick, under
    max_neurons(20): 20 live neurons, one report, and the section, unchanged, is neither
    parsed nor checked again. The timing is a generous bound only (speed belongs to the
    benchmarks): the median tick under the block's 2.67 ms, where it was 28 ms before."""
    import time
    m = Machine(rate=RATE, block=B)
    m.max_neurons = 20
    m.add("w", "const", value={":declare": _section(2000)})
    m.connect("self.delta", "w.out", 1.0)
    m.tick(5)
    took = []
    for _ in range(200):
        t0 = time.perf_counter()
        m.tick()
        took.append(time.perf_counter() - t0)
    # the built-ins self, one, edits, out, screen and w, and 14 sines: the first 14 named
    assert len(m.neurons) == 20 and {n for n in m.neurons if n.startswith("n")} == {f"n{i}" for i in range(14)}
    assert list(m.reports) == ["w declared 'n14': refused, max_neurons (20) reached"]
    assert np.median(took) < B / RATE


def test_a_burst_of_declarations_is_installed_a_bounded_number_a_tick_in_order():
    from dmmlive.core.edits import NET_DECLARE_PER_TICK as K
    assert K == 16
    n = 40
    d = {":declare": _section(n), "out": {"left": {f"n{i}": {"out": 0.01} for i in range(n)}}}
    m = Machine(rate=RATE, block=B)
    m.add("w", "pulse", value=d, period=100.0, phase=2 * B / RATE)  # fires once, at tick 2
    m.connect("self.delta", "w.out", 1.0)
    m.tick(1)
    got = []
    for _ in range(5):
        m.tick()
        got.append(sorted(int(x[1:]) for x in m.neurons if x.startswith("n")))
    # 16 at tick 2 (with the ΔW that declared them), 16 at tick 3, the last 8 at tick 4
    assert got[:3] == [list(range(16)), list(range(32)), list(range(40))] and got[4] == got[2]
    W = m.matrix
    assert all(W[f"n{i}"] == {"freq": {"one": {"out": 220.0}}, "amp": {"one": {"out": 1.0}}}
               for i in range(n))  # a sine's defaults, as an edit gives them
    assert all(vv.path(W, "out", "left", f"n{i}", "out") == 0.01 for i in range(n))
    assert {f"n{i}" for i in range(n)} <= set(m.active) and not m.reports  # no "no neuron" on the way
    # heard: every one of the 40, at 0.01 (past the 5 ms netfade of the links)
    m.tick(10)
    outs = [np.asarray(m.output(f"n{i}", "out")) for i in range(n)]
    assert all(np.abs(o).max() > 0.9 for o in outs)
    np.testing.assert_allclose(m.sound()[:, 0], 0.01 * np.sum(outs, axis=0), atol=1e-6)


def test_a_name_live_as_something_else_is_refused_once_and_kept():
    m = Machine(rate=RATE, block=B)
    m.add("a", "sine")
    m.add("d", "delay", max=2.0)
    sec = {**declaration("a", "saw")[":declare"], **declaration("d", "delay", {"max": 4.0})[":declare"],
           **declaration("a b", "sine")[":declare"]}
    m.add("w", "const", value={":declare": sec})
    m.connect("self.delta", "w.out", 1.0)
    m.tick(20)
    assert m.neurons["a"] == "sine" and m.declaration("d").args["max"] == 2.0 and "a b" not in m.neurons
    assert sorted(m.reports) == [
        "w declared 'a b': refused, bad neuron name 'a b': a non-empty string without '.' or spaces, "
        "not starting with ':' (W's sections: ':declare')",
        "w declared 'a' as saw: refused, it is a sine",
        "w declared 'd' as delay: refused, it is a delay with other arguments"]


def test_declarations_waiting_their_turn_are_in_a_snapshot():
    d = {":declare": _section(40), "out": {"left": {f"n{i}": {"out": 0.01} for i in range(40)}}}
    m = Machine(rate=RATE, block=B)
    m.add("w", "pulse", value=d, period=100.0, phase=2 * B / RATE)
    m.connect("self.delta", "w.out", 1.0)
    m.tick(2)  # 16 in, 24 waiting
    again = Machine.restore(m.snapshot())
    for x in (m, again):
        x.tick(4)
    assert sum(n.startswith("n") for n in again.neurons) == 40 and again.neurons == m.neurons
    np.testing.assert_array_equal(again.sound(), m.sound())


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


def test_self_decls_shows_every_live_declaration_as_it_changes():
    """`self.decls` (read by a network: here an identity neuron fed by it) is {name: {type:
    {args: 1.0}}} of the live declarations, made again at each compile: a declaration
    replaced with other arguments shows its new ones, a new one is there (each piece is
    kept per declaration between compiles: core/declare.py)."""
    m = Machine(rate=RATE, block=B)
    m.add("look", "identity")
    m.connect("look.x", "self.matrix", 1.0)  # (a row that reads Self's outputs: they are made)
    m.connect("look.y", "self.decls", 1.0)
    m.apply({"a": {"freq": {"one": {"out": 220.0}}}, "out": {"left": {"a": {"out": 0.1}}}},
            {"a": "sine", "d": ("delay", {"max": 0.5})})
    m.tick(2)
    got = m.output("look", "y")
    assert got["a"] == {"sine": {"{}": 1.0}} and got["d"] == {"delay": {'{"max":0.5}': 1.0}}
    m.edit(declare={"d": ("delay", {"max": 1.0}), "b": ("saw", {})}, replace=True)
    m.tick(4)
    got = m.output("look", "y")
    assert got["d"] == {"delay": {'{"max":1.0}': 1.0}} and got["b"] == {"saw": {"{}": 1.0}}
    assert got["a"] == {"sine": {"{}": 1.0}}


def test_a_bad_name_refused_does_not_refuse_a_good_one_declared_alike():
    """Names declared with one type and arguments share one check of them; a name's own
    check stays its own: 'a b' refused, 'c' (a sine too, in the same section) installed."""
    m = Machine(rate=RATE, block=B)
    d = vv.add(declaration("a b", "sine"), declaration("c", "sine"))
    d = {**d, "c": {"freq": {"one": {"out": 330.0}}}, "out": {"left": {"c": {"out": 0.2}}}}
    m.add("w", "pulse", value=d, period=100.0, phase=2 * B / RATE)
    m.connect("self.delta", "w.out", 1.0)
    m.tick(6)
    assert m.neurons.get("c") == "sine" and "a b" not in m.neurons
    assert [r for r in m.reports if "declared" in r] == [
        "w declared 'a b': refused, bad neuron name 'a b': a non-empty string without '.' or spaces, "
        "not starting with ':' (W's sections: ':declare')"]
