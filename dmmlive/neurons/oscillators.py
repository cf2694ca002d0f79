"""Oscillators and noise: sine, saw, square, tri, phasor and noise, as batched numba kernels."""
from __future__ import annotations

import zlib

import numba
import numpy as np

from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged

f32 = np.float32
# Fast math without the no-NaN/no-Inf assumptions: the NaN guards below must survive.
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
JIT = dict(cache=True, fastmath=FAST, error_model="numpy")

# sin(2*pi*x) for |x| <= 1/4: odd minimax polynomial, max error 2e-7 evaluated in float32.
_S1, _S3, _S5, _S7, _S9 = 6.28318516, -41.34165503, 81.60100401, -76.54978066, 39.53669319

# Band-limited steps (BLEP) and ramps (BLAMP): the residuals of a Kaiser-windowed sinc
# of BLEP_TAPS samples (cutoff 0.455*rate, beta 5). At 48 kHz: flat to 20 kHz (-0.3 dB),
# every alias that folds below 20 kHz under -70 dB (a 5 kHz saw: -77 dB); only partials
# just above Nyquist fold back, inaudibly, to just below it. The kernel is linear-phase,
# so saw, square and tri lag their phase by BLEP_DELAY samples (0.33 ms at 48 kHz).
BLEP_TAPS = 32
BLEP_DELAY = BLEP_TAPS // 2
_BLEP_CUTOFF = 0.455   # cycles per sample
_BLEP_BETA = 5.0
_BLEP_PHASES = 128     # table rows per sample of sub-sample event time (linear interpolation)
MAX_INC = 0.5          # band-limited oscillators hold frequencies beyond rate/2 at rate/2
BELOW_ONE = 1.0 - 2.0 ** -53  # a phase wrapped downwards stays below 1 (p + 1 may round up)

TWO_POW_M24 = 2.0 ** -24

FREQ = ranged(220.0, -100000, 100000, "Hz")  # an oscillator's frequency: negative runs it backwards


def _blep_tables(taps=BLEP_TAPS, cutoff=_BLEP_CUTOFF, beta=_BLEP_BETA, phases=_BLEP_PHASES):
    """(step, dstep, ramp, dramp): residual tables indexed [row k, tap m] for an event
    k/phases samples before the sample at tap m = taps/2, and their row differences."""
    half = taps // 2
    fine = 16  # integration steps per table row
    x = np.linspace(-half, half, taps * phases * fine + 1)
    h = 2 * cutoff * np.sinc(2 * cutoff * x) * np.i0(beta * np.sqrt(np.clip(1 - (x / half) ** 2, 0, 1))) / np.i0(beta)
    dx = x[1] - x[0]
    step = np.concatenate([[0.0], np.cumsum((h[1:] + h[:-1]) * (dx / 2))])
    step /= step[-1]
    ramp = np.concatenate([[0.0], np.cumsum((step[1:] + step[:-1]) * (dx / 2))])
    k = np.arange(phases + 1)[:, None]
    m = np.arange(taps)[None, :]
    idx = (m * phases + k) * fine             # x = m - half + k/phases
    xs = x[idx]
    s = step[idx] - (m >= half)               # the step's residual H(x) - u(x), u(0) = 1
    r = ramp[idx] - np.maximum(xs, 0.0)       # the ramp's residual
    out = []
    for t in (s, r):
        t = np.vstack([t, t[-1:]])            # row phases+1 = row phases: t = 1 needs no special case
        d = np.vstack([t[1:] - t[:-1], np.zeros((1, taps))])
        out += [np.ascontiguousarray(t, np.float32), np.ascontiguousarray(d, np.float32)]
    return tuple(out)


STEP_TABLE, DSTEP_TABLE, RAMP_TABLE, DRAMP_TABLE = _blep_tables()


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def sin2pi(x):
    """sin(2*pi*x) for any float32 x (x in cycles), to 2e-7."""
    x = x - np.floor(x + f32(0.5))          # [-1/2, 1/2)
    x = min(x, f32(0.5) - x)                # fold into [-1/4, 1/4]
    x = max(x, f32(-0.5) - x)
    x2 = x * x
    return x * (f32(_S1) + x2 * (f32(_S3) + x2 * (f32(_S5) + x2 * (f32(_S7) + x2 * f32(_S9)))))


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _row_constant(a, i):
    """Whether row i of `a` holds one value over the block."""
    a0 = a[i, 0]
    differ = 0
    for j in range(a.shape[1]):  # no early exit: this loop vectorises
        differ += a[i, j] != a0
    return differ == 0


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _clamp_inc(inc):
    if not (inc > -MAX_INC):  # also NaN: a frozen oscillator rather than a NaN phase
        return -MAX_INC if inc < 0.0 else 0.0
    return inc if inc < MAX_INC else MAX_INC


