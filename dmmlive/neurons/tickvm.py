"""The compiled tick: one compiled function (`run`) walks a table of operations: the steady
down movement of each level (its number rows' sparse product, its changing audio rows'
fill), the groups of the usual types (oscillators, filters, envelopes, clock, seq, delay,
reverb, shapers, noise, the sampler, sum, pan, the card's input; knob, midicc, midibend,
midinote, sum_kr) and the `out` sink's block, each calling the kernel the Python path calls, on the
same rows, in the same order: the same samples to the bit, without the Python around each
kernel (~2-3 µs a group and a level: the fixed cost of a tick in a live set's patch).

A plan becomes its table at the end of the second tick that ran the same steps
(`Machine._make_program`): each operation a row of int64 (its code, then each array it
reads or writes as its address and shape, `SIG`) and a row of float64 (its scalars). The
arrays are the machine's own (its X and Y rows, each group's state rows, the matrices'
arrays), so an edit that writes a weight or a state in place is seen; the machine drops
the table when it replaces any of them (a compile) and `EPOCH` (`invalidate`) when a
kernel's data changes (a sample file read again). What has no compiled form here (other
types, a slow group) runs as before, between two calls of `run` (Machine._run_program).
"""
from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ..core import plan as _plan
from ..core.registry import TICK_VM
from . import control, envelopes, filters, inputs, midi, oscillators, sampler, shaping, sinks

WIDTH = 1 + 3 * 12      # an operation's ints: its code, then up to 12 arrays as (address, rows, columns)
FWIDTH = 5              # its floats
EPOCH = [0]             # bumped where a kernel's data changes under a running table (`invalidate`)


def invalidate() -> None:
    """Make every table again at its next tick (a kernel's data changed)."""
    EPOCH[0] += 1


F32, F64, I64, I32, U64 = np.float32, np.float64, np.int64, np.int32, np.uint64  # (as `run` reads arrays)


@intrinsic
def _void(typingctx, addr):
    """An int64 address as a pointer (what `numba.carray` makes an array of)."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))
    return sig, codegen


@numba.njit(inline="always")
def _a1(op, k, dtype):
    """Array k of operation `op` (its address and length), one dimension of `dtype`."""
    return numba.carray(_void(op[1 + 3 * k]), op[2 + 3 * k], dtype)


@numba.njit(inline="always")
def _a2(op, k, dtype):
    """Array k of operation `op` (its address, rows and columns), two dimensions of `dtype`."""
    return numba.carray(_void(op[1 + 3 * k]), (op[2 + 3 * k], op[3 + 3 * k]), dtype)


@numba.njit(cache=True)
def _finite32(a):
    """Whether every sample of a float32 block is finite: its exponent bits, an integer
    test that vectorises (the exact test the Python path makes)."""
    u = a.ravel().view(np.uint32)
    bad = 0
    for i in range(u.shape[0]):
        bad |= (u[i] & np.uint32(0x7F800000)) == np.uint32(0x7F800000)
    return bad == 0


@numba.njit(cache=True)
def _finite64(a):
    """`_finite32` for a float64 row (numbers)."""
    u = a.view(np.uint64)
    bad = 0
    for i in range(u.shape[0]):
        bad |= (u[i] & np.uint64(0x7FF0000000000000)) == np.uint64(0x7FF0000000000000)
    return bad == 0


@numba.njit(cache=True)
def _csr_matvec(p, ind, data, y, out):
    """out = m @ y, row by row in scipy's order (its csr_matvec: 0.0, then each term added)."""
    for i in range(out.shape[0]):
        s = 0.0
        for jj in range(p[i], p[i + 1]):
            s += data[jj] * y[ind[jj]]
        out[i] = s


@numba.njit(cache=True)
def _mul(a, b, out):
    n, B = out.shape
    for i in range(n):
        for j in range(B):
            out[i, j] = a[i, j] * b[i, j]


# operation codes
(MATVEC, ZERO, DYN, SINE, SAW, SQUARE, TRI, PHASOR, SVF, DELAY, REVERB, AR, ADSR, CLOCK, SEQ, MUL, TANH, CLIP,
 SAMPLE, NOISE_WHITE, NOISE_PINK, COPY, OUT, PAN, INPUT, TOWARD, NOTE, COPYN) = range(28)


