"""The `out` sink keeps the speakers safe: a patch that outputs NaN and one that outputs
100.0 both leave [-1, 1] finite sound, and the NaN never reaches a neighbour."""
import numpy as np

import dmmlive
from dmmlive.core.registry import STANDARD
from dmmlive.patch.live import PatchSession

TYPES = STANDARD.copy()  # the standard types and this module's test type (the patches' machines)


@TYPES.neuron_type("test_nan_after", kind="audio", inputs={"level": 1.0}, batched=True, state={"t": 0.0})
def _nan_after(state, rate, level):
    """Test type: outputs `level` for 10 blocks, then NaN."""
    state.t += 1
    out = level.copy()
    out[state.t > 10] = np.nan
    return out


def play(text, ticks=40, **kw):
    m = dmmlive.Machine(block=128, types=TYPES, **kw)
    PatchSession(m, "safety.dmm").apply(text, now=True)
    blocks = []
    for _ in range(ticks):
        m.tick()
        blocks.append(m.sound().copy())
    return m, np.concatenate(blocks)


def test_a_patch_that_outputs_100_is_limited_to_the_unit_range():
    m, x = play("a = sine(freq=440)\nout = 100*a\n")
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    assert np.abs(x[-4800:]).max() > 0.9          # limited, not muted
    m, y = play("a = sine(freq=440)\nout = 100*a\n", limiter=False)
    assert np.abs(y).max() == 1.0                  # without the limiter: the hard clip still holds


def test_a_patch_that_outputs_nan_is_muted_and_reported_and_its_neighbours_stay_finite():
    text = "bad = test_nan_after(level=0.5)\nf = lowpass(bad, cutoff=2000)\nout = 0.5*bad + 0.5*f\n"
    m, x = play(text, ticks=11)                     # the 11th block is NaN
    assert np.all(m.output("bad") == 0.0)           # muted: its neighbours see zeros
    assert any("bad (test_nan_after) output out went non-finite: muted and reset" in r for r in m.reports)
    assert np.abs(x[: 10 * 128]).max() > 0.1        # it played before it broke
    m, x = play(text, ticks=60)                     # reset, it plays again, and breaks again...
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    assert np.all(np.isfinite(m.output("f")))
