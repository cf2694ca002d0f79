"""Compiling W into a plan, again and again, at the cost of what changed.

`Entries` keeps the runnable entries of W row by row, with the counts the active set and
the links between neurons come from; a change re-reads only the rows it touched (and the
rows that name a neuron whose declaration changed). `build` lays the plan out again only
as far as needed: the levels when the links between neurons or the active set changed,
the rows and groups when the levels did, and it carries the matrices over from the
running plan (re-indexed with numpy) instead of building them from W, writing only the
rows that changed. The result is always the plan a compile from scratch gives: the same
levels, rows, groups and matrices (tests check it entry for entry and sample for sample).
"""
from __future__ import annotations

from itertools import repeat

import numpy as np
import scipy.sparse as sp

from . import vv
from .plan import (DENSE, Group, Level, Plan, Single, check_entry, entries, glide_mats,
                   order_levels)
from .registry import compatible

ONE = ("one", "out")


class Entries:
    """The runnable entries of W by input row, and the counts a plan is derived from."""

    def __init__(self):
        self.rows: dict = {}      # (dst, inp) -> [(src, out, w, src kind)]: runnable, in W's order
        self.bad: dict = {}       # (dst, inp) -> [((dst, inp, src, out), reason)]
        self.by_dst: dict = {}    # dst -> {inp} of the rows it has (runnable or not)
        self.srcs_of: dict = {}   # (dst, inp) -> {src} named in the row (runnable or not)
        self.by_src: dict = {}    # src -> {(dst, inp)} of the rows naming it
        self.edges: dict = {}     # dst -> {src: runnable entries}: the links between neurons
        self.touch: dict = {}     # neuron -> runnable entries naming it + its non-empty rows
        self.vkeys: set = set()   # the rows of vvalue and image inputs (not in the matrices)
        self.links_changed = True  # a link (dst, src) appeared or vanished since `build`
        self.link_changes: set = set()  # which: {(dst, src)}

    def read(self, W, decls) -> set:
        """Read every row of W; returns the rows read."""
        keys = {(d, i) for d, ins in W.items() if isinstance(ins, dict) for i in ins} if isinstance(W, dict) else set()
        for key in keys:
            self.update(W, decls, key)
        return keys

    def update_names(self, W, decls, names) -> set:
        """Read again every row of, or naming, a neuron in `names` (its declaration changed)."""
        own, naming = set(), {}
        for n in names:
            ins = W.get(n) if isinstance(W, dict) else None
            if isinstance(ins, dict):
                own.update((n, i) for i in ins)
            own.update((n, i) for i in self.by_dst.get(n, ()))
            for key in self.by_src.get(n, ()):
                naming.setdefault(key, set()).add(n)
        for key in own:  # its own rows: whole (their kinds may have changed)
            self.update(W, decls, key)
        for key, srcs in naming.items():  # rows naming it: its entries (a mixer is not read whole)
            if key not in own:
                self.update(W, decls, key, srcs)
        return own | set(naming)

    def update(self, W, decls, key, srcs=None) -> None:
        """Read row `key` of W again: all of it, or (`srcs`: the neurons a change wrote in
        it) only their entries, when the row is a long dense one (a mixer) they are few in."""
        if srcs is not None and key not in self.vkeys and self._update_some(W, decls, key, srcs):
            return
        dst, inp = key
        old = self.rows.pop(key, None) or ()
        self.vkeys.discard(key)
        self.bad.pop(key, None)
        for s in self.srcs_of.pop(key, ()):
            ks = self.by_src.get(s)
            if ks is not None:
                ks.discard(key)
                if not ks:
                    del self.by_src[s]
        inps = self.by_dst.get(dst)
        srcs = vv.path(W, dst, inp)
        if not isinstance(srcs, dict) or not srcs:
            if inps is not None:
                inps.discard(inp)
                if not inps:
                    del self.by_dst[dst]
            self._count(dst, old, ())
            return
        self.by_dst.setdefault(dst, set()).add(inp)
        d = decls.get(dst)
        dk = d.type.input_kind(inp) if d is not None else None
        terms, bad, named = _terms(decls, dst, inp, dk, srcs.items())
        self.srcs_of[key] = named
        for s in named:
            self.by_src.setdefault(s, set()).add(key)
        if bad:
            self.bad[key] = bad
        self._count(dst, old, terms)
        if terms:
            self.rows[key] = terms
            if dk not in DENSE:
                self.vkeys.add(key)

    def _update_some(self, W, decls, key, srcs) -> bool:
        """Row `key` read again for the entries of the neurons `srcs` only (the matrices
        sort a dense row's entries by column, so where they sit in the list is free);
        False where the whole row is read instead: not a long row, or it would empty."""
        old = self.rows.get(key)
        if old is None or len(old) < 16 * len(srcs):
            return False
        dst, inp = key
        row = vv.path(W, dst, inp)
        if not isinstance(row, dict):
            return False
        keep = [t for t in old if t[0] not in srcs]
        if not keep:
            return False
        d = decls.get(dst)
        dk = d.type.input_kind(inp) if d is not None else None
        terms, bad, named = _terms(decls, dst, inp, dk, ((s, row[s]) for s in srcs if s in row))
        self._count(dst, [t for t in old if t[0] in srcs], terms, row=False)
        self.rows[key] = keep + terms
        was = self.bad.pop(key, None)
        bad = [b for b in was or () if b[0][2] not in srcs] + bad
        if bad:
            self.bad[key] = bad
        have = self.srcs_of[key]
        for s in srcs:
            if s in named:
                have.add(s)
                self.by_src.setdefault(s, set()).add(key)
            elif s in have:
                have.discard(s)
                ks = self.by_src.get(s)
                if ks is not None:
                    ks.discard(key)
                    if not ks:
                        del self.by_src[s]
        return True

    def _count(self, dst, old, new, row=True) -> None:
        """Counts of a row whose runnable terms went from `old` to `new`: entries naming
        each neuron (and, with `row`, the row itself for its neuron), and the links; a
        link counts as changed only where one appears or vanishes, not where its entries
        are read again."""
        touch = self.touch
        if row and bool(old) != bool(new):
            touch[dst] = touch.get(dst, 0) + (1 if new else -1)
        net: dict = {}
        for t in old:
            net[t[0]] = net.get(t[0], 0) - 1
        for t in new:
            net[t[0]] = net.get(t[0], 0) + 1
        e = self.edges.get(dst)
        if e is None:
            e = self.edges[dst] = {}
        for src, c in net.items():
            if not c:
                continue
            touch[src] = touch.get(src, 0) + c
            had = e.get(src, 0)
            if had + c:
                e[src] = had + c
            else:
                del e[src]
            if not had or not had + c:
                self.links_changed = True
                self.link_changes.add((dst, src))
        if not e:
            del self.edges[dst]


