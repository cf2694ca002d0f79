"""Filters, delay and reverb: the audio types whose output remembers past samples."""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged
from .oscillators import output_rows

f32 = np.float32
# FMA contraction only: no reassociation and no no-NaN/no-Inf assumptions, so every
# path through a kernel computes the same samples and the clamps hold for any input.
FAST = {"contract"}
TILE = 16  # neurons per SIMD tile of the filter kernel (two AVX2 float32 vectors)
SCALAR_REMAINDER = 4  # up to this many neurons past the last full tile run one by one
TINY = 1e-20  # reverb values below this flush to zero: no denormal slow-down on silence

# tan(x) on [0, 0.49*pi] as x*N(x^2)/D(x^2): Lambert's continued fraction of tan cut
# after 13, relative error < 3e-6 in float32 (the cutoff is right to 0.005 cents).
_N1, _N2, _N3 = -5 / 39, 2 / 715, -1 / 135135
_D1, _D2, _D3 = -6 / 13, 10 / 429, -4 / 19305
Q_MIN, Q_MAX = 0.01, 1.0e4
NYQUIST_FRACTION = 0.49  # cutoff is clamped to (0, 0.49*rate)


def _shuffle(builder, a, b, mask):
    return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(ir.IntType(32), 8), mask))


@intrinsic
def _transpose8(typingctx, src, r0, c0, dst, d0, e0):
    """dst[d0 + c, e0 + r] = src[r0 + r, c0 + c] for r, c in 0..7: eight vector loads, three
    rounds of shuffles, eight vector stores (scalar copies cost more than the filter).
    Both arrays: C-contiguous 2D float32."""
    for a in (src, dst):
        if not (isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" and a.dtype == types.float32):
            return None
    sig = types.void(src, r0, c0, dst, d0, e0)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        vec = ir.VectorType(ir.FloatType(), 8)
        s_arr = context.make_array(signature.args[0])(context, builder, args[0])
        d_arr = context.make_array(signature.args[3])(context, builder, args[3])
        r0, c0, d0, e0 = (context.cast(builder, args[k], signature.args[k], types.int64) for k in (1, 2, 4, 5))

        def row(arr, row, col):  # &arr[row, col] as a pointer to 8 floats
            pitch = builder.extract_value(arr.strides, 0)
            off = builder.add(builder.mul(row, pitch), builder.mul(col, ir.Constant(i64, 4)))
            return builder.inttoptr(builder.add(builder.ptrtoint(arr.data, i64), off), vec.as_pointer())

        rows = []
        for r in range(8):
            ld = builder.load(row(s_arr, builder.add(r0, ir.Constant(i64, r)), c0))
            ld.align = 4
            rows.append(ld)
        t = []
        for k in range(0, 8, 2):  # interleave pairs of rows
            t.append(_shuffle(builder, rows[k], rows[k + 1], [0, 8, 1, 9, 4, 12, 5, 13]))
            t.append(_shuffle(builder, rows[k], rows[k + 1], [2, 10, 3, 11, 6, 14, 7, 15]))
        lo, hi = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
        u = []
        for a, b in ((0, 2), (1, 3), (4, 6), (5, 7)):  # pairs of pairs
            u.append(_shuffle(builder, t[a], t[b], lo))
            u.append(_shuffle(builder, t[a], t[b], hi))
        # u = [u0, u1, u2, u3, u4, u5, u6, u7] with u0,u1 from (t0,t2), u2,u3 from (t1,t3)...
        first, second = [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]
        cols = [_shuffle(builder, u[k], u[k + 4], first) for k in range(4)]
        cols += [_shuffle(builder, u[k], u[k + 4], second) for k in range(4)]
        for c in range(8):
            st = builder.store(cols[c], row(d_arr, builder.add(d0, ir.Constant(i64, c)), e0))
            st.align = 4
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _svf_coefs(fc, q, wsc, wmx):
    """Per-sample coefficients (a1, a2, a3, k) of the filter from cutoff and q, float32."""
    one = f32(1.0)
    wlo = f32(1e-9)
    qlo = f32(Q_MIN)
    qhi = f32(Q_MAX)
    wc = fc * wsc                      # pi * cutoff / rate, clamped below Nyquist
    wc = wc if wc > wlo else wlo
    wc = wc if wc < wmx else wmx
    qq = q if q > qlo else qlo
    qq = qq if qq < qhi else qhi
    w2 = wc * wc
    nn = wc * (((f32(_N3) * w2 + f32(_N2)) * w2 + f32(_N1)) * w2 + one)  # g = tan(wc) = nn/dd
    dd = ((f32(_D3) * w2 + f32(_D2)) * w2 + f32(_D1)) * w2 + one
    # a1 = 1/(1 + g(g + k)), a2 = g*a1, a3 = g*a2 and k = 1/q from one division
    den = qq * (dd * dd + nn * nn) + nn * dd
    inv = one / (den * qq)
    r = qq * qq * inv
    return dd * dd * r, nn * dd * r, nn * nn * r, den * inv


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _svf_tick(v0, p1, p2, a1, a2, a3, kk, c0, c1, c2):
    """One sample of the filter: (output, new ic1, new ic2), all float32."""
    two = f32(2.0)
    big = f32(1e-18)  # (t + big) - big is 0 for |t| < 5e-26: no denormals in a silent tail
    v3 = v0 - p2
    v1 = a1 * p1 + a2 * v3
    v2 = p2 + a2 * p1 + a3 * v3
    t1 = (two * v1 - p1 + big) - big
    t2 = (two * v2 - p2 + big) - big
    return c0 * v0 + c1 * kk * v1 + c2 * v2, t1, t2


@numba.njit(inline="always", fastmath=FAST, error_model="numpy")
def _svf_step(v0, fc, q, p1, p2, wsc, wmx, c0, c1, c2):
    a1, a2, a3, kk = _svf_coefs(fc, q, wsc, wmx)
    return _svf_tick(v0, p1, p2, a1, a2, a3, kk, c0, c1, c2)


@numba.njit(cache=True, error_model="numpy")
def _row_constant(a, j0, w):
    """Whether rows j0..j0+w of `a` are each constant over the block."""
    for jj in range(w):
        a0 = a[j0 + jj, 0]
        differ = 0
        for i in range(a.shape[1]):  # no early exit: this loop vectorises
            differ += a[j0 + jj, i] != a0
        if differ:
            return False
    return True


@numba.njit(cache=True, fastmath=FAST, error_model="numpy")
def svf_kernel(x, fc, q, ic1, ic2, m0, m1, m2, wscale, wmax, out):
    """Trapezoidal (TPT) state-variable filter over a group: x, fc, q, out (n, B).

    The output is m0*v0 + m1*k*v1 + m2*v2 (v0 input, v1 band, v2 low, k = 1/q): low
    (0, 0, 1), unit-peak band (0, 1, 0), high (1, -1, -1). Neurons go TILE at a time,
    transposed (8x8 shuffles) so that the per-sample recursion runs as SIMD across neurons, with
    cheaper loops for tiles whose q, or q and cutoff, hold still over the block; a
    short remainder runs neuron by neuron. Every path does the same arithmetic, so a
    neuron's samples depend neither on the block size nor on its neighbours.
    """
    n, B = x.shape
    T = TILE
    xt = np.empty((B, T), f32)
    ft = np.empty((B, T), f32)
    qt = np.empty((B, T), f32)
    yt = np.empty((B, T), f32)
    s1 = np.empty(T, f32)
    s2 = np.empty(T, f32)
    fl = np.empty(T, f32)
    ql = np.empty(T, f32)
    la1 = np.empty(T, f32)
    la2 = np.empty(T, f32)
    la3 = np.empty(T, f32)
    lk = np.empty(T, f32)
    wsc = f32(wscale)
    wmx = f32(wmax)
    c0 = f32(m0)
    c1 = f32(m1)
    c2 = f32(m2)
    full = n - n % T if n % T <= SCALAR_REMAINDER else n
    for j0 in range(0, full, T):
        w = min(T, n - j0)
        qconst = _row_constant(q, j0, w)
        fconst = qconst and _row_constant(fc, j0, w)
        if w == T and B % 8 == 0:
            for g in range(0, T, 8):
                for i0 in range(0, B, 8):
                    _transpose8(x, j0 + g, i0, xt, i0, g)
                    if not fconst:
                        _transpose8(fc, j0 + g, i0, ft, i0, g)
                    if not qconst:
                        _transpose8(q, j0 + g, i0, qt, i0, g)
            for jj in range(T):
                fl[jj] = fc[j0 + jj, 0]
                ql[jj] = q[j0 + jj, 0]
                s1[jj] = ic1[j0 + jj]
                s2[jj] = ic2[j0 + jj]
        else:
            for jj in range(T):
                if jj < w:
                    j = j0 + jj
                    for i in range(B):
                        xt[i, jj] = x[j, i]
                    if not fconst:
                        for i in range(B):
                            ft[i, jj] = fc[j, i]
                    if not qconst:
                        for i in range(B):
                            qt[i, jj] = q[j, i]
                    fl[jj] = fc[j, 0]
                    ql[jj] = q[j, 0]
                    s1[jj] = ic1[j]
                    s2[jj] = ic2[j]
                else:  # padding lanes: a quiet, valid filter
                    for i in range(B):
                        xt[i, jj] = 0.0
                        ft[i, jj] = 1000.0
                        qt[i, jj] = 1.0
                    fl[jj] = 1000.0
                    ql[jj] = 1.0
                    s1[jj] = 0.0
                    s2[jj] = 0.0
        if fconst:
            for jj in range(T):
                la1[jj], la2[jj], la3[jj], lk[jj] = _svf_coefs(fl[jj], ql[jj], wsc, wmx)
            for i in range(B):
                for jj in range(T):
                    yt[i, jj], s1[jj], s2[jj] = _svf_tick(xt[i, jj], s1[jj], s2[jj], la1[jj], la2[jj],
                                                          la3[jj], lk[jj], c0, c1, c2)
        elif qconst:
            for i in range(B):
                for jj in range(T):
                    yt[i, jj], s1[jj], s2[jj] = _svf_step(xt[i, jj], ft[i, jj], ql[jj], s1[jj], s2[jj],
                                                          wsc, wmx, c0, c1, c2)
        else:
            for i in range(B):
                for jj in range(T):
                    yt[i, jj], s1[jj], s2[jj] = _svf_step(xt[i, jj], ft[i, jj], qt[i, jj], s1[jj], s2[jj],
                                                          wsc, wmx, c0, c1, c2)
        if w == T and B % 8 == 0:
            for g in range(0, T, 8):
                for i0 in range(0, B, 8):
                    _transpose8(yt, i0, g, out, j0 + g, i0)
        else:
            for jj in range(w):
                for i in range(B):
                    out[j0 + jj, i] = yt[i, jj]
        for jj in range(w):
            ic1[j0 + jj] = s1[jj]
            ic2[j0 + jj] = s2[jj]
    for j in range(full, n):
        p1 = f32(ic1[j])
        p2 = f32(ic2[j])
        for i in range(B):
            out[j, i], p1, p2 = _svf_step(x[j, i], fc[j, i], q[j, i], p1, p2, wsc, wmx, c0, c1, c2)
        ic1[j] = p1
        ic2[j] = p2


_SVF_STATE = {"ic1": 0.0, "ic2": 0.0}
_SVF_INPUTS = {"in": 0.0, "cutoff": ranged(1000.0, 0, 100000, "Hz"), "q": ranged(0.707, 0.01, 1000)}


def _run_svf(state, rate, inputs, m0, m1, m2):
    x, fc, q = inputs["in"], inputs["cutoff"], inputs["q"]
    if not (x.dtype == fc.dtype == q.dtype == np.float32 and x.flags.c_contiguous
            and fc.flags.c_contiguous and q.flags.c_contiguous):  # (the machine's rows are)
        x, fc, q = (np.ascontiguousarray(v, np.float32) for v in (x, fc, q))
    out = output_rows(state, "out", x.shape)
    svf_kernel(x, fc, q, state.ic1, state.ic2, m0, m1, m2, math.pi / rate, NYQUIST_FRACTION * math.pi, out)
    return out


@neuron_type("lowpass", kind="audio", inputs=_SVF_INPUTS, batched=True, state=_SVF_STATE)
def lowpass(state, rate, **inputs):
    """Lowpass, 12 dB/octave: cutoff in Hz (-3 dB there at q=0.707), q = resonance; both per sample.

    A state-variable filter (trapezoidal, Zavalishin/Simper) with its coefficients
    recomputed every sample, so cutoff and q can be swept at audio rate. Cutoff is
    clamped to (0, 0.49*rate), q to [0.01, 10000]; the gain at the cutoff is q.

    Example: `filt = lowpass(saw(freq=55), cutoff=800 + 300*sine(freq=0.5), q=2)`
    """
    return _run_svf(state, rate, inputs, 0.0, 0.0, 1.0)


@neuron_type("highpass", kind="audio", inputs=_SVF_INPUTS, batched=True, state=_SVF_STATE)
def highpass(state, rate, **inputs):
    """Highpass, 12 dB/octave: cutoff in Hz (-3 dB there at q=0.707), q = resonance; both per sample.

    The high output of the same state-variable filter as `lowpass`; it removes DC.

    Example: `thin = highpass(noise(), cutoff=4000, q=0.707)`
    """
    return _run_svf(state, rate, inputs, 1.0, -1.0, -1.0)


@neuron_type("bandpass", kind="audio", inputs=_SVF_INPUTS, batched=True, state=_SVF_STATE)
def bandpass(state, rate, **inputs):
    """Bandpass: centre (cutoff) in Hz with gain 1 (0 dB) there, bandwidth = cutoff/q; both per sample.

    The band output of the same state-variable filter as `lowpass`, scaled by 1/q so
    the peak stays at 0 dB while q narrows the band.

    Example: `vowel = bandpass(saw(freq=110), cutoff=700, q=8)`
    """
    return _run_svf(state, rate, inputs, 0.0, 1.0, 0.0)


# ---- delay -----------------------------------------------------------------------------

MAX_DELAY = 60.0  # seconds: the largest buffer a delay may ask for


def _delay_length(args, rate) -> int:
    # the delay may reach max*rate samples; cubic interpolation reads two more
    return int(math.ceil(float(args["max"]) * rate)) + 4


def _delay_init(names, args, ctx):
    n = len(names)
    return {"buf": np.zeros((n, _delay_length(args, ctx.rate)), np.float32),
            "pos": np.zeros(n, np.int64)}


def _delay_check(args):
    m = args["max"]
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or not 0 < m <= MAX_DELAY:
        raise BadArgument(f"delay: max must be a number of seconds in (0, {MAX_DELAY:g}], got {m!r}")


@numba.njit(cache=True, error_model="numpy")
def delay_kernel(x, time, fb, buf, pos, rate, dmax, out):
    """Write each sample, then read it back `time` seconds ago (cubic Hermite); `fb` times
    what is read goes back into the line with the sample (feedback inside the line)."""
    n, B = x.shape
    L = buf.shape[1]
    for j in range(n):
        p = pos[j]
        for i in range(B):
            buf[j, p] = x[j, i]
            d = np.float64(time[j, i]) * rate
            d = d if d > 0.0 else 0.0
            d = d if d < dmax else dmax
            k = np.int64(math.floor(d))
            f = d - k
            # A delay within float32 resolution of whole samples (time=0.01 is
            # 479.99999 samples) is read as whole: no smearing of an exact echo.
            tol = d * 2.4e-7 + 1e-6
            if f < tol:
                f = 0.0
            elif f > 1.0 - tol:
                f = 0.0
                k += 1
            i0 = p - k
            if i0 < 0:
                i0 += L
            y0 = buf[j, i0]
            if f == 0.0:
                out[j, i] = y0
            else:
                i1 = i0 - 1 if i0 > 0 else L - 1
                y1 = buf[j, i1]
                if k == 0:  # the sample after y0 is not written yet: linear
                    out[j, i] = y0 + f * (y1 - y0)
                else:
                    im = i0 + 1 if i0 < L - 1 else 0
                    i2 = i1 - 1 if i1 > 0 else L - 1
                    ym = buf[j, im]
                    y2 = buf[j, i2]
                    c1 = 0.5 * (y1 - ym)
                    c2 = ym - 2.5 * y0 + 2.0 * y1 - 0.5 * y2
                    c3 = 0.5 * (y2 - ym) + 1.5 * (y0 - y1)
                    out[j, i] = y0 + f * (c1 + f * (c2 + f * c3))
            g = fb[j, i]
            if g != 0.0:
                buf[j, p] = np.float32(x[j, i] + g * out[j, i])
            p += 1
            if p == L:
                p = 0
        pos[j] = p


@neuron_type("delay", kind="audio", inputs={"in": 0.0, "time": ranged(0.25, 0, "max", "s"), "feedback": ranged(0.0, -1, 1)}, batched=True,
             state=_delay_init, args={"max": 2.0}, check=_delay_check)
def delay(state, rate, **inputs):
    """Delay line: time in seconds (fractional, per sample, cubic interpolation), up to `max` seconds.

    `max` (seconds, default 2) sizes the buffer; longer times are clamped to it.
    `feedback` (default 0): that much of what comes out goes back in, inside the line, so
    the echoes of `delay(x, time=0.375, feedback=0.45)` repeat at exactly k * 0.375 s,
    each 0.45 times the last. A feedback made as a cycle in W instead,
    `echo = delay(x + 0.45*echo, time=T)`, passes through W once per round trip, and in
    the ordered schedule a cycle adds one block: its echoes repeat every T + block/rate
    seconds (T + 128/48000 by default); that is the way to put a filter in the loop.

    Example: `echo = delay(filt, time=0.375, feedback=0.45)`
    """
    x = inputs["in"]
    out = output_rows(state, "out", x.shape)
    delay_kernel(x, inputs["time"], inputs["feedback"], state.buf, state.pos, float(rate),
                 float(state.args["max"]) * rate, out)
    return out


# ---- reverb ----------------------------------------------------------------------------

# Freeverb (Jezar at Dreampoint, public domain): comb and allpass lengths at 44.1 kHz.
_COMBS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
_ALLPASSES = (556, 441, 341, 225)
_FIXED_GAIN = 0.015
_SCALE_ROOM, _OFFSET_ROOM = 0.28, 0.7
_SCALE_DAMP = 0.4
_ALLPASS_FEEDBACK = 0.5


@functools.lru_cache(maxsize=None)
def reverb_lengths(rate):
    return np.array([max(1, round(n * rate / 44100)) for n in _COMBS + _ALLPASSES], np.int64)


def _reverb_init(names, args, ctx):
    n = len(names)
    lengths = reverb_lengths(ctx.rate)
    return {"buf": np.zeros((n, int(lengths.sum())), np.float32),
            "idx": np.zeros((n, len(lengths)), np.int64),
            "damped": np.zeros((n, len(_COMBS)), np.float64)}


@numba.njit(cache=True, error_model="numpy")
def reverb_kernel(x, size, damp, buf, idx, damped, lengths, out):
    """Freeverb over a group: eight combs in parallel, four allpasses in series, on buf (lengths: `reverb_lengths`)."""
    n, B = x.shape
    nc = damped.shape[1]
    nl = lengths.shape[0]
    offsets = np.zeros(nl, np.int64)
    for c in range(1, nl):
        offsets[c] = offsets[c - 1] + lengths[c - 1]
    for j in range(n):
        for i in range(B):
            s = np.float64(size[j, i])
            s = 0.0 if s < 0.0 else (1.0 if s > 1.0 else s)
            dm = np.float64(damp[j, i])
            dm = 0.0 if dm < 0.0 else (1.0 if dm > 1.0 else dm)
            feedback = s * _SCALE_ROOM + _OFFSET_ROOM
            d1 = dm * _SCALE_DAMP
            d2 = 1.0 - d1
            inp = np.float64(x[j, i]) * _FIXED_GAIN
            acc = 0.0
            for c in range(nc):  # parallel lowpass-feedback combs
                at = offsets[c] + idx[j, c]
                y = np.float64(buf[j, at])
                st = y * d2 + damped[j, c] * d1
                damped[j, c] = st if abs(st) > TINY else 0.0
                v = inp + st * feedback
                buf[j, at] = v if abs(v) > TINY else 0.0
                acc += y
                k = idx[j, c] + 1
                idx[j, c] = 0 if k == lengths[c] else k
            for c in range(nc, nl):  # allpasses in series
                at = offsets[c] + idx[j, c]
                b = np.float64(buf[j, at])
                v = acc + b * _ALLPASS_FEEDBACK
                buf[j, at] = v if abs(v) > TINY else 0.0
                acc = b - acc
                k = idx[j, c] + 1
                idx[j, c] = 0 if k == lengths[c] else k
            out[j, i] = acc


@neuron_type("reverb", kind="audio", inputs={"in": 0.0, "size": ranged(0.8, 0, 1), "damp": ranged(0.5, 0, 1)}, batched=True,
             state=_reverb_init)
def reverb(state, rate, **inputs):
    """Reverb (Freeverb, mono wet only): size 0..1 (room, tail ~0.5..10 s), damp 0..1 (darker tail).

    Eight lowpass-feedback combs in parallel, then four allpasses in series, with the
    classic tunings scaled to the rate. Mix it with the dry signal in W.

    Example: `out = 0.7*synth + 0.3*reverb(synth, size=0.9, damp=0.3)`
    """
    x = inputs["in"]
    out = output_rows(state, "out", x.shape)
    reverb_kernel(x, inputs["size"], inputs["damp"], state.buf, state.idx, state.damped,
                  reverb_lengths(rate), out)
    return out
