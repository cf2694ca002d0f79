"""Slow neurons: a V-value or number neuron given `every=k` fires every k ticks (on ticks
that are multiples of k) and holds its outputs between; what it writes into Self is added
once per firing, so a research network runs on its own clock, exact, inside a patch whose
sound runs every tick."""
import pytest

from dmmlive import DmmError, Machine, examples as ex, vv
from dmmlive.patch.live import load


def slow_wave(every, schedule="synchronous", n=3):
    """The wave in the matrix (dmmlive.examples.wave) with its update neurons slow."""
    m = Machine(schedule=schedule, types=ex.TYPES)
    for k in range(1, n + 1):
        name, nxt = f"update-{k}", f"update-{k % n + 1}"
        m.add(name, "identity", every=every)
        m.connect(f"{name}.x", f"{name}.x", 1.0)
        m.set_output(name, "x", {"self": {"delta": {name: {"x": -1.0}, nxt: {"x": 1.0}}}})
    m.connect("self.delta", "update-1.x", 1.0)
    return m


@pytest.mark.parametrize("schedule,first", [("synchronous", 11), ("ordered", 10)])
def test_the_wave_at_every_10_goes_round_with_period_30(schedule, first):
    m = slow_wave(10, schedule)
    held = []
    for t in range(1, 72):
        m.tick()
        held.append(ex.wave_row(m)[0][0])
    # the link moves once per firing: the tick after it (synchronous), or the same (ordered)
    want = ["update-1"] * (first - 1)
    for j in range(8):
        want += [f"update-{(j + 1) % 3 + 1}"] * 10
    assert held == want[:71]
    # a change every 10 ticks: round the three in 30
    assert [t + 2 for t in range(70) if held[t] != held[t + 1]] == [first + 10 * j for j in range(7) if first + 10 * j <= 71]


def test_at_every_1_the_wave_is_the_authors_period_3():
    m = slow_wave(1)
    assert [(m.tick(), ex.wave_row(m)[0][0])[1] for _ in range(6)] == ["update-2", "update-3", "update-1"] * 2


def test_a_held_output_is_read_unchanged_between_firings_and_keeps_its_hertz(tmp_path):
    f = tmp_path / "p.dmm"
    f.write_text("fast = sine_kr(freq=3)\nslow = sine_kr(freq=3, every=5)\nhz = sine_kr(freq=3, hz=75)\n"
                 "out = 0.1*sine(freq=220 + 10*fast + 10*slow + 10*hz)\n")
    m = load(str(f))
    assert m.declaration("slow").every == 5 and m.declaration("hz").every == 5   # 375 ticks/s / 75 Hz
    fast, slow = [], []
    for _ in range(40):
        m.tick()
        fast.append(m.output("fast"))
        slow.append(m.output("slow"))
    for t in range(1, 41):   # tick t: the slow one fired at the last multiple of 5
        k = t - t % 5
        # held; in Hz: its phase steps 5 ticks a firing (one addition for five: the last bit may differ)
        assert slow[t - 1] == pytest.approx(fast[k - 5] if k else 0.0, rel=1e-12, abs=1e-15), t
    assert len(set(slow[4:9])) == 1 and slow[9] != slow[8]   # unchanged between firings, to the bit


def test_every_is_refused_where_it_cannot_apply():
    m = Machine()
    for args, why in [({"every": 0}, "every must be a whole number of ticks >= 1, got 0"),
                      ({"every": 2.5}, "every must be a whole number of ticks >= 1"),
                      ({"hz": -1.0}, "hz must be firings a second > 0"),
                      ({"every": 2, "hz": 10.0}, "give every= or hz=, not both")]:
        with pytest.raises(DmmError, match=why):
            m.add("x", "sine_kr", **args)
    with pytest.raises(DmmError, match="every= and hz= are for V-value and number neurons"):
        m.add("y", "sine", every=4)
    assert vv.path(m.matrix, "x") == {}