def _terms(decls, dst, inp, dk, items):
    """The runnable terms [(src, out, w, src kind)], the entries that cannot run [(entry,
    why)] and the neurons named, of row (dst, inp) items [(src, {out: w})]."""
    terms, bad, named = [], [], set()
    for src, outs in items:
        named.add(src)
        if not isinstance(outs, dict):
            continue
        s_ = decls.get(src)
        for out, w in outs.items():
            if w == 0:
                continue
            sk = s_.type.output_kind(out) if s_ is not None else None
            if dk is None or sk is None or not compatible(dk, sk) or type(w) is not float:
                why = check_entry(decls, dst, inp, src, out, w)
                if why:
                    bad.append(((dst, inp, src, out), why))
                    continue
            terms.append((src, out, float(w), sk))
    return terms, bad, named


def build(ent: Entries, decls, pinned, synchronous, fades=(), prev: Plan | None = None,
          changed=None, names=()) -> Plan:
    """The plan of the entries over the declared neurons; `fades`: the ΔW of glides in
    progress (their neurons stay active until the glide ends). With `prev`, the running
    plan, and `changed`, the rows read again since it was built (and `names`, the neurons
    whose declarations changed), only what they touch is built anew."""
    fade_touched = set()
    for D in fades:
        for dst, inp, src, out, w in entries(D):
            if w and not check_entry(decls, dst, inp, src, out, w) and decls[dst].type.input_kind(inp) in DENSE:
                fade_touched.update((dst, src))
    touch = ent.touch
    active = [n for n in decls if touch.get(n) or n in pinned or n in fade_touched]
    if prev is None or changed is None:
        prev, changed = None, set(ent.rows)
    if synchronous:
        names_by_level, back = [active], None
    elif prev is not None and not ent.links_changed and active == prev.active:
        names_by_level, back = prev.names, prev.back
    else:
        names_by_level = back = None
        if prev is not None and prev.back is not None:
            got = _reorder(prev, active, ent, names)
            if got is not None:
                names_by_level, back = got
        if names_by_level is None:
            back = set()
            names_by_level = order_levels(active, ent.edges, {"self"}, False, back)
    ent.links_changed = False
    ent.link_changes = set()
    vports = {n: sorted(i for i in ent.by_dst.get(n, ()) if (n, i) in ent.rows)
              for n in active if decls[n].type.variadic}
    same = (prev is not None and names_by_level == prev.names and vports == prev.vinputs
            and not any(n in prev.level_of for n in names) and _same_outputs(prev, decls, names))
    if same:
        plan = _relevel(prev)
    else:
        plan = _layout(names_by_level, decls, vports)
    plan.active = active
    plan.back = back
    plan.ignored = [b for bad in ent.bad.values() for b in bad]
    _matrices(plan, ent, decls, prev, changed, same)
    for lv in plan.levels:
        lv.fade_mats = []
    for D in fades:
        for lv, m in zip(plan.levels, glide_mats(plan, decls, D)):
            lv.fade_mats.append(m)
    return plan