@numba.njit(cache=True)
def run(ops, fl, start, stop):
    """Run operations start..stop-1. Returns stop, or the index of the operation whose
    output was not finite (the caller mutes it and goes on from the next)."""
    for o in range(start, stop):
        op = ops[o]
        f = fl[o]
        c = op[0]
        out = _a2(op, 0, F32)  # (the first array of a kernel's operation: its output rows)
        if c == MATVEC:
            _csr_matvec(_a1(op, 1, I32), _a1(op, 2, I32), _a1(op, 3, F64), _a1(op, 4, F64), _a1(op, 0, F64))
            continue
        elif c == ZERO:
            z = _a1(op, 0, F64)
            z[:] = 0.0
            continue
        elif c == DYN:
            _plan.dyn_kernel(_a2(op, 1, I64), _a1(op, 2, I32), _a1(op, 3, I32), _a1(op, 4, F64), _a1(op, 5, F64),
                             _a1(op, 6, I32), _a1(op, 7, I32), _a1(op, 8, F32), _a2(op, 9, F32), out)
            continue
        elif c == SINE:
            oscillators.sine_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a1(op, 4, F64), out, f[0])
        elif c == SAW:
            oscillators.saw_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a1(op, 3, F64), _a2(op, 4, F32), out, f[0],
                                   oscillators.STEP_TABLE, oscillators.DSTEP_TABLE)
        elif c == SQUARE:
            oscillators.square_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a1(op, 4, F64),
                                      _a1(op, 5, F64), _a2(op, 6, F32), out, f[0],
                                      oscillators.STEP_TABLE, oscillators.DSTEP_TABLE)
        elif c == TRI:
            oscillators.tri_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a1(op, 3, F64), _a2(op, 4, F32), out, f[0],
                                   oscillators.RAMP_TABLE, oscillators.DRAMP_TABLE)
        elif c == PHASOR:
            oscillators.phasor_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a1(op, 3, F64), out, f[0])
        elif c == SVF:
            filters.svf_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a1(op, 4, F64), _a1(op, 5, F64),
                               f[0], f[1], f[2], f[3], f[4], out)
        elif c == DELAY:
            filters.delay_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a2(op, 4, F32),
                                 _a1(op, 5, I64), f[0], f[1], out)
        elif c == REVERB:
            filters.reverb_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a2(op, 4, F32),
                                  _a2(op, 5, I64), _a2(op, 6, F64), _a1(op, 7, I64), out)
        elif c == AR:
            envelopes.ar_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a1(op, 4, F64), _a1(op, 5, F64),
                                _a1(op, 6, F64), f[0], out)
        elif c == ADSR:
            envelopes.adsr_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a2(op, 4, F32),
                                  _a2(op, 5, F32), _a1(op, 6, F64), _a1(op, 7, F64), _a1(op, 8, F64), f[0], out)
        elif c == CLOCK:
            envelopes.clock_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a1(op, 3, F64), f[0], _a1(op, 4, F64), out)
        elif c == SEQ:
            envelopes.seq_kernel(_a2(op, 1, F32), _a1(op, 2, F64), _a1(op, 3, F64), _a1(op, 4, F64), out)
        elif c == MUL:
            _mul(_a2(op, 1, F32), _a2(op, 2, F32), out)
        elif c == TANH:
            shaping.tanh_kernel(_a2(op, 1, F32), _a2(op, 2, F32), out)
        elif c == CLIP:
            shaping.clip_kernel(_a2(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), out)
        elif c == SAMPLE:
            sampler.play(_a1(op, 1, F32), _a2(op, 2, F32), _a2(op, 3, F32), _a2(op, 4, F32), _a1(op, 5, F64),
                         _a1(op, 6, F64), out)
        elif c == NOISE_WHITE:
            oscillators.white(_a2(op, 1, F32), _a1(op, 2, U64), out)
        elif c == NOISE_PINK:
            oscillators.pink_kernel(_a2(op, 1, F32), _a1(op, 2, U64), _a2(op, 3, F64), out)
        elif c == COPY:
            out[:] = _a2(op, 1, F32)
        elif c == TOWARD:  # knob, midicc, midibend: one pole toward the target (control.toward_target)
            y, v, t = _a1(op, 0, F64), _a1(op, 1, F64), _a1(op, 2, F64)
            a = f[0]
            for i in range(y.shape[0]):
                v[i] += a * (t[i] - v[i])
                y[i] = v[i]
            if not _finite64(y):
                return o
            continue
        elif c == NOTE:  # midinote: its state rows are its outputs
            ok = True
            for k in range(4):
                y, v = _a1(op, k, F64), _a1(op, 4 + k, F64)
                y[:] = v
                ok = ok and _finite64(y)
            if not ok:
                return o
            continue
        elif c == COPYN:  # sum_kr: its input is its output
            y = _a1(op, 0, F64)
            y[:] = _a1(op, 1, F64)
            if not _finite64(y):
                return o
            continue
        elif c == INPUT:
            row = _a1(op, 1, F32)
            for i in range(out.shape[0]):
                out[i] = row
        elif c == PAN:  # (two outputs: both checked)
            shaping.pan_kernel(_a2(op, 2, F32), _a2(op, 3, F32), out, _a2(op, 1, F32))
            if not (_finite32(out) and _finite32(_a2(op, 1, F32))):
                return o
            continue
        elif c == OUT:  # the `out` sink's block: the next of a run of blocks (`Sink`), then its count
            sc = _a1(op, 3, F64)
            n = op[2 + 3 * 1]
            i = min(np.int64(sc[0]), out.shape[0] // n - 1)  # (`Sink.ready` renews the run before it is
            #                                                   used up: never past its end, whatever calls)
            bad, peak = sinks.interleave(_a1(op, 1, F32), _a1(op, 2, F32), out[i * n:(i + 1) * n])
            sc[0] = i + 1
            sc[1] = bad
            sc[2] = peak
            continue
        if not _finite32(out):
            return o
    return stop


def _cache_follows_kernels() -> None:
    """numba keys a cached function on its own file alone, and `run` compiles in the
    kernels of seven other modules: where any of them changed since `run` was cached (a
    kernel edited), that cache is dropped, so `run` is compiled again rather than loaded
    with the old kernels in it (a stamp of their sources kept beside numba's cache)."""
    files = [m.__file__ for m in (oscillators, filters, envelopes, shaping, sampler, sinks, _plan)] + [__file__]
    digest = hashlib.sha1()
    for f in files:
        with open(f, "rb") as fh:
            digest.update(fh.read())
    cache = run._cache  # noqa: SLF001  (numba's own: the dispatcher's cache has no public name)
    mark = Path(cache.cache_path) / "tickvm.run.sources"
    try:
        if mark.read_text() == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        cache.flush()
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(digest.hexdigest())
    except OSError:
        pass  # (a cache it cannot write: numba compiles every time anyway)


_cache_follows_kernels()


def warm() -> None:
    """Compile `run` now, or load it from numba's cache beside the code: ~10 s the first
    time on a machine (set-up does it: `make`), tens of ms after. The engine calls it
    before its first sound, so no tick waits for it."""
    run(np.zeros((0, WIDTH), np.int64), np.zeros((0, FWIDTH)), 0, 0)


# ---- a plan's table ------------------------------------------------------------------------
# each operation's arrays as `run` reads them: dtype (f float32, d float64, q int64, i int32,
# u uint64) and dimensions
SIG = {MATVEC: "d1 i1 i1 d1 d1", ZERO: "d1", DYN: "f2 q2 i1 i1 d1 d1 i1 i1 f1 f2",
       SINE: "f2 f2 f2 f2 d1", SAW: "f2 f2 f2 d1 f2", SQUARE: "f2 f2 f2 f2 d1 d1 f2", TRI: "f2 f2 f2 d1 f2",
       PHASOR: "f2 f2 f2 d1", SVF: "f2 f2 f2 f2 d1 d1", DELAY: "f2 f2 f2 f2 f2 q1",
       REVERB: "f2 f2 f2 f2 f2 q2 d2 q1", AR: "f2 f2 f2 f2 d1 d1 d1", ADSR: "f2 f2 f2 f2 f2 f2 d1 d1 d1",
       CLOCK: "f2 f2 f2 d1 d1", SEQ: "f2 f2 d1 d1 d1", MUL: "f2 f2 f2", TANH: "f2 f2 f2", CLIP: "f2 f2 f2 f2",
       SAMPLE: "f2 f1 f2 f2 f2 d1 d1", NOISE_WHITE: "f2 f2 u1", NOISE_PINK: "f2 f2 u1 d2", COPY: "f2 f2",
       OUT: "f2 f1 f1 d1", PAN: "f2 f2 f2 f2", INPUT: "f2 f1", TOWARD: "d1 d1 d1", NOTE: "d1 d1 d1 d1 d1 d1 d1 d1",
       COPYN: "d1 d1"}
_CHAR = {"f": np.dtype(np.float32), "d": np.dtype(np.float64), "q": np.dtype(np.int64), "i": np.dtype(np.int32),
         "u": np.dtype(np.uint64)}
SIG = {c: [(_CHAR[x[0]], int(x[1])) for x in s.split()] for c, s in SIG.items()}
_DTYPES = set(_CHAR.values())


class Table:
    """Operations being written: `add(code, arrays, floats)` -> its index, or None where an
    array cannot be read by address as `run` reads it (its dtype and dimensions, `SIG`;
    C-contiguous)."""

    def __init__(self):
        self.ints, self.floats, self.keep = [], [], []

    def add(self, code, arrays, floats=()):
        row = [code]
        sig = SIG[code]
        if len(arrays) != len(sig):
            return None
        for a, (dt, nd) in zip(arrays, sig):
            if not isinstance(a, np.ndarray) or a.dtype != dt or a.ndim != nd or not a.flags.c_contiguous:
                return None
            row += [a.ctypes.data if a.size else _EMPTY[a.dtype].ctypes.data,
                    a.shape[0] if a.ndim else 1, a.shape[1] if a.ndim == 2 else 0]
        self.keep.append(arrays)
        self.ints.append(row + [0] * (WIDTH - len(row)))
        self.floats.append(list(floats) + [0.0] * (FWIDTH - len(floats)))
        return len(self.ints) - 1

    def arrays(self):
        ints = np.array(self.ints, np.int64).reshape(-1, WIDTH)
        floats = np.array(self.floats, np.float64).reshape(-1, FWIDTH)
        return ints, floats


_EMPTY = {d: np.zeros(1, d) for d in _DTYPES}  # (the address of an empty array: any valid one)


def down(table, steady) -> bool:
    """A level's steady down movement (`Machine._steady`'s tuple) as operations."""
    _, _, Yn, Ya, mn, xn, xa, dyn = steady
    if xn is not None:
        if mn is not None:
            if mn.indptr.dtype != np.int32 or mn.indices.dtype != np.int32 or mn.data.dtype != np.float64 \
                    or table.add(MATVEC, (xn, mn.indptr, mn.indices, mn.data, Yn)) is None:
                return False
        elif table.add(ZERO, (xn,)) is None:
            return False
    if xa is not None:
        runs, (np_, ni, nd), (ap, ai, ad) = dyn
        if np_.dtype != np.int32 or ni.dtype != np.int32 or ap.dtype != np.int32 or ai.dtype != np.int32 \
                or nd.dtype != np.float64 or ad.dtype != np.float32 \
                or table.add(DYN, (xa, runs, np_, ni, nd, Yn, ap, ai, ad, Ya)) is None:
            return False
    return True


def _svf_pack(m0, m1, m2):
    def pack(ins, st, out, rate, args):
        return SVF, (out, ins["in"], ins["cutoff"], ins["q"], st["ic1"], st["ic2"]), (m0, m1, m2, math.pi / rate,
                                                                                 filters.NYQUIST_FRACTION * math.pi)
    return pack


def _sample(ins, st, out, rate, args):
    try:
        data = sampler.load(args["file"], rate)
    except Exception:
        return None  # (the Python path reports it and mutes the group)
    return SAMPLE, (out, data, ins["trig"], ins["rate"], ins["amp"], st["pos"], st["prev"]), ()


def _noise(ins, st, out, rate, args):
    if args["color"] == "pink":
        return NOISE_PINK, (out, ins["amp"], st["rng"], st["pink"]), ()
    return NOISE_WHITE, (out, ins["amp"], st["rng"]), ()


# type name -> pack(inputs, state views (and grid, audio_in, block), output rows, rate, args)
# -> (code, arrays, floats) or None
PACK = {
    "sine": lambda i, s, o, r, a: (SINE, (o, i["freq"], i["amp"], i["phase"], s["phase_acc"]), (1.0 / r,)),
    "saw": lambda i, s, o, r, a: (SAW, (o, i["freq"], i["amp"], s["phase_acc"], s["blep"]), (1.0 / r,)),
    "square": lambda i, s, o, r, a: (SQUARE, (o, i["freq"], i["amp"], i["width"], s["phase_acc"], s["width_prev"],
                                              s["blep"]), (1.0 / r,)),
    "tri": lambda i, s, o, r, a: (TRI, (o, i["freq"], i["amp"], s["phase_acc"], s["blep"]), (1.0 / r,)),
    "phasor": lambda i, s, o, r, a: (PHASOR, (o, i["freq"], i["amp"], s["phase_acc"]), (1.0 / r,)),
    "lowpass": _svf_pack(0.0, 0.0, 1.0),
    "highpass": _svf_pack(1.0, -1.0, -1.0),
    "bandpass": _svf_pack(0.0, 1.0, 0.0),
    "delay": lambda i, s, o, r, a: (DELAY, (o, i["in"], i["time"], i["feedback"], s["buf"], s["pos"]),
                                    (float(r), float(a["max"]) * r)),
    "reverb": lambda i, s, o, r, a: (REVERB, (o, i["in"], i["size"], i["damp"], s["buf"], s["idx"], s["damped"],
                                              filters.reverb_lengths(r)), ()),
    "ar": lambda i, s, o, r, a: (AR, (o, i["trig"], i["attack"], i["release"], s["level"], s["stage"], s["prev"]),
                                 (float(r),)),
    "adsr": lambda i, s, o, r, a: (ADSR, (o, i["gate"], i["attack"], i["decay"], i["sustain"], i["release"],
                                          s["level"], s["stage"], s["top"]), (float(r),)),
    "clock": lambda i, s, o, r, a: (CLOCK, (o, i["bpm"], i["div"], s["acc"], s["grid"]), (60.0 * r,)),
    "seq": lambda i, s, o, r, a: (SEQ, (o, i["trig"], envelopes.seq_values(a["values"]), s["index"], s["prev"]), ()),
    "mul": lambda i, s, o, r, a: (MUL, (o, i["a"], i["b"]), ()) if i["a"].shape == i["b"].shape == o.shape
    else None,
    "tanh": lambda i, s, o, r, a: (TANH, (o, i["in"], i["drive"]), ()),
    "clip": lambda i, s, o, r, a: (CLIP, (o, i["in"], i["lo"], i["hi"]), ()),
    "sample": _sample,
    "noise": _noise,
    "sum": lambda i, s, o, r, a: (COPY, (o, i["in"]), ()),
    "sum_kr": lambda i, s, o, r, a: (COPYN, (o, i["in"]), ()),
    "pan": lambda i, s, o, r, a: (PAN, (o["left"], o["right"], i["in"], i["pos"]), ()),
    "input": lambda i, s, o, r, a: (INPUT, (o, s["audio_in"][int(a["channel"]) - 1]), ()),
}
def _toward(i, s, o, r, a):
    return TOWARD, (o, s["value"], s["target"]), (control.smoothing(float(a["lag"]), r, s["block"]),)


PACK.update({"knob": _toward, "midicc": _toward, "midibend": _toward,
             "midinote": lambda i, s, o, r, a: (NOTE, (o["freq"], o["gate"], o["velocity"], o["note"], s["freq"],
                                                       s["gate"], s["velocity"], s["note"]), ())})
MULTI = {"pan", "midinote"}  # types of several outputs: their pack gets the rows by port


class Sink:
    """The `out` sink in the table: `OUT` interleaves its two rows into the next block of
    `blocks` (a run of SINK_BLOCKS, each handed out once: readers keep them), counting
    its non-finite samples and its peak into `count` [next block, bad, peak]; the Python
    after the table (`done`) finishes the block as `sinks.out` does (`sinks.finish`)."""
    SINK_BLOCKS = 64

    def __init__(self, table, left, right):
        self.n = left.shape[0]
        self.count = np.zeros(3)
        self.table, self.at = table, None
        self._fresh()
        self.at = table.add(OUT, (self.blocks, left, right, self.count))

    def _fresh(self):
        self.blocks = np.empty((self.SINK_BLOCKS * self.n, 2), np.float32)
        self.views = [self.blocks[i * self.n:(i + 1) * self.n] for i in range(self.SINK_BLOCKS)]
        self.count[0] = 0.0

    def ready(self, ints) -> None:
        """Before the table runs: a fresh run of blocks where this one is used up."""
        if self.count[0] >= self.SINK_BLOCKS:
            self._fresh()
            ints[self.at, 1] = self.blocks.ctypes.data
            self.table.keep[self.at] = (self.blocks,) + tuple(self.table.keep[self.at][1:])

    def done(self, state) -> None:
        c = self.count
        sinks.finish(self.views[int(c[0]) - 1], int(c[1]), float(c[2]), state)


def sink(table, s, inputs):
    """The `out` sink `s` (its inputs: its two rows) as an operation: a Sink, or None."""
    if s.decl.type.fn is not _OUT or set(inputs) != {"left", "right"}:
        return None
    left, right = inputs["left"], inputs["right"]
    if left.shape != right.shape or left.ndim != 1:
        return None
    k = Sink(table, left, right)
    return k if k.at is not None else None


def group(table, g, ins, views, outs, rate, block, grid, audio_in):
    """A group's call as an operation: its index in the table, or None (it runs in Python).
    `ins`: its input rows by port, `views`: its state rows, `outs`: its output rows by port,
    `grid`: the beat grid's array, `audio_in`: the machine's input block."""
    name = g.type.name
    pack = PACK.get(name)
    if pack is None or g.every != 1 or g.type.fn is not _FN.get(name) or (len(outs) != 1 and name not in MULTI):
        return None
    if any(v is None or not (v.dtype == np.float32 and v.ndim == 2 or v.dtype == np.float64 and v.ndim == 1)
           for v in ins.values()):
        return None  # (the array's kind is checked again against the operation's, SIG)
    try:
        got = pack(ins, dict(views, grid=grid, audio_in=audio_in, block=block), outs if name in MULTI else
                   next(iter(outs.values())), rate, g.args)
    except (KeyError, TypeError, ValueError):
        return None
    if got is None:
        return None
    code, arrays, floats = got
    return table.add(code, arrays, floats)


# the functions whose work the operations do (a type registered again under the same name
# by someone else runs in Python)
_FN = {"sine": oscillators.sine, "saw": oscillators.saw, "square": oscillators.square, "tri": oscillators.tri,
       "phasor": oscillators.phasor, "lowpass": filters.lowpass, "highpass": filters.highpass,
       "bandpass": filters.bandpass, "delay": filters.delay, "reverb": filters.reverb, "ar": envelopes.ar,
       "adsr": envelopes.adsr, "clock": envelopes.clock, "seq": envelopes.seq, "mul": shaping.mul,
       "tanh": shaping.tanh, "clip": shaping.clip, "sample": sampler.sample, "noise": oscillators.noise,
       "sum": shaping.sum_, "sum_kr": shaping.sum_kr, "pan": shaping.pan, "input": inputs.input_,
       "knob": control.knob, "midicc": midi.midicc, "midibend": midi.midibend, "midinote": midi.midinote}
_FN = {k: getattr(v, "fn", v) for k, v in _FN.items()}
_OUT = getattr(sinks.out, "fn", sinks.out)

TICK_VM["vm"] = sys.modules[__name__]
