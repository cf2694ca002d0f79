"""The authors' published examples, to the tick, on the synchronous schedule."""
import pytest

from dmmlive import Machine, vv
from dmmlive import examples as ex


def test_wave_in_the_matrix_goes_round_with_period_3():
    m = ex.wave()
    expect = ["update-2", "update-3", "update-1"]
    for t in range(1, 13):
        m.tick()
        assert ex.wave_row(m) == [(expect[(t - 1) % 3], 1.0)], f"after up movement {t}"
        assert vv.path(m.matrix, "self", "delta", "edits", "delta") == 1.0


def test_wave_with_five_neurons_has_period_5():
    m = ex.wave(5)
    seen = []
    for _ in range(10):
        m.tick()
        seen.append(ex.wave_row(m)[0][0])
    assert seen == [f"update-{k}" for k in (2, 3, 4, 5, 1, 2, 3, 4, 5, 1)]


def test_list_of_clicks():
    m = ex.clicks()
    clicks = {2: (10, 20), 3: (30, 40), 7: (70, 80)}
    lists = {}
    for t in range(1, 10):
        if t in clicks:
            ex.click(m, *clicks[t])
        m.tick()
        lists[t] = m.output("cons", "list")
        sig = m.output("monitor", "out")
        assert sig == ({"x": clicks[t][0], "y": clicks[t][1], "flag": 1.0} if t in clicks else {})

    def node(t, rest):
        x, y = clicks[t]
        return {"this": {"x": x, "y": y, "flag": 1.0}, "rest": rest}

    end = {"end-list": 1.0}
    assert lists[1] == lists[2] == end
    assert lists[3] == node(2, end)                         # queued for tick 2: head from tick 3 on
    assert lists[4] == lists[5] == lists[6] == lists[7] == node(3, node(2, end))
    assert lists[8] == lists[9] == node(7, node(3, node(2, end)))


def test_asynchronous_accumulator_absorbs_an_injection_one_tick_later():
    m = ex.accumulator()
    got = {}
    for t in range(1, 9):
        if t == 4:
            ex.write(m, {"a": 1.0})
        m.tick()
        got[t] = m.output("acc", "single")
    assert got[1] == {}
    assert got[2] == {"step": 1.0}
    assert got[4] == {"step": 3.0}                 # written at tick 4: the reader emits it at up 4
    assert got[5] == {"step": 3.0, "a": 1.0}       # ... and the accumulator holds it from up 5
    assert got[8] == {"step": 6.0, "a": 1.0}


def test_edit_timing_synchronous():
    m = Machine(schedule="synchronous")
    m.tick(3)
    t = m.t + 1  # the edit is queued before tick t
    m.edit({"c": {"timer": {"c": {"timer": 1.0}}}}, declare={"c": "timer"})
    w0 = m.matrix
    m.tick()  # up movement t: the edits neuron emits the ΔW; W unchanged
    assert m.t == t and m.matrix == w0
    assert m.output("edits", "delta") == {"c": {"timer": {"c": {"timer": 1.0}}}}
    assert "c" not in m.neurons
    m.tick()  # up movement t+1: Self adds it into W and c is declared; c has not fired yet
    assert vv.path(m.matrix, "c", "timer", "c", "timer") == 1.0
    assert m.neurons["c"] == "timer"
    assert m.output("c", "timer") == {}
    assert m.output("edits", "delta") == {}
    m.tick()  # up movement t+2: c fires for the first time
    assert m.output("c", "timer") == {":number": 1.0}
    m.tick(3)
    assert m.output("c", "timer") == {":number": 4.0}


def test_edit_timing_ordered_is_one_tick_sooner():
    m = Machine(schedule="ordered")
    m.tick(2)
    m.edit({"c": {"timer": {"c": {"timer": 1.0}}}}, declare={"c": "timer"})
    m.tick()  # edits emits and Self (last in the order) adds it in the same tick
    assert vv.path(m.matrix, "c", "timer", "c", "timer") == 1.0
    assert m.output("c", "timer") == {}
    m.tick()
    assert m.output("c", "timer") == {":number": 1.0}


def test_demo_prints_the_wave(capsys):
    assert ex.main(["wave", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["  t= 1  update-2: 1", "  t= 2  update-3: 1", "  t= 3  update-1: 1",
                       "  t= 4  update-2: 1"]


@pytest.mark.parametrize("which", ["clicks", "accum"])
def test_other_demos_run(which, capsys):
    assert ex.main([which, "6"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 7