LOCAL = 256  # the most neurons a local re-levelling walks before it orders them all again


def _reorder(prev: Plan, active, ent: Entries, names):
    """The ordered levels after the links in `ent.link_changes` appeared or vanished, found
    from the running plan's by walking only what those links reach, and the links cut to
    break cycles; None where the full ordering (`order_levels`) must run instead.

    The full ordering is a depth-first walk up the links from each neuron in declaration
    order, cutting a link where it closes a cycle. A link from `p` changes that walk only
    inside the neurons `p` depends on (its ancestry U): when U holds no cycle and no cut
    link, the walk through U cuts nothing whenever it happens, and the walk outside U is the
    same step for step, so the cuts are the running plan's. Then the levels (the longest
    path to each neuron over the links not cut) change only downstream of the changed
    links, and are worked out there. Otherwise (a cycle near the change, a neuron moved in
    declaration order, a walk longer than LOCAL) the full ordering runs."""
    P = ("self",)  # pinned last: its links to others are always cut
    back = prev.back
    edges, old_level = ent.edges, prev.level_of
    aset = set(active)
    gone = [n for n in old_level if n not in aset]
    new = [n for n in active if n not in old_level]
    moved_names = [n for n in names if n in aset and n in old_level]
    if moved_names and [n for n in active if n in old_level] != [n for n in prev.active if n in aset]:
        return None  # a neuron moved in declaration order: the walk's roots come in another order
    # U: everything the changed links' sources depend on; acyclic, bounded, no cut link in it
    U, todo = set(), []
    for n, p in ent.link_changes:
        if p != n and p not in P and p not in U:
            U.add(p)
            todo.append(p)
    color: dict = {}
    while todo:
        v = todo.pop()
        for q in edges.get(v, ()):
            if q != v and q not in P and q not in U:
                if len(U) >= LOCAL:
                    return None
                U.add(q)
                todo.append(q)
    for a, b in back:
        if a in U or b in U or (a, b) in ent.link_changes or a not in aset or b not in aset:
            return None
    for v in U:  # a cycle inside U (iterative three-colour walk)
        if v in color:
            continue
        color[v] = 1
        stack = [(v, iter(edges.get(v, ())))]
        while stack:
            x, it = stack[-1]
            for q in it:
                if q == x or q in P:
                    continue
                c = color.get(q)
                if c == 1:
                    return None
                if c is None:
                    color[q] = 1
                    stack.append((q, iter(edges.get(q, ()))))
                    break
            else:
                color[x] = 2
                stack.pop()
    # the levels downstream of the changed links
    level = {n: lv for n, lv in old_level.items() if n not in P and n in aset}
    work = [n for n, _ in ent.link_changes if n in aset and n not in P] + [n for n in new if n not in P]
    queued = set(work)
    moved = set()
    steps = 0
    while work:
        steps += 1
        if steps > 4 * LOCAL:
            return None
        n = work.pop()
        queued.discard(n)
        lv = 0
        for p in edges.get(n, ()):
            if p != n and p not in P and (n, p) not in back:
                lp = level.get(p)
                if lp is not None and lp + 1 > lv:
                    lv = lp + 1
        if level.get(n) == lv:
            continue
        level[n] = lv
        moved.add(n)
        for d, _ in ent.by_src.get(n, ()):
            if d != n and d not in P and d in aset and d not in queued and n in edges.get(d, ()) \
                    and (d, n) not in back:
                queued.add(d)
                work.append(d)
    tail = prev.names[-1] if "self" in old_level else None
    prev_levels = prev.names[:-1] if tail is not None else prev.names
    depth = max(level.values(), default=-1) + 1
    dirty = {level[n] for n in moved} | {old_level[n] for n in moved if n in old_level and n not in P}
    dirty |= {old_level[n] for n in gone if n not in P}
    pos = None
    out = []
    for L in range(depth):
        if L < len(prev_levels) and L not in dirty:
            out.append(prev_levels[L])
            continue
        if pos is None:
            pos = {n: i for i, n in enumerate(active)}
        have = [n for n in (prev_levels[L] if L < len(prev_levels) else ()) if level.get(n) == L]
        have += [n for n in moved if level[n] == L and old_level.get(n) != L]
        out.append(sorted(have, key=pos.__getitem__))
    if "self" in aset:
        out.append(["self"])
    return out, back