def output_rows(state, port, shape):
    """Where a kernel writes output `port`: the machine's own rows (`state.into`), so that
    returning them costs no copy, or a new array where there are none of the right shape."""
    into = getattr(state, "into", None)
    v = into.get(port) if into else None
    if v is not None and v.shape == shape:  # (the machine gives float32 C-contiguous rows only)
        return v
    return np.empty(shape, f32)


# ---- sine ------------------------------------------------------------------------------
@numba.njit(**JIT)
def sine_kernel(freq, amp, phase, acc, out, k):
    """out = amp*sin(2*pi*(acc + phase)), acc advancing by freq*k per sample (float64).

    Rows whose freq holds still over the block get their phase in closed form
    (vectorised); the others run their phase sums eight rows at a time, interleaved,
    so the serial additions of one row overlap those of the next.
    """
    n, B = freq.shape
    ph = np.empty((8, B), f32)
    ramp = np.arange(B).astype(np.float64)
    moving = np.empty(n, np.int64)
    nm = 0
    for i in range(n):
        if _row_constant(freq, i):
            p = acc[i]
            inc = np.float64(freq[i, 0]) * k
            for j in range(B):
                q = p + ramp[j] * inc
                ph[0, j] = q - np.floor(q)
            for j in range(B):
                out[i, j] = amp[i, j] * sin2pi(ph[0, j] + phase[i, j])
            p += B * inc
            acc[i] = p - np.floor(p)
        else:
            moving[nm] = i
            nm += 1
    for g in range(0, nm - nm % 8, 8):
        r0, r1, r2, r3 = moving[g], moving[g + 1], moving[g + 2], moving[g + 3]
        r4, r5, r6, r7 = moving[g + 4], moving[g + 5], moving[g + 6], moving[g + 7]
        p0, p1, p2, p3 = acc[r0], acc[r1], acc[r2], acc[r3]
        p4, p5, p6, p7 = acc[r4], acc[r5], acc[r6], acc[r7]
        for j in range(B):
            ph[0, j] = p0 - np.floor(p0)
            ph[1, j] = p1 - np.floor(p1)
            ph[2, j] = p2 - np.floor(p2)
            ph[3, j] = p3 - np.floor(p3)
            ph[4, j] = p4 - np.floor(p4)
            ph[5, j] = p5 - np.floor(p5)
            ph[6, j] = p6 - np.floor(p6)
            ph[7, j] = p7 - np.floor(p7)
            p0 += freq[r0, j] * k
            p1 += freq[r1, j] * k
            p2 += freq[r2, j] * k
            p3 += freq[r3, j] * k
            p4 += freq[r4, j] * k
            p5 += freq[r5, j] * k
            p6 += freq[r6, j] * k
            p7 += freq[r7, j] * k
        acc[r0], acc[r1], acc[r2], acc[r3] = p0 - np.floor(p0), p1 - np.floor(p1), p2 - np.floor(p2), p3 - np.floor(p3)
        acc[r4], acc[r5], acc[r6], acc[r7] = p4 - np.floor(p4), p5 - np.floor(p5), p6 - np.floor(p6), p7 - np.floor(p7)
        for r in range(8):
            i = moving[g + r]
            for j in range(B):
                out[i, j] = amp[i, j] * sin2pi(ph[r, j] + phase[i, j])
    for g in range(nm - nm % 8, nm):
        i = moving[g]
        p = acc[i]
        for j in range(B):
            ph[0, j] = p - np.floor(p)
            p += freq[i, j] * k
        acc[i] = p - np.floor(p)
        for j in range(B):
            out[i, j] = amp[i, j] * sin2pi(ph[0, j] + phase[i, j])


@neuron_type("sine", kind="audio", inputs={"freq": FREQ, "amp": 1.0, "phase": 0.0}, batched=True,
             state={"phase_acc": 0.0})
