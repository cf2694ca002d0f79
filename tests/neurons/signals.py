"""The test source the neuron tests share: `test_signal` plays a numpy array block by block."""
import numpy as np

import dmmlive  # noqa: F401  (fills the standard table first)
from dmmlive.core.registry import STANDARD

# The neuron tests' table: the standard types and `test_signal` (a machine that plays a
# test signal is made with `types=TYPES`; the standard table never sees it).
TYPES = STANDARD.copy()

SIGNALS = {}  # name -> float32 array played by a test_signal neuron whose `signal` arg names it


@TYPES.neuron_type("test_signal", kind="audio", inputs={}, args={"signal": ""}, batched=True, state={"pos": 0.0})
def _signal(state, rate):
    """Test source: plays SIGNALS[signal] block by block, then silence."""
    out = np.zeros((state.n, state.block), np.float32)
    x = SIGNALS[state.args["signal"]]
    for i in range(state.n):
        seg = x[int(state.pos[i]):int(state.pos[i]) + state.block]
        out[i, :len(seg)] = seg
    state.pos += state.block
    return out


def signal(x) -> str:
    """Register an array under a fresh name; returns the name."""
    key = f"s{len(SIGNALS)}"
    SIGNALS[key] = np.asarray(x, np.float32)
    return key


def wire(m, name, ports) -> None:
    """Feed `name`'s ports: a number is its weight from `one`; an array is played by a
    `test_signal` neuron `src_<port>` (and replaces the port's default)."""
    for port, v in ports.items():
        if np.ndim(v):
            m.add(f"src_{port}", "test_signal", signal=signal(v))
            m.connect(f"{name}.{port}", f"src_{port}")
            m.connect(f"{name}.{port}", "one", 0.0)
        else:
            m.connect(f"{name}.{port}", "one", float(v))