def _same_outputs(prev: Plan, decls, names) -> bool:
    """Whether the running plan's output rows of the (inactive) neurons `names` are still
    theirs: a neuron forgotten, or declared again with other ports, needs a new layout, or
    a neuron born again under its name would start from its previous life's outputs."""
    if not names:
        return True
    have = {}
    for kind, idx in prev.out_index.items():
        for key in idx:
            if key[0] in names:
                have.setdefault(key[0], set()).add((kind, key[1]))
    for n in names:
        d = decls.get(n)
        want = set() if d is None or d.type.variadic else {
            (k, p) for p, k in d.type.outputs.items() if k in DENSE}
        if have.get(n, set()) != want:
            return False
    return True


def _relevel(prev: Plan) -> Plan:
    """A plan with the running plan's layout (levels, rows, groups): new Level objects, so
    the running plan is left as it was."""
    levels = [Level(lv.groups, lv.singles, lv.rows) for lv in prev.levels]
    return Plan(prev.active, levels, prev.out_index, prev.in_index, prev.n_in, [], prev.state_layout,
                prev.vinputs, prev.level_of, names=prev.names)


def _layout(names_by_level, decls, vports) -> Plan:
    """Rows and groups: output rows level by level, group by group, so that a group's
    inputs, outputs and state are slices; then the outputs of declared neurons that are
    not active (an initial output may wait for a link)."""
    out_index = {k: {} for k in DENSE}
    in_index = {k: {} for k in DENSE}
    n_in = {k: 0 for k in DENSE}
    layout: dict = {}
    levels = []
    seen = set()
    for names in names_by_level:
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
            g = Group(key, d.type, d.args, members, d.every)
            in_layout = layout.setdefault(key, [])
            a = len(in_layout)
            in_layout.extend(members)
            g.state_slice = slice(a, a + len(members))
            m = len(members)
            for port, p in d.type.inputs.items():  # each port's rows: the members in order
                if p.kind in DENSE:
                    a = n_in[p.kind]
                    in_index[p.kind].update(zip(zip(members, repeat(port)), range(a, a + m)))
                    n_in[p.kind] = a + m
                    g.inputs[port] = (p.kind, slice(a, a + m))
                else:
                    g.inputs[port] = (p.kind, None)
            for port, kind in d.type.outputs.items():
                idx = out_index[kind]
                a = len(idx)
                idx.update(zip(zip(members, repeat(port)), range(a, a + m)))
                g.outputs[port] = (kind, slice(a, a + m))
            seen.update(members)
            lv.groups.append(g)
        for n in singles:
            d = decls[n]
            s = Single(n, d)
            if d.type.variadic:
                s.inputs = {p: ("vvalue", (n, p)) for p in vports[n]}
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
        levels.append(lv)
    for n, d in decls.items():  # declared, not active: outputs kept for later
        if n not in seen and not d.type.variadic:
            for port, kind in d.type.outputs.items():
                if kind in DENSE:
                    out_index[kind][(n, port)] = len(out_index[kind])
    level_of = {n: i for i, names in enumerate(names_by_level) for n in names}
    return Plan([], levels, out_index, in_index, n_in, [], layout, vports, level_of, names=names_by_level)