def sine(state, rate, freq, amp, phase):
    """Sine oscillator: freq in Hz, read every sample (so FM is one weight); amp; phase offset in cycles.

    Starts at phase 0 (output 0) and keeps its phase in float64 across blocks and edits;
    `phase` adds to it per sample (phase modulation).

    Example: `tone = sine(freq=440 + 30*sine(freq=5), amp=0.3)`
    """
    out = output_rows(state, "out", freq.shape)
    sine_kernel(freq, amp, phase, state.phase_acc, out, 1.0 / rate)
    return out


# ---- saw, square, tri: band-limited ------------------------------------------------------
@numba.njit(**JIT)
def _add_residual(buf, at, t, scale, tab, dtab):
    """buf[at + m] += scale * residual(m) for m < BLEP_TAPS: an event t samples (0..1)
    before signal sample `at`, whose naive value sits at buf[at + BLEP_DELAY]."""
    x = t * _BLEP_PHASES
    if not (x > 0.0):
        x = 0.0
    if x > _BLEP_PHASES:
        x = float(_BLEP_PHASES)
    row = int(x)
    a = f32(x - row)
    s = f32(scale)
    b = buf[at:at + BLEP_TAPS]  # a view: indices from 0 vectorise (no negative-index test)
    r0 = tab[row]
    r1 = dtab[row]
    for m in range(BLEP_TAPS):
        b[m] += s * (r0[m] + a * r1[m])


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _start_row(buf, carry, i, B):
    N = BLEP_TAPS
    for m in range(N):
        buf[m] = carry[i, m]
    for m in range(N, B + N):
        buf[m] = 0.0


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _end_row(buf, carry, amp, out, i, B):
    for j in range(B):
        out[i, j] = amp[i, j] * buf[j]
    for m in range(BLEP_TAPS):
        carry[i, m] = buf[B + m]


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _saw_steady(buf, p0, inc, B, ramp, step, dstep):
    """A saw at constant inc over the block: naive ramp segment by segment, each wrap's
    sample index found in closed form. Returns the phase at sample B.

    A segment holds phases in [off, off+1) (as the per-sample path's wrap tests do):
    going up the first sample past the wrap has j >= tau, going down j > tau.
    """
    D = BLEP_DELAY
    off = np.floor(p0)
    a = 0
    while True:
        if inc > 0.0:
            tau = (off + 1.0 - p0) / inc
            J = int(np.ceil(tau)) if tau <= B else B + 1
        elif inc < 0.0:
            tau = (p0 - off) / -inc
            J = int(np.floor(tau)) + 1 if tau < B else B + 1
        else:
            tau = 0.0
            J = B + 1
        e = J if J < B else B
        c = p0 - off
        seg = buf[a + D:e + D]  # views: indices from 0 vectorise (no negative-index test)
        rs = ramp[a:e]
        for j in range(e - a):
            seg[j] += f32(2.0 * (c + rs[j] * inc) - 1.0)
        if J > B:
            break
        if inc > 0.0:
            _add_residual(buf, J, J - tau, -2.0, step, dstep)
            off += 1.0
        else:
            _add_residual(buf, J, J - tau, 2.0, step, dstep)
            off -= 1.0
        a = J
    p = p0 + B * inc - off
    # Keep the phase in [0, 1) on the side its last sample was given.
    if p < 0.0:
        p = 0.0
    return min(p, BELOW_ONE)


@numba.njit(**JIT)
def saw_kernel(freq, amp, acc, carry, out, k, step, dstep):
    """Sawtooth -1..1 with band-limited steps: buf holds the delayed signal, the naive
    ramp written BLEP_DELAY samples ahead and each wrap's residual around it."""
    n, B = freq.shape
    D = BLEP_DELAY
    buf = np.empty(B + BLEP_TAPS, f32)
    ramp = np.arange(B).astype(np.float64)
    for i in range(n):
        _start_row(buf, carry, i, B)
        p = acc[i]
        if _row_constant(freq, i):
            p = _saw_steady(buf, p, _clamp_inc(freq[i, 0] * k), B, ramp, step, dstep)
        else:
            for j in range(B):
                inc = _clamp_inc(freq[i, j] * k)
                buf[j + D] += f32(2.0 * p - 1.0)
                p += inc
                if p >= 1.0:   # wrapped upwards between j and j+1: the ramp drops by 2
                    _add_residual(buf, j + 1, (p - 1.0) / inc, -2.0, step, dstep)
                    p -= 1.0
                elif p < 0.0:  # downwards (negative freq): it jumps up by 2
                    _add_residual(buf, j + 1, p / inc, 2.0, step, dstep)
                    p = min(p + 1.0, BELOW_ONE)
        acc[i] = p
        _end_row(buf, carry, amp, out, i, B)


