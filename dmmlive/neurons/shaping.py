"""Shaping: the non-linear audio types (mul, tanh, clip) and the equal-power pan."""
from __future__ import annotations

import numba
import numpy as np

from ..core.registry import neuron_type, ranged
from .oscillators import FAST, JIT, output_rows, sin2pi

f32 = np.float32

# tanh(x) = x*P(x^2)/Q(x^2) on |x| < 7.905 (beyond it tanh rounds to +-1 in float32):
# Eigen's rational fit, error < 4e-7 in float32, never beyond [-1, 1].
_TANH_CLAMP = 7.90531110763549805
_TA = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
       -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)
_TB = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _tanh(x):
    c = f32(_TANH_CLAMP)
    x = min(max(x, -c), c)
    x2 = x * x
    p = x2 * f32(_TA[6]) + f32(_TA[5])
    p = p * x2 + f32(_TA[4])
    p = p * x2 + f32(_TA[3])
    p = p * x2 + f32(_TA[2])
    p = p * x2 + f32(_TA[1])
    p = p * x2 + f32(_TA[0])
    q = x2 * f32(_TB[3]) + f32(_TB[2])
    q = q * x2 + f32(_TB[1])
    q = q * x2 + f32(_TB[0])
    return x * p / q


@numba.njit(**JIT)
def tanh_kernel(x, drive, out):
    """out = tanh(drive*x), a rational approximation in float32."""
    n, B = x.shape
    for i in range(n):
        for j in range(B):
            out[i, j] = _tanh(drive[i, j] * x[i, j])


@numba.njit(**JIT)
def clip_kernel(x, lo, hi, out):
    """out = min(max(x, lo), hi), sample by sample."""
    n, B = x.shape
    for i in range(n):
        for j in range(B):
            out[i, j] = min(max(x[i, j], lo[i, j]), hi[i, j])


@numba.njit(**JIT)
def pan_kernel(x, pos, left, right):
    """Equal-power pan over a group: left = x*cos, right = x*sin of (1 + pos)*pi/4, pos clamped to [-1, 1]."""
    n, B = x.shape
    eighth = f32(0.125)
    for i in range(n):
        for j in range(B):
            p = min(max(pos[i, j], f32(-1.0)), f32(1.0))
            # angle (1 + p)*pi/4: left cos, right sin; cos a = sin(pi/2 - a)
            left[i, j] = x[i, j] * sin2pi((f32(1.0) - p) * eighth)
            right[i, j] = x[i, j] * sin2pi((f32(1.0) + p) * eighth)


@neuron_type("sum", kind="audio", inputs={"in": 0.0}, batched=True)
def sum_(state, rate, **ports):
    """A named sum of audio streams: its output is its input, the linear combination W
    gives it. A patch declares one by naming a sum: `mix = 0.5*a + 0.5*b`.

    Example: `bus = sum(0.3*kick + 0.3*snare)`, or just `bus = 0.3*kick + 0.3*snare`
    """
    return ports["in"].copy()


@neuron_type("sum_kr", kind="number", inputs={"in": 0.0}, batched=True)
def sum_kr(state, rate, **ports):
    """A named sum of numbers (control rate): its output is its input. A patch declares one
    by naming a sum of numbers: `depth = 0.5*lfo1 + 0.25*knob1`.

    Example: `depth = sum_kr(0.5*sine_kr(freq=0.1) + 0.5)`
    """
    return ports["in"].copy()


@neuron_type("mul", kind="audio", inputs={"a": 0.0, "b": 1.0}, batched=True)
def mul(state, rate, a, b):
    """Product a*b per sample: ring modulation, or a VCA as mul(x, env); b defaults to 1.

    Example: `vca = mul(saw(freq=110), adsr(clock(bpm=120)))`; `ring = mul(voice, sine(freq=30))`
    """
    shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)  # (the first: ~3 µs less)
    return np.multiply(a, b, out=output_rows(state, "out", shape))


@neuron_type("tanh", kind="audio", inputs={"in": 0.0, "drive": 1.0}, batched=True)
def tanh(state, rate, **ports):
    """Soft saturation tanh(drive*in): level-preserving for small signals, never beyond [-1, 1].

    Example: `warm = tanh(0.8*bass, drive=3)`
    """
    x = ports["in"]
    out = output_rows(state, "out", x.shape)
    tanh_kernel(x, ports["drive"], out)
    return out


@neuron_type("clip", kind="audio", inputs={"in": 0.0, "lo": -1.0, "hi": 1.0}, batched=True)
def clip(state, rate, **ports):
    """Hard clip: min(max(in, lo), hi) per sample (hi wins when lo > hi).

    Example: `fuzz = clip(4*guitar, lo=-0.5, hi=0.5)`
    """
    x = ports["in"]
    out = output_rows(state, "out", x.shape)
    clip_kernel(x, ports["lo"], ports["hi"], out)
    return out


@neuron_type("pan", kind="audio", inputs={"in": 0.0, "pos": ranged(0.0, -1, 1)}, outputs=["left", "right"], batched=True)
def pan(state, rate, **ports):
    """Equal-power pan: pos -1 (left) .. 0 (both at -3 dB) .. 1 (right); left^2 + right^2 = in^2.

    Example: `p = pan(bell, pos=0.7*sine(freq=0.1))` then `out.left = p.left` and `out.right = p.right`
    """
    x = ports["in"]
    left = output_rows(state, "left", x.shape)
    right = output_rows(state, "right", x.shape)
    pan_kernel(x, ports["pos"], left, right)
    return {"left": left, "right": right}