def _matrices(plan, ent, decls, prev, changed, same) -> None:
    """Each level's matrices, dynamic rows, vvalue and image rows: the running plan's,
    carried over to this layout, with the changed rows written from the entries."""
    in_index, out_index, level_of = plan.in_index, plan.out_index, plan.level_of
    coo = {}          # (dk, sk) -> [global rows], [cols], [weights] of the rows written anew
    dyn = {}          # audio input row -> whether a source other than `one` feeds it
    rewritten = {k: [] for k in DENSE}  # the rows written anew (global), entries or not
    for key in (changed if prev is not None else ent.rows):
        dst, inp = key
        if dst not in level_of:
            continue
        dk = decls[dst].type.input_kind(inp)
        r = in_index[dk].get(key) if dk in DENSE else None
        if r is None:
            continue
        terms = ent.rows.get(key, ())
        rewritten[dk].append(r)
        if dk == "audio":
            dyn[r] = any((s, o) != ONE for s, o, _, _ in terms)
        for src, out, w, sk in terms:
            c = out_index[sk].get((src, out))
            if c is not None:
                t = coo.setdefault((dk, sk), ([], [], []))
                t[0].append(r)
                t[1].append(c)
                t[2].append(w)
    vrows, irows = [[] for _ in plan.levels], [[] for _ in plan.levels]
    for key in ent.vkeys:  # vvalue and image rows: few, written from the entries (W's order)
        li = level_of.get(key[0])
        if li is not None:
            terms = ent.rows[key]
            if decls[key[0]].type.input_kind(key[1]) == "vvalue":
                vrows[li].append((key, [((s, o), w) for s, o, w, _ in terms]))
            else:
                irows[li].append((key, [((s, o), w, sk) for s, o, w, sk in terms]))
    maps = {}
    if prev is not None:
        for kind in DENSE:
            maps["in", kind] = _index_map(prev.in_index[kind], in_index[kind], prev.n_in[kind], same)
            maps["out", kind] = _index_map(prev.out_index[kind], out_index[kind], len(prev.out_index[kind]), same)
        plan.out_map = {kind: maps["out", kind] for kind in DENSE}
    starts = {k: np.array([lv.rows[k].start for lv in plan.levels], np.int64) for k in DENSE}
    per_level = [{} for _ in plan.levels]
    pairs = set(coo)
    if prev is not None:
        for lv in prev.levels:
            pairs.update(lv.mats)
    for dk, sk in pairs:
        rows, cols, ws = coo.get((dk, sk), ([], [], []))
        rows, cols = np.array(rows, np.int64), np.array(cols, np.int64)
        dtype = np.float32 if dk == "audio" and sk == "audio" else np.float64
        ws = np.array(ws, np.float64).astype(dtype)
        if same:  # the running plan's matrices, their rewritten rows spliced in
            order = np.lexsort((cols, rows))
            rows, cols, ws = rows[order], cols[order], ws[order]
            rw = np.unique(np.array(rewritten[dk], np.int64))
            for li, lv in enumerate(plan.levels):
                a0, b0 = lv.rows[dk].start, lv.rows[dk].stop
                old = prev.levels[li].mats.get((dk, sk))
                ra, rb = np.searchsorted(rw, [a0, b0])
                if ra == rb:
                    if old is not None:
                        per_level[li][(dk, sk)] = old
                    continue
                a, b = np.searchsorted(rows, [a0, b0])
                m = _splice(old, b0 - a0, len(out_index[sk]), rw[ra:rb] - a0, rows[a:b] - a0, cols[a:b], ws[a:b], dtype)
                if m.nnz:
                    per_level[li][(dk, sk)] = m
            continue
        if prev is not None:
            r0, c0, w0 = _carried(prev, dk, sk, changed, maps["in", dk], maps["out", sk])
            rows, cols = np.concatenate([r0, rows]), np.concatenate([c0, cols])
            ws = np.concatenate([w0, ws]).astype(dtype, copy=False)
        if not len(rows):
            continue
        order = np.lexsort((cols, rows))
        rows, cols, ws = rows[order], cols[order], ws[order]
        li_of = np.searchsorted(starts[dk], rows, side="right") - 1
        bounds = np.searchsorted(li_of, np.arange(len(plan.levels) + 1))
        for li in np.flatnonzero(np.diff(bounds)):
            lv, a, b = plan.levels[li], bounds[li], bounds[li + 1]
            n = lv.rows[dk].stop - lv.rows[dk].start
            indptr = np.zeros(n + 1, np.int32)
            np.cumsum(np.bincount(rows[a:b] - lv.rows[dk].start, minlength=n), out=indptr[1:])
            m = sp.csr_matrix((ws[a:b], cols[a:b].astype(np.int32), indptr), shape=(n, len(out_index[sk])))
            m.has_sorted_indices = True
            per_level[li][(dk, sk)] = m
    flags = np.zeros(plan.n_in["audio"], bool)
    if prev is not None:
        rmap = maps["in", "audio"]
        ok = rmap >= 0
        flags[rmap[ok]] = prev.dyn[ok]
    for r, f in dyn.items():
        flags[r] = f
    plan.dyn = flags
    for li, lv in enumerate(plan.levels):
        lv.mats, lv.vrows, lv.irows = per_level[li], vrows[li], irows[li]
        run = flags[lv.rows["audio"]]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], run.view(np.int8), [0]])))
        lv.dyn_runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
        lv.dyn_starts = [a for a, _ in lv.dyn_runs]
        lv.dyn_np = lv.steady = None


