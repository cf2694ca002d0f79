"""Between V-values and numbers: vread, vwrite, and the leaky integrate-and-fire neuron."""
import numpy as np
import pytest

from dmmlive import BadArgument, Machine, vv
from dmmlive.core.registry import STANDARD
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
TYPES = STANDARD.copy()
SEQS = {}


@TYPES.neuron_type("test_ticks", kind="number", inputs={}, args={"seq": ""}, batched=True, state={"t": 0.0})
def _ticks(state, rate):
    """Test source: SEQS[seq][k] on its k-th firing (0 after the end)."""
    x = SEQS[state.args["seq"]]
    k = int(state.t[0])
    state.t += 1
    return np.full(state.n, x[k] if k < len(x) else 0.0)


def spikes(leak, *inputs, n=40):
    m = Machine(rate=RATE, block=B, types=TYPES)
    m.add("l", "lif")
    m.connect("l.leak", "one", leak)
    m.connect("l.threshold", "one", 1.0)
    for i, x in enumerate(inputs):
        SEQS[f"s{i}"] = x
        m.add(f"src{i}", "test_ticks", seq=f"s{i}")
        m.connect("l.in", f"src{i}", 1.0)
    out = []
    for _ in range(n):
        m.tick()
        out.append(m.output("l"))
    return np.flatnonzero(out).tolist()


def test_lif_with_a_constant_input_of_0_15_spikes_every_11_ticks():
    m = Machine(rate=RATE, block=B)
    m.add("l", "lif")
    m.connect("l.in", "one", 0.15)
    out = []
    for _ in range(60):
        m.tick()
        out.append(m.output("l"))
    assert set(out) == {0.0, 1.0}
    # v_n = 1.5 (1 - 0.9^n) >= 1 first at n = 11, then it starts again from 0
    assert np.flatnonzero(out).tolist() == [10, 21, 32, 43, 54]


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_lif_refractory_holds_it_silent_for_k_ticks_after_a_spike(k):
    """Input 0.6 every tick at leak 0.9: v is 0.6, then 1.14 (a spike); after it v stays 0
    and the input is not taken for k ticks, so it spikes every k + 2 ticks."""
    m = Machine(rate=RATE, block=B)
    m.add("l", "lif", refractory=k)
    m.connect("l.in", "one", 0.6)
    out = []
    for _ in range(40):
        m.tick()
        out.append(m.output("l"))
    assert np.flatnonzero(out).tolist() == list(range(1, 40, k + 2))


def test_lif_refractory_spikes_once_on_an_event_of_k_plus_1_ticks():
    SEQS["burst"] = [0.0] * 5 + [2.0] * 4 + [0.0] * 20
    got = {}
    for k in (0, 3):
        m = Machine(rate=RATE, block=B, types=TYPES)
        m.add("l", "lif", refractory=k)
        m.add("src", "test_ticks", seq="burst")
        m.connect("l.in", "src", 1.0)
        out = []
        for _ in range(20):
            m.tick()
            out.append(m.output("l"))
        got[k] = np.flatnonzero(out).tolist()
    assert got == {0: [5, 6, 7, 8], 3: [5]}


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_lif_refractory_must_be_a_whole_number_of_ticks(bad):
    m = Machine(rate=RATE, block=B)
    with pytest.raises(BadArgument, match="lif: refractory must be a whole number of ticks >= 0"):
        m.add("l", "lif", refractory=bad)


@pytest.mark.parametrize("gap, fires", [(0, True), (1, True), (2, False), (3, False)])
def test_lif_spikes_on_two_inputs_only_within_a_tick_of_each_other(gap, fires):
    a = [0.0] * 30
    b = [0.0] * 30
    a[5] = 0.6
    b[5 + gap] = 0.5
    got = spikes(0.9, a, b)
    # the sources fire in the level before lif (ordered schedule): lif sees tick k's inputs at tick k
    assert got == ([5 + gap] if fires else [])


def test_vread_follows_a_weight_of_w_as_the_wave_moves_it():
    """wave.dmm with a reader of out.left's weight from a: 0.2 until the first switch at
    0.5 s (a -> b), 0 at the second (1.0 s, b -> c), 0.2 again at the third (1.5 s,
    c -> a), 0 from 2.0 s: the matrix heard as a number (and as sound, ramping over the
    block where it jumps)."""
    text = open("patches/wave.dmm").read() + '\nw = vread(self.matrix, path="out/left/a/out")\n' \
        'probe = vwrite(w, path="nowhere")\n'
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "wave.dmm").apply(text, now=True)
    got, sig = [], []
    for _ in range(int(2.6 * RATE / B)):
        m.tick()
        got.append(m.output("w"))
        sig.append(m.output("w", "sig"))
    got = np.array(got)
    t = (np.arange(len(got)) + 1) * B / RATE   # each tick's end
    assert set(np.round(got, 12)) == {0.0, 0.2}
    assert got[0] == 0  # the first tick: Self has not yet shown W (it fires last)
    got[0] = 0.2
    assert np.all(got[t < 0.49] == 0.2) and np.all(got[(t > 0.52) & (t < 1.49)] == 0) \
        and np.all(got[(t > 1.52) & (t < 1.99)] == 0.2) and np.all(got[t > 2.02] == 0)
    switches = np.flatnonzero(np.diff(got)) + 1
    assert len(switches) == 3   # 0.2 -> 0 at 0.5 s, 0 -> 0.2 at 1.5 s, -> 0 at 2.0 s
    k = switches[0]
    np.testing.assert_allclose(sig[k], 0.2 + (0 - 0.2) * np.arange(1, B + 1) / B, atol=1e-7)


@pytest.mark.parametrize("schedule, lag", [("ordered", 0), ("synchronous", 2)])
def test_vwrite_into_self_delta_adds_its_number_to_a_weight_every_tick(schedule, lag):
    """a's frequency is 220 plus 0.001 x the sum of `level` over the ticks (to 1e-9): all of
    them in the ordered schedule (Self fires last), all but the last two in the
    synchronous one (a link is a tick: level -> vwrite -> self)."""
    m = Machine(rate=RATE, block=B)
    PatchSession(m, "p.dmm").apply(
        f'schedule("{schedule}")\na = sine(freq=220)\nout = 0.1*a\nlevel = sine_kr(freq=3, amp=2, offset=1)\n'
        'self.delta = vwrite(0.001*level, path="a/freq/one/out")\n', now=True)
    levels = []
    for _ in range(400):
        m.tick()
        levels.append(m.output("level"))
    w = vv.path(m.matrix, "a", "freq", "one", "out")
    assert w == pytest.approx(220.0 + 0.001 * sum(levels[:len(levels) - lag]), abs=1e-9)


def test_paths_are_checked():
    m = Machine(rate=RATE, block=B)
    for t in ("vread", "vwrite"):
        with pytest.raises(BadArgument, match="path must be keys separated by '/'"):
            m.add("x", t, path="a//b")