@numba.njit(**JIT)
def square_kernel(freq, amp, width, acc, wprev, carry, out, k, step, dstep):
    """Pulse +1 while phase < width, else -1: saw(phase - width) - saw(phase) + 2*width - 1,
    each saw's wrap a band-limited step. A width that moves the falling edge across a
    sample is a step at that sample."""
    n, B = freq.shape
    D = BLEP_DELAY
    buf = np.empty(B + BLEP_TAPS, f32)
    for i in range(n):
        _start_row(buf, carry, i, B)
        p = acc[i]
        wp = wprev[i]
        for j in range(B):
            inc = _clamp_inc(freq[i, j] * k)
            w = np.float64(width[i, j])
            if not (w > 0.0):
                w = 0.0
            if w > 1.0:
                w = 1.0
            r = p - w
            fr = np.floor(r)
            if wp >= 0.0:
                fo = np.floor(p - wp)
                if fr > fo:    # the edge moved back past this sample: it fell here
                    _add_residual(buf, j, 0.0, -2.0, step, dstep)
                elif fr < fo:  # moved forward past it: it rose here
                    _add_residual(buf, j, 0.0, 2.0, step, dstep)
            wp = w
            buf[j + D] += f32(-2.0 * fr - 1.0)
            pu = p + inc
            rb = pu - w
            frb = np.floor(rb)
            if frb > fr:       # falling edge
                _add_residual(buf, j + 1, (rb - frb) / inc, -2.0, step, dstep)
            elif frb < fr:     # falling edge, running backwards: it rises
                _add_residual(buf, j + 1, (rb - fr) / inc, 2.0, step, dstep)
            if pu >= 1.0:      # rising edge
                _add_residual(buf, j + 1, (pu - 1.0) / inc, 2.0, step, dstep)
                pu -= 1.0
            elif pu < 0.0:
                _add_residual(buf, j + 1, pu / inc, -2.0, step, dstep)
                pu = min(pu + 1.0, BELOW_ONE)
            p = pu
        acc[i] = p
        wprev[i] = wp
        _end_row(buf, carry, amp, out, i, B)


@numba.njit(**JIT)
def tri_kernel(freq, amp, acc, carry, out, k, ramp, dramp):
    """Triangle 4*|u - 1/2| - 1 of its phase u in [0, 1) (a peak at u = 0, a trough at
    1/2; u starts at 3/4, so the output starts at 0, rising). Each corner is a
    band-limited ramp: the slope changes by -8*|inc| at a peak, +8*|inc| at a trough.
    Corners are where c = 2u crosses an integer; 2u is exact, so an interval's end and
    the next one's start agree to the bit and no corner is seen twice."""
    n, B = freq.shape
    D = BLEP_DELAY
    buf = np.empty(B + BLEP_TAPS, f32)
    for i in range(n):
        _start_row(buf, carry, i, B)
        u = acc[i]
        for j in range(B):
            inc = _clamp_inc(freq[i, j] * k)
            buf[j + D] += f32(4.0 * abs(u - 0.5) - 1.0)
            un = u + inc
            c0 = np.floor(2.0 * u)
            c1 = np.floor(2.0 * un)
            if c1 != c0:
                K = c1 if c1 > c0 else c0  # the integer crossed: 0 or 2 a peak, 1 a trough
                slope = 8.0 * abs(inc)
                if K != 1.0:
                    slope = -slope
                _add_residual(buf, j + 1, (2.0 * un - K) / (2.0 * inc), slope, ramp, dramp)
            if un >= 1.0:
                un -= 1.0
            elif un < 0.0:
                un = min(un + 1.0, BELOW_ONE)
            u = un
        acc[i] = u
        _end_row(buf, carry, amp, out, i, B)


def _blep_state(names, args, ctx):
    n = len(names)
    return {"phase_acc": np.zeros(n), "blep": np.zeros((n, BLEP_TAPS), np.float32)}


