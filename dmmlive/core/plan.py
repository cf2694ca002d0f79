"""The compiled execution plan: W flattened to per-kind sparse matrices, neurons in
levels (dependency order) and, inside a level, grouped by type for one call each."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse._sparsetools import csr_matvec as _csr_matvec

from . import vv
from .registry import NeuronType, compatible

DENSE = ("number", "audio")  # kinds held in numpy rows; vvalue rows are V-values


@dataclass
class Decl:
    type: NeuronType
    args: dict
    key: tuple  # (type name, frozen args): neurons with equal keys share a group

    @staticmethod
    def make(t: NeuronType, args: dict) -> "Decl":
        return Decl(t, args, (t.name, freeze(args)))


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
    # `one`), as runs (a, b, audio matrix rows, number matrix rows) relative to the level:
    # the other rows are constants, filled once after a compile
    dyn_runs: list = field(default_factory=list)
    filled: bool = False
    stale: set = field(default_factory=set)      # constant audio rows to fill again (relative)
    _dyn_starts: list = field(default_factory=list)
    _row_at: dict = field(default_factory=dict)   # "vvalue"/"image" -> {input key: index in vrows/irows}

    def row_at(self, kind) -> dict:
        at = self._row_at.get(kind)
        if at is None:
            rows = self.vrows if kind == "vvalue" else self.irows
            at = self._row_at[kind] = {key: i for i, (key, _) in enumerate(rows)}
        return at
    vrows: list = field(default_factory=list)    # [(input key, [(output key, w), ...])]
    irows: list = field(default_factory=list)    # image inputs: [(input key, [(output key, w, kind), ...])]

    def refill(self, X, Yn) -> None:
        """Fill the stale constant audio rows again (X: the level's audio rows), with the
        kernel a full fill uses, so the values are the same to the bit."""
        m = self.mats.get(("audio", "number"))
        one = np.zeros(1)
        for r in self.stale:
            a, b = m.indptr[r], m.indptr[r + 1]
            one[0] = 0.0
            _csr_matvec(1, m.shape[1], np.array([0, b - a], m.indptr.dtype), m.indices[a:b], m.data[a:b], Yn, one)
            X[r] = one[0]
        self.stale.clear()

    def dyn_run(self, r):
        """The dynamic run holding audio row r (relative to the level), or None."""
        runs = self.dyn_runs
        i = bisect.bisect_right(self._dyn_starts, r) - 1 if runs else -1
        return runs[i] if i >= 0 and r < runs[i][1] else None


@dataclass
class Plan:
    active: list
    levels: list
    out_index: dict          # kind -> {(neuron, port): row}
    in_index: dict           # kind -> {(neuron, port): row}
    n_in: dict
    ignored: list            # (path, reason) of entries of W the plan cannot use
    state_layout: dict       # group key -> [names in row order]
    vinputs: dict = field(default_factory=dict)  # neuron -> [vvalue input ports] (variadic types)
    level_of: dict = field(default_factory=dict)  # active neuron -> index of its level
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
        at = [(m.data, _csr_find(m, r, c), lv, None)]
        if dk == "audio":
            run = lv.dyn_run(r)
            if run is None:
                at[0] = (m.data, at[0][1], lv, r)  # a constant row
            else:
                sub = run[2] if sk == "audio" else run[3]
                at.append((sub.data, _csr_find(sub, r - run[0], c), lv, None))
        return None if any(i is None for _, i, _, _ in at) else at


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


def order_levels(active, edges, pinned_last, synchronous):
    """Levels of neurons: one level (synchronous), or dependency order with back
    edges of cycles cut (ordered). `edges`: dst -> set of srcs."""
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


def compile_plan(W, decls, pinned, synchronous, builtin, fades=()) -> Plan:
    """Compile the matrix W over the declared neurons into a Plan; `fades` are the ΔW
    of glides in progress (their neurons stay active until the glide ends)."""
    ignored = []
    rows_by_dst = {}      # dst -> {inp: [(src, out, w)]}
    touched = set()
    edges = {}
    out_kind = {}         # (src, out) -> kind, or the reason it cannot be read
    for dst, ins in (W.items() if isinstance(W, dict) else ()):
        d = decls.get(dst)
        for inp, srcs in (ins.items() if isinstance(ins, dict) else ()):
            dk = d.type.input_kind(inp) if d is not None else None
            row = None
            for src, outs in (srcs.items() if isinstance(srcs, dict) else ()):
                for out, w in (outs.items() if isinstance(outs, dict) else ()):
                    if w == 0:
                        continue
                    sk = out_kind.get((src, out))
                    if sk is None:
                        s_ = decls.get(src)
                        sk = out_kind[(src, out)] = (s_.type.output_kind(out) if s_ is not None else None) or ""
                    if dk is None or not sk or not compatible(dk, sk) or type(w) is not float:
                        why = check_entry(decls, dst, inp, src, out, w)
                        if why:
                            ignored.append(((dst, inp, src, out), why))
                            continue
                    if row is None:
                        row = rows_by_dst.setdefault(dst, {}).setdefault(inp, [])
                    row.append((src, out, float(w)))
                    touched.add(src)
                    edges.setdefault(dst, set()).add(src)
            if row:
                touched.add(dst)
    fade_rows = []
    for D in fades:
        rows = {}
        for dst, inp, src, out, w in entries(D):
            if w == 0 or check_entry(decls, dst, inp, src, out, w):
                continue
            if decls[dst].type.input_kind(inp) not in DENSE:
                continue  # vvalue weights do not glide
            out_kind.setdefault((src, out), decls[src].type.output_kind(out))
            rows.setdefault(dst, {}).setdefault(inp, []).append((src, out, float(w)))
            touched.update((dst, src))
        fade_rows.append(rows)
    active = [n for n in decls if n in touched or n in pinned]
    levels_names = order_levels(active, edges, {"self"}, synchronous)

    # Output rows: every declared neuron (an initial output may wait for a link),
    # ordered level by level, group by group, so a group's rows are one slice.
    out_index = {k: {} for k in DENSE}
    in_index = {k: {} for k in DENSE}
    n_in = {k: 0 for k in DENSE}
    layout: dict = {}
    plan_levels = []
    vinputs = {}
    seen = set()

    def add_outputs(name, t):
        for port, kind in t.outputs.items():
            if kind in DENSE:
                out_index[kind][(name, port)] = len(out_index[kind])

    for names in levels_names:
        groups: dict = {}
        singles = []
        for n in names:
            d = decls[n]
            if d.type.batched:
                groups.setdefault(d.key, []).append(n)
            else:
                singles.append(n)
        lv = Level([], [])
        start = dict(n_in)
        for key, members in groups.items():
            d = decls[members[0]]
            g = Group(key, d.type, d.args, members)
            names_in_layout = layout.setdefault(key, [])
            a = len(names_in_layout)
            names_in_layout.extend(members)
            g.state_slice = slice(a, a + len(members))
            for port, p in d.type.inputs.items():
                if p.kind in DENSE:
                    a = n_in[p.kind]
                    for n in members:
                        in_index[p.kind][(n, port)] = n_in[p.kind]
                        n_in[p.kind] += 1
                    g.inputs[port] = (p.kind, slice(a, n_in[p.kind]))
                else:
                    g.inputs[port] = (p.kind, None)
            for port, kind in d.type.outputs.items():
                a = len(out_index[kind])
                for n in members:
                    out_index[kind][(n, port)] = len(out_index[kind])
                g.outputs[port] = (kind, slice(a, len(out_index[kind])))
            seen.update(members)
            lv.groups.append(g)
        for n in singles:
            d = decls[n]
            s = Single(n, d)
            if d.type.variadic:
                ports = sorted(rows_by_dst.get(n, {}))
                vinputs[n] = ports
                s.inputs = {p: ("vvalue", (n, p)) for p in ports}
            else:
                for port, p in d.type.inputs.items():
                    if p.kind in DENSE:
                        in_index[p.kind][(n, port)] = n_in[p.kind]
                        s.inputs[port] = (p.kind, n_in[p.kind])
                        n_in[p.kind] += 1
                    else:
                        s.inputs[port] = (p.kind, (n, port))
                for port, kind in d.type.outputs.items():
                    if kind in DENSE:
                        out_index[kind][(n, port)] = len(out_index[kind])
                        s.outputs[port] = (kind, out_index[kind][(n, port)])
                    else:
                        s.outputs[port] = (kind, (n, port))
            seen.add(n)
            lv.singles.append(s)
        lv.rows = {k: slice(start[k], n_in[k]) for k in DENSE}
        plan_levels.append(lv)
    for n, d in decls.items():  # declared, not active: outputs kept for later
        if n not in seen and not d.type.variadic:
            add_outputs(n, d.type)

    # The level matrices.
    for lv in plan_levels:
        names = [n for g in lv.groups for n in g.names] + [s.name for s in lv.singles]
        lv.mats = _level_mats(lv, names, rows_by_dst, decls, in_index, out_index, out_kind,
                              vrows=lv.vrows, irows=lv.irows)
        lv.fade_mats = [_level_mats(lv, names, fr, decls, in_index, out_index, out_kind) for fr in fade_rows]
        lv.dyn_runs = _dynamic_runs(lv, names, rows_by_dst, decls, in_index)
        lv._dyn_starts = [run[0] for run in lv.dyn_runs]
    level_of = {n: i for i, names in enumerate(levels_names) for n in names}
    return Plan(active, plan_levels, out_index, in_index, n_in, ignored, layout, vinputs, level_of)


def glide_mats(plan, decls, D) -> list:
    """Per level, the matrices of one glide's ΔW `D` (what compile_plan makes of it), built
    from D's entries alone."""
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


def _level_mats(lv, names, rows_by_dst, decls, in_index, out_index, out_kind, vrows=None, irows=None):
    coo = {}
    for n in names:
        for inp, terms in rows_by_dst.get(n, {}).items():
            dk = decls[n].type.input_kind(inp)
            if dk == "image":
                if irows is not None:
                    irows.append(((n, inp), [((src, out), w, out_kind[(src, out)]) for src, out, w in terms]))
                continue
            if dk == "vvalue":
                if vrows is not None:
                    vrows.append(((n, inp), [((src, out), w) for src, out, w in terms]))
                continue
            if (n, inp) not in in_index[dk]:
                continue
            r = in_index[dk][(n, inp)] - lv.rows[dk].start
            for src, out, w in terms:
                sk = out_kind[(src, out)]
                c = out_index[sk].get((src, out))
                if c is not None:
                    coo.setdefault((dk, sk), []).append((r, c, w))
    return _csr_mats(lv, coo, out_index)


def _dynamic_runs(lv, names, rows_by_dst, decls, in_index):
    n = lv.rows["audio"].stop - lv.rows["audio"].start
    if n == 0:
        return []
    dyn = np.zeros(n, bool)
    for nm in names:
        for inp, terms in rows_by_dst.get(nm, {}).items():
            if decls[nm].type.input_kind(inp) == "audio" and any((s, o) != ("one", "out") for s, o, _ in terms):
                dyn[in_index["audio"][(nm, inp)] - lv.rows["audio"].start] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dyn.view(np.int8), [0]])))
    runs = []
    maa, man = lv.mats.get(("audio", "audio")), lv.mats.get(("audio", "number"))
    for a, b in zip(edges[::2], edges[1::2]):
        runs.append((int(a), int(b), maa[a:b] if maa is not None else None, man[a:b] if man is not None else None))
    return runs
