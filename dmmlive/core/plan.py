"""The compiled execution plan: W flattened to per-kind sparse matrices, neurons in
levels (dependency order) and, inside a level, grouped by type for one call each.
Compiling (and compiling again by what changed) is `compiler.py`; a plan takes changed
weight values in place (`Plan.set_weights`)."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.sparse as sp
# scipy's kernels behind csr @ dense, which accumulate into their output
from scipy.sparse._sparsetools import csr_matvec as _csr_matvec, csr_matvecs as _csr_matvecs

from . import vv
from .registry import NeuronType, compatible

DENSE = ("number", "audio")  # kinds held in numpy rows; vvalue rows are V-values
BUILTIN = ("self", "one", "edits")  # the neurons every machine has (with its sinks)


@dataclass
class Decl:
    type: NeuronType
    args: dict
    key: tuple  # (type name, frozen args): neurons with equal keys share a group
    every: int = 1  # it fires every `every` ticks (args "every" or "hz"), holding its outputs between

    @staticmethod
    def make(t: NeuronType, args: dict, every: int = 1) -> "Decl":
        return Decl(t, args, (t.name, freeze(args)), every)


class Decls(dict):
    """The declarations, in declaration order, with each name's place in that order
    (`seq`, increasing): a name declared again in place keeps its place, one declared anew
    (or taken out and put back) goes last. The layout by change finds where a neuron goes
    among the others from it, without walking them."""

    def __init__(self, items=()):
        super().__init__()
        self.seq: dict = {}
        self._next = 0
        for k, v in dict(items).items():
            self[k] = v

    def __setitem__(self, key, value):
        if key not in self:
            self.seq[key] = self._next
            self._next += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        super().__delitem__(key)
        del self.seq[key]

    def pop(self, key, *default):
        if key in self:
            del self.seq[key]
        return super().pop(key, *default)

    def update(self, other=(), **kw):
        for k, v in dict(other, **kw).items():
            self[k] = v

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self):
        key, value = super().popitem()
        del self.seq[key]
        return key, value

    def clear(self):
        super().clear()
        self.seq.clear()

    def __reduce__(self):
        return Decls, (list(self.items()),)


def freeze(args: dict) -> tuple:
    def f(v):
        if isinstance(v, dict):
            return tuple(sorted((k, f(x)) for k, x in v.items()))
        if isinstance(v, (list, tuple)):
            return tuple(f(x) for x in v)
        return v
    return tuple(sorted((k, f(v)) for k, v in args.items()))


@dataclass
class Group:
    """Batched neurons of one type and arguments inside one level."""
    key: tuple
    type: NeuronType
    args: dict
    names: list
    every: int = 1                                      # fires every k ticks (its members' `every`)
    state_slice: slice = None                           # rows of the group's state arrays
    inputs: dict = field(default_factory=dict)          # port -> (kind, slice of X[kind])
    outputs: dict = field(default_factory=dict)         # port -> (kind, slice of Y[kind])


@dataclass
class Single:
    """One neuron called on its own (non-batched types and built-ins)."""
    name: str
    decl: Decl
    inputs: dict = field(default_factory=dict)  # port -> (kind, row or key)
    outputs: dict = field(default_factory=dict)  # port -> (kind, row or key)


@dataclass
class Level:
    groups: list
    singles: list
    rows: dict = field(default_factory=dict)     # kind -> slice of X[kind] for this level
    mats: dict = field(default_factory=dict)     # (dst kind, src kind) -> CSR over the level's rows
    fade_mats: list = field(default_factory=list)  # per glide in progress: like mats, its ΔW
    # audio input rows whose value can change from tick to tick (a source other than
    # `one`), as runs [a, b) relative to the level: the other rows are constants, filled
    # once after a compile
    dyn_runs: list = field(default_factory=list)
    filled: bool = False
    stale: set = field(default_factory=set)      # constant audio rows to fill again (relative)
    dyn_starts: list = field(default_factory=list)
    dyn_np: tuple = None                         # dyn_fill's arguments, kept while the matrices stay
    steady: tuple = None                         # the steady down movement's views and matrices (Machine._run_steps)
    _row_at: dict = field(default_factory=dict)   # "vvalue"/"image" -> {input key: index in vrows/irows}
    vrows: list = field(default_factory=list)    # [(input key, [(output key, w), ...])]
    irows: list = field(default_factory=list)    # image inputs: [(input key, [(output key, w, kind), ...])]

    def row_at(self, kind) -> dict:
        at = self._row_at.get(kind)
        if at is None:
            rows = self.vrows if kind == "vvalue" else self.irows
            at = self._row_at[kind] = {key: i for i, (key, _) in enumerate(rows)}
        return at

    def refill(self, X, Yn) -> None:
        """Fill the stale constant audio rows again (X: the level's audio rows), with the
        kernel a full fill uses, so the values are the same to the bit."""
        m = self.mats.get(("audio", "number"))
        p, ind, data = m.indptr, m.indices, m.data
        for r in self.stale:
            # a row or two: scipy's sum, term by term in the same order, in Python floats
            # (C doubles) is cheaper than a call into scipy for one row
            acc = 0.0
            for k in range(p[r], p[r + 1]):
                acc += float(data[k]) * float(Yn[ind[k]])
            X[r] = acc
        self.stale.clear()

    def is_dynamic(self, r) -> bool:
        """Whether audio row r (relative to the level) is in a dynamic run."""
        runs = self.dyn_runs
        i = bisect.bisect_right(self.dyn_starts, r) - 1 if runs else -1
        return i >= 0 and r < runs[i][1]


@dataclass
class Plan:
    active: list
    levels: list
    out_index: dict          # kind -> Index: (neuron, port) -> row (layout.Index, answers like a dict)
    in_index: dict           # kind -> Index
    n_in: dict
    ignored: list            # (path, reason) of entries of W the plan cannot use
    state_layout: dict       # group key -> [names in row order]
    vinputs: dict = field(default_factory=dict)  # neuron -> [vvalue input ports] (variadic types)
    level_of: dict = field(default_factory=dict)  # active neuron -> index of its level
    names: list = field(default_factory=list)     # the active neurons, level by level
    dyn: np.ndarray = None                        # audio input rows fed by more than `one`
    out_map: dict = None  # kind -> the running plan's output row -> this plan's (-1: gone)
    back: set = None  # ordered: the links cut to break cycles {(dst, src)} (not self or pinned)
    tail: list = None        # declared neurons not active, in declaration order: their output rows end the index
    out_active: dict = None  # kind -> the output rows of active neurons (the tail's start)
    fade_touched: set = None  # neurons kept active by a glide in progress
    fade_edges: dict = field(default_factory=dict)  # ordered: links only a glide carries, dst -> {src}
    hist: dict = field(default_factory=dict)  # ordered: mixer -> {level: its sources there} (compiler._reorder)
    left: list = None         # the neurons that left the active set since the running plan (None: not known)
    _slots: dict = field(default_factory=dict)    # entry -> where its weight sits (set_weights)

    def set_weights(self, decls, changes) -> bool:
        """Write new values of entries the plan runs already into it, in place: the cost is
        the entries', not W's. `changes`: [(dst, inp, src, out, w)], each an entry that was
        non-zero and stays non-zero. Entries the plan ignores stay ignored. False when one
        is not found where a compile would have put it: the caller compiles then."""
        slots = self._slots
        for dst, inp, src, out, w in changes:
            key = (dst, inp, src, out)
            where = slots.get(key)
            if where is None:
                where = slots[key] = self._locate(decls, key)
                if where is None:
                    return False
            w = float(w)
            for store, i, lv, r in where:
                if lv is None:        # a vvalue or image row: its terms
                    store[i] = (store[i][0], w) + store[i][2:]
                else:                 # a matrix's data; r: a constant audio row to fill again
                    store[i] = w
                    if r is not None:
                        lv.stale.add(r)
        return True

    def slots(self, changes) -> list:
        """Where `set_weights` wrote each of `changes` (the lists it keeps per entry)."""
        return [self._slots[c[:4]] for c in changes]

    def _locate(self, decls, key):
        """Where the plan keeps the weight of entry `key`: [(store, index, level, row)], empty
        for an entry it ignores, None where it is not found."""
        dst, inp, src, out = key
        if check_entry(decls, dst, inp, src, out, 1.0):
            return ()  # ignored (and reported) before, ignored now
        li = self.level_of.get(dst)
        if li is None:
            return None
        lv = self.levels[li]
        dk = decls[dst].type.input_kind(inp)
        if dk in ("vvalue", "image"):
            i = lv.row_at(dk).get((dst, inp))
            if i is None:
                return None
            terms = (lv.vrows if dk == "vvalue" else lv.irows)[i][1]
            hit = [j for j, term in enumerate(terms) if term[0] == (src, out)]
            return [(terms, hit[0], None, None)] if len(hit) == 1 else None
        sk = decls[src].type.output_kind(out)
        r, c = self.in_index[dk].get((dst, inp)), self.out_index[sk].get((src, out))
        m = lv.mats.get((dk, sk))
        if r is None or c is None or m is None:
            return None
        r -= lv.rows[dk].start
        i = _csr_find(m, r, c)
        if i is None:
            return None
        const = dk == "audio" and not lv.is_dynamic(r)  # filled again, not every tick
        return [(m.data, i, lv, r if const else None)]


def entries(W):
    """Every (dst, inp, src, out, w) leaf of the rank-4 matrix."""
    if not isinstance(W, dict):
        return
    for dst, ins in W.items():
        if not isinstance(ins, dict):
            continue
        for inp, srcs in ins.items():
            if not isinstance(srcs, dict):
                continue
            for src, outs in srcs.items():
                if not isinstance(outs, dict):
                    continue
                for out, w in outs.items():
                    yield dst, inp, src, out, w


def check_entry(decls, dst, inp, src, out, w):
    """None if W[dst][inp][src][out] = w can run, else the reason it cannot."""
    if not vv.is_number(w) or not np.isfinite(w):
        return f"weight {w!r} is not a finite number"
    d, s = decls.get(dst), decls.get(src)
    if d is None:
        return f"no neuron {dst!r}"
    if s is None:
        return f"no neuron {src!r}"
    dk, sk = d.type.input_kind(inp), s.type.output_kind(out)
    if dk is None:
        return f"{dst!r} ({d.type.name}) has no input {inp!r}"
    if sk is None:
        return f"{src!r} ({s.type.name}) has no output {out!r}"
    if not compatible(dk, sk):
        return f"{dst}.{inp} is {dk} but {src}.{out} is {sk}"
    return None


def order_levels(active, edges, pinned_last, synchronous, cut=None):
    """Levels of neurons: one level (synchronous), or dependency order with back
    edges of cycles cut (ordered). `edges`: dst -> set of srcs. `cut`: a set that gets the
    links cut to break cycles (dst, src), but for a neuron's link to itself or to a pinned
    one (always cut)."""
    if synchronous:
        return [list(active)]
    pos = {n: i for i, n in enumerate(active)}
    state, post, back = {}, [], set()
    for root in active:
        if root in state:
            continue
        stack = [(root, iter(sorted(edges.get(root, ()), key=pos.get)))]
        state[root] = 1
        while stack:
            n, it = stack[-1]
            for p in it:
                if p == n or p in pinned_last:
                    back.add((n, p))
                elif state.get(p) == 1:
                    back.add((n, p))  # p is on the stack: a cycle, cut here
                    if cut is not None:
                        cut.add((n, p))
                elif p not in state:
                    state[p] = 1
                    stack.append((p, iter(sorted(edges.get(p, ()), key=pos.get))))
                    break
            else:
                state[n] = 2
                post.append(n)
                stack.pop()
    level = {}
    for n in post:  # post-order: every forward predecessor comes first
        if n in pinned_last:
            continue
        level[n] = max((level[p] + 1 for p in edges.get(n, ()) if (n, p) not in back and p in level), default=0)
    depth = max(level.values(), default=-1) + 1
    levels = [[] for _ in range(depth)]
    for n in active:
        if n in level:
            levels[level[n]].append(n)
    tail = [n for n in active if n in pinned_last]
    if tail:
        levels.append(tail)
    return levels


def glide_mats(plan, decls, D) -> list:
    """Per level, the matrices of one glide's ΔW `D`, built from D's entries alone."""
    coo = [{} for _ in plan.levels]
    for dst, inp, src, out, w in entries(D):
        if w == 0 or check_entry(decls, dst, inp, src, out, w):
            continue
        dk = decls[dst].type.input_kind(inp)
        li = plan.level_of.get(dst)
        if dk not in DENSE or li is None:
            continue
        sk = decls[src].type.output_kind(out)
        r, c = plan.in_index[dk].get((dst, inp)), plan.out_index[sk].get((src, out))
        if r is not None and c is not None:
            coo[li].setdefault((dk, sk), []).append((r - plan.levels[li].rows[dk].start, c, float(w)))
    return [_csr_mats(lv, items, plan.out_index) for lv, items in zip(plan.levels, coo)]


def _csr_mats(lv, coo, out_index) -> dict:
    mats = {}
    for (dk, sk), items in coo.items():
        r, c, w = zip(*items)
        shape = (lv.rows[dk].stop - lv.rows[dk].start, len(out_index[sk]))
        dtype = np.float32 if dk == "audio" and sk == "audio" else np.float64
        mats[(dk, sk)] = sp.csr_matrix((np.array(w, dtype), (np.array(r), np.array(c))), shape=shape)
    return mats


def _csr_find(m, r, c):
    """The index in m.data of the stored entry m[r, c], or None."""
    a, b = m.indptr[r], m.indptr[r + 1]
    hit = np.flatnonzero(m.indices[a:b] == c)
    return int(a + hit[0]) if len(hit) == 1 else None


def spmm_add(m, Y, out, a=None, b=None) -> None:
    """out += m[a:b] @ Y (all rows without a, b) for a CSR matrix m and C-contiguous
    blocks Y, written in place, with no copy of m's rows."""
    if a is None:
        a, b = 0, m.shape[0]
    p = m.indptr
    lo, hi = p[a], p[b]
    if out.flags.c_contiguous and Y.flags.c_contiguous and Y.dtype == out.dtype == m.dtype:
        _csr_matvecs(b - a, m.shape[1], Y.shape[1], p[a:b + 1] - lo, m.indices[lo:hi], m.data[lo:hi],
                     Y.ravel(), out.ravel())
    else:
        out += m[a:b] @ Y


def dyn_fill(lv, Yn, Ya, X) -> None:
    """The dynamic audio rows of level `lv` (its `dyn_runs`), X: the level's audio rows: the
    broadcast constants (number -> audio) and the audio product, in one compiled pass: the
    same sums in the same order as scipy's kernels (a float64 sum of the number terms
    rounded to float32, then each audio term added sample by sample in float32)."""
    runs, (np_, ni, nd), (ap, ai, ad) = dyn_args(lv, X.shape[0])
    dyn_kernel(runs, np_, ni, nd, Yn, ap, ai, ad, Ya, X)


def dyn_args(lv, n_rows):
    """dyn_fill's arguments for level `lv`: its runs and its two matrices' arrays, kept
    with the level while the matrices stay (a weight changed in place keeps its matrix)."""
    man, maa = lv.mats.get(("audio", "number")), lv.mats.get(("audio", "audio"))
    c = lv.dyn_np
    if c is None or c[0] is not man or c[1] is not maa:
        runs = np.array(lv.dyn_runs, np.int64).reshape(-1, 2)
        none = np.zeros(n_rows + 1, np.int32), np.zeros(0, np.int32)  # a kind without a matrix: no terms
        num = (man.indptr, man.indices, man.data) if man is not None else (*none, np.zeros(0))
        aud = (maa.indptr, maa.indices, maa.data) if maa is not None else (*none, np.zeros(0, np.float32))
        c = lv.dyn_np = (man, maa, runs, num, aud)
    return c[2:]


@numba.njit(cache=True)
def dyn_kernel(runs, np_, ni, nd, Yn, ap, ai, ad, Ya, X):
    n = X.shape[1]
    for q in range(runs.shape[0]):
        for r in range(runs[q, 0], runs[q, 1]):
            acc = 0.0
            for jj in range(np_[r], np_[r + 1]):
                acc += nd[jj] * Yn[ni[jj]]
            c = np.float32(acc)
            for k in range(n):
                X[r, k] = c
            for jj in range(ap[r], ap[r + 1]):
                w = ad[jj]
                y = Ya[ai[jj]]
                for k in range(n):
                    X[r, k] += w * y[k]


@numba.njit(cache=True)
def _finite(a):
    s = 0.0
    for x in a.ravel():
        s += x - x  # 0 for a finite sample; NaN for an infinite or NaN one
    return s == 0.0


def all_finite(block) -> bool:
    """Whether every sample of an output block is finite: a compiled pass for the small
    blocks of small groups (a ufunc call costs more than the loop), numpy's sum for the
    large ones (the exact test follows where that sum overflows)."""
    if block.size <= 4096 and block.flags.c_contiguous:
        return bool(_finite(block))
    with np.errstate(over="ignore", invalid="ignore"):  # (a sum that overflows: the exact test)
        return bool(np.isfinite(np.add.reduce(block, axis=None))) or bool(np.isfinite(block).all())


def matvec_into(m, y, out) -> None:
    """out[:] = m @ y for a CSR matrix m (float64) and a float64 vector y, with scipy's own
    kernel (the same sums in the same order as `m @ y`) and no temporaries."""
    out[...] = 0.0
    _csr_matvec(m.shape[0], m.shape[1], m.indptr, m.indices, m.data, y, out)