def _tri_state(names, args, ctx):
    st = _blep_state(names, args, ctx)
    st["phase_acc"][:] = 0.75  # the triangle's own phase: 3/4 is 0 on the way up
    return st


def _square_state(names, args, ctx):
    st = _blep_state(names, args, ctx)
    st["width_prev"] = np.full(len(names), -1.0)  # no width seen yet
    return st


@neuron_type("saw", kind="audio", inputs={"freq": FREQ, "amp": 1.0}, batched=True, state=_blep_state)
def saw(state, rate, freq, amp):
    """Band-limited sawtooth rising from -1 to 1: freq in Hz, per sample (negative runs it down); amp.

    Each wrap is a band-limited step (32-tap windowed-sinc BLEP): flat to 20 kHz at
    48 kHz, aliases below 20 kHz under -70 dB. It lags its phase by 16 samples (0.33 ms
    at 48 kHz); frequencies beyond rate/2 are held at rate/2.

    Example: `bass = saw(freq=55 + 2*sine(freq=0.3), amp=0.4)`
    """
    out = output_rows(state, "out", freq.shape)
    saw_kernel(freq, amp, state.phase_acc, state.blep, out, 1.0 / rate, STEP_TABLE, DSTEP_TABLE)
    return out


@neuron_type("square", kind="audio", inputs={"freq": FREQ, "amp": 1.0, "width": ranged(0.5, 0, 1)}, batched=True,
             state=_square_state)
def square(state, rate, freq, amp, width):
    """Band-limited pulse: +1 for the first `width` of each cycle (0..1, 0.5 square), then -1; freq in Hz.

    freq and width are read every sample (FM, PWM); band-limited like saw, and like it
    lags its phase by 16 samples.

    Example: `buzz = square(freq=110, width=0.5 + 0.4*sine(freq=0.2), amp=0.3)`
    """
    out = output_rows(state, "out", freq.shape)
    square_kernel(freq, amp, width, state.phase_acc, state.width_prev, state.blep, out, 1.0 / rate,
                  STEP_TABLE, DSTEP_TABLE)
    return out


@neuron_type("tri", kind="audio", inputs={"freq": FREQ, "amp": 1.0}, batched=True, state=_tri_state)
def tri(state, rate, freq, amp):
    """Band-limited triangle between -1 and 1 (starts at 0, rising): freq in Hz, per sample; amp.

    Corners are band-limited ramps (BLAMP); lags its phase by 16 samples like saw.

    Example: `soft = tri(freq=330, amp=0.5)`
    """
    out = output_rows(state, "out", freq.shape)
    tri_kernel(freq, amp, state.phase_acc, state.blep, out, 1.0 / rate, RAMP_TABLE, DRAMP_TABLE)
    return out


# ---- phasor -----------------------------------------------------------------------------
@numba.njit(**JIT)
def phasor_kernel(freq, amp, acc, out, k):
    """out = amp*phase, the phase in [0, 1) advancing by freq*k a sample (float64 in acc)."""
    n, B = freq.shape
    for i in range(n):
        p = acc[i]
        for j in range(B):  # the sum runs unwrapped, so only an addition is serial
            x = f32(p - np.floor(p))
            if x >= f32(1.0):  # a phase just below 1 rounds up in float32: it is 0
                x = f32(0.0)
            out[i, j] = amp[i, j] * x
            p += freq[i, j] * k
        acc[i] = p - np.floor(p)


@neuron_type("phasor", kind="audio", inputs={"freq": ranged(1.0, -100000, 100000, "Hz"), "amp": 1.0}, batched=True,
             state={"phase_acc": 0.0})
def phasor(state, rate, freq, amp):
    """Ramp from 0 to 1 once per cycle, times amp: freq in Hz, per sample (naive: a control source).

    Example: `sweep = sine(freq=200 + 800*phasor(freq=0.25))`
    """
    out = output_rows(state, "out", freq.shape)
    phasor_kernel(freq, amp, state.phase_acc, out, 1.0 / rate)
    return out