def _splice(old, n, ncols, rw, rows, cols, ws, dtype):
    """A CSR matrix of n rows: `old` (or empty) with rows `rw` (sorted) replaced by the
    entries (rows, cols, ws), sorted by row and column."""
    if old is None:
        p, od, oi = np.zeros(n + 1, np.int64), np.zeros(0, dtype), np.zeros(0, np.int32)
    else:
        p, od, oi = old.indptr, old.data, old.indices
    counts = np.diff(p)
    data, idx, last = [], [], 0
    for r in rw.tolist():
        data.append(od[p[last]:p[r]])
        idx.append(oi[p[last]:p[r]])
        a, b = np.searchsorted(rows, [r, r + 1])
        data.append(ws[a:b])
        idx.append(cols[a:b].astype(np.int32))
        counts[r] = b - a
        last = r + 1
    data.append(od[p[last]:])
    idx.append(oi[p[last]:])
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=indptr[1:])
    m = sp.csr_matrix((np.concatenate(data).astype(dtype, copy=False), np.concatenate(idx), indptr),
                      shape=(n, ncols))
    m.has_sorted_indices = True
    return m


def _carried(prev, dk, sk, changed, rmap, cmap):
    """The entries (global row, column, weight) of the running plan's (dk, sk) matrices that
    stay (rows not changed, of inputs and outputs still laid out), re-indexed."""
    parts = []
    for lv in prev.levels:
        m = lv.mats.get((dk, sk))
        if m is not None and m.nnz:
            start = lv.rows[dk].start
            rows = np.repeat(np.arange(start, start + m.shape[0]), np.diff(m.indptr))
            parts.append((rows, m.indices, m.data))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts]).astype(np.int64)
    ws = np.concatenate([p[2] for p in parts])
    drop = [r for r in (prev.in_index[dk].get(key) for key in changed) if r is not None]
    gone = np.isin(rows, drop) if drop else None  # rows written anew from the entries
    rows = rmap[rows]
    if gone is not None:
        rows[gone] = -1
    cols = cmap[cols]
    keep = (rows >= 0) & (cols >= 0)
    return rows[keep], cols[keep], ws[keep]


def _index_map(old: dict, new: dict, n: int, same: bool) -> np.ndarray:
    """old row -> new row of the same key (-1 where the key is gone)."""
    if same:
        return np.arange(n, dtype=np.int64)
    out = np.full(n, -1, np.int64)
    if old:
        out[np.fromiter(old.values(), np.int64, len(old))] = np.fromiter(
            map(new.get, old, repeat(-1)), np.int64, len(old))
    return out


def compile_plan(W, decls, pinned, synchronous, fades=()) -> tuple[Entries, Plan]:
    """W compiled from scratch: the entries read and the plan."""
    ent = Entries()
    ent.read(W, decls)
    return ent, build(ent, decls, pinned, synchronous, fades)