# ---- noise ------------------------------------------------------------------------------
COLORS = ("white", "pink")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# Paul Kellet's refined pink filter (three-pole-pair approximation, +-0.05 dB above
# 9 Hz at 44.1 kHz), scaled (x 0.11) to an RMS of about 0.2 with peaks rarely beyond +-1.
_PINK_A = (0.99886, 0.99332, 0.96900, 0.86650, 0.55000, -0.7616)
_PINK_B = (0.0555179, 0.0750759, 0.1538520, 0.3104856, 0.5329522, -0.0168980)
_PINK_DIRECT, _PINK_B6 = 0.5362, 0.115926
PINK_GAIN = 0.11


@numba.njit(inline="always")
def _mix64(z):
    """splitmix64's finaliser: a bijection of uint64 with good avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _uniform(z):
    """float32 uniform in [-1, 1) from the top 24 bits of z."""
    return f32(np.float64(np.int64(z >> np.uint64(40))) * (2.0 * TWO_POW_M24) - 1.0)


@numba.njit(cache=True, error_model="numpy")
def white(amp, rng, out):
    """out = amp * uniform [-1, 1) samples, each row from its own generator state rng[i]."""
    n, B = amp.shape
    for i in range(n):
        s = rng[i]
        for j in range(B):
            s += _GOLDEN
            out[i, j] = amp[i, j] * _uniform(_mix64(s))
        rng[i] = s


@numba.njit(cache=True, error_model="numpy")
def pink_kernel(amp, rng, pole, out):
    """Pink noise times amp: white noise from rng through the pole filters whose states are `pole`."""
    n, B = amp.shape
    a0, a1, a2, a3, a4, a5 = _PINK_A
    c0, c1, c2, c3, c4, c5 = _PINK_B
    for i in range(n):
        s = rng[i]
        b0, b1, b2, b3, b4, b5, b6 = pole[i, 0], pole[i, 1], pole[i, 2], pole[i, 3], pole[i, 4], pole[i, 5], pole[i, 6]
        for j in range(B):
            s += _GOLDEN
            w = np.float64(_uniform(_mix64(s)))
            b0 = a0 * b0 + w * c0
            b1 = a1 * b1 + w * c1
            b2 = a2 * b2 + w * c2
            b3 = a3 * b3 + w * c3
            b4 = a4 * b4 + w * c4
            b5 = a5 * b5 + w * c5
            y = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * _PINK_DIRECT
            b6 = w * _PINK_B6
            out[i, j] = amp[i, j] * f32(y * PINK_GAIN)
        rng[i] = s
        pole[i, 0], pole[i, 1], pole[i, 2], pole[i, 3], pole[i, 4], pole[i, 5], pole[i, 6] = b0, b1, b2, b3, b4, b5, b6


def noise_seed(machine_seed: int, seed: int, name: str) -> int:
    """The 64-bit start of a noise neuron's generator: a stable hash of the machine seed,
    its `seed` argument and its name (zlib.crc32, so equal on every run and platform)."""
    key = f"{int(machine_seed)}:{int(seed)}:{name}".encode()
    lo = zlib.crc32(key)
    hi = zlib.crc32(key, 0x9E3779B9)
    return (hi << 32) | lo


def noise_state(names, args, ctx):
    """The generators of noise neurons: seeded from the machine seed, `seed` and each name."""
    n = len(names)
    rng = np.array([noise_seed(ctx.seed, args["seed"], nm) for nm in names], np.uint64)
    return {"rng": rng, "pink": np.zeros((n, 7))}


def _check_noise(args):
    if args["color"] not in COLORS:
        raise BadArgument(f"noise: color must be one of {', '.join(map(repr, COLORS))}, not {args['color']!r}")
    s = args["seed"]
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
        raise BadArgument(f"noise: seed must be an integer, not {s!r}")


@neuron_type("noise", kind="audio", inputs={"amp": 1.0}, batched=True, state=noise_state,
             args={"color": "white", "seed": 0}, check=_check_noise)
def noise(state, rate, amp):
    """Noise times amp: color='white' (uniform in [-1, 1), flat) or 'pink' (-3 dB/octave, RMS 0.2); seed=int.

    Deterministic: the samples follow from the machine seed, `seed` and the neuron's
    name, so two machines built alike play the same noise.

    Example: `hiss = noise(color="pink", amp=0.1)`
    """
    out = output_rows(state, "out", amp.shape)
    if state.args["color"] == "pink":
        pink_kernel(amp, state.rng, state.pink, out)
    else:
        white(amp, state.rng, out)
    return out
