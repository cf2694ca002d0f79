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

import bisect

import numpy as np
import scipy.sparse as sp

from . import vv
from .layout import layout, relayout
from .plan import DENSE, Level, Plan, check_entry, entries, glide_mats, order_levels
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
        self.flips: set = set()   # neurons whose `touch` went from 0 or to 0 since `build`
        self.link_was: dict = {}  # (dst, src) of `link_changes` -> whether the link was there at `build`
        self.partial: dict = {}   # long rows read in part since `build`: (dst, inp) -> {src: its terms now}, None: read whole

    def read(self, W, decls) -> set:
        """Read every row of W; returns the rows read."""
        keys = {(d, i) for d, ins in W.items() if isinstance(ins, dict) for i in ins} if isinstance(W, dict) else set()
        for key in keys:
            self.update(W, decls, key)
        return keys

    def update_names(self, W, decls, names, done=None) -> set:
        """Read again every row of, or naming, a neuron in `names` (its declaration changed);
        `done`: rows read already with the declarations as they are ({row: the sources
        read, None: all}), not read again for those."""
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
                read = done.get(key, ()) if done else ()
                if read is None or (read and srcs <= read):
                    continue
                self.update(W, decls, key, srcs)
        return own | set(naming)

    def update(self, W, decls, key, srcs=None) -> None:
        """Read row `key` of W again: all of it, or (`srcs`: the neurons a change wrote in
        it) only their entries, when the row is a long dense one (a mixer) they are few in."""
        if srcs is not None and key not in self.vkeys and self._update_some(W, decls, key, srcs):
            return
        self.partial[key] = None  # read whole: written whole at `build`
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
        part = self.partial.setdefault(key, {})
        if part is not None:
            for src in srcs:
                part[src] = terms if len(srcs) == 1 else [t for t in terms if t[0] == src]
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
            was = touch.get(dst, 0)
            touch[dst] = was + (1 if new else -1)
            if not was or not touch[dst]:
                self.flips.add(dst)
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
            was = touch.get(src, 0)
            touch[src] = was + c
            if not was or not was + c:
                self.flips.add(src)
            had = e.get(src, 0)
            if had + c:
                e[src] = had + c
            else:
                del e[src]
            if not had or not had + c:
                self.links_changed = True
                self.link_changes.add((dst, src))
                self.link_was.setdefault((dst, src), bool(had))
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
    fade_edges = {}  # links a glide still carries that W no longer has: ordered as links
    for D in fades:
        for dst, inp, src, out, w in entries(D):
            if w and not check_entry(decls, dst, inp, src, out, w) and decls[dst].type.input_kind(inp) in DENSE:
                fade_touched.update((dst, src))
                if not synchronous and src not in ent.edges.get(dst, ()):
                    fade_edges.setdefault(dst, set()).add(src)
    if prev is None or changed is None:
        prev, changed = None, set(ent.rows)
    # a link gliding out is still read until its glide ends, so its source must still come
    # before its reader: while such a glide runs, and at the compile that follows its end,
    # the levels are found from scratch over W's links and those
    reorder = bool(fade_edges) or (prev is not None and bool(prev.fade_edges))
    active, diff = _active(ent, decls, pinned, fade_touched, prev, names)
    level_of = moved = None  # the new levels by neuron and the neurons moved, where found by change
    hist = {}  # ordered: the levels of the sources of neurons with many (see _reorder)
    if synchronous:
        names_by_level, back = [active], None
        if diff is not None:
            level_of = prev.level_of
            if diff[0] or diff[1]:
                level_of = dict(level_of)
                for n in diff[1]:
                    del level_of[n]
                level_of.update(dict.fromkeys(diff[0], 0))
            moved = set()
    elif prev is not None and not ent.links_changed and active == prev.active and not reorder:
        names_by_level, back = prev.names, prev.back
        level_of, moved, hist = prev.level_of, set(), prev.hist
    else:
        names_by_level = back = None
        if prev is not None and prev.back is not None and diff is not None and not reorder:
            got = _reorder(prev, active, ent, diff, decls.seq.__getitem__)
            if got is not None:
                names_by_level, back, level_of, moved, hist = got
        if names_by_level is None:
            back = set()
            edges = ent.edges
            if fade_edges:
                edges = dict(edges)
                for dst, srcs in fade_edges.items():
                    edges[dst] = {**edges.get(dst, {}), **dict.fromkeys(srcs, 0)}
            names_by_level = order_levels(active, edges, {"self"}, False, back)
            level_of = None
    ent.links_changed = False
    ent.link_changes = set()
    ent.link_was = {}
    vports = _vports(ent, decls, active, prev, diff, changed)
    # the running plan's layout as it is: no declaration changed (one that did, even of a
    # neuron not active, may move or change output rows), the same levels and ports
    same = prev is not None and not names and names_by_level == prev.names and vports == prev.vinputs
    plan = None
    if same:
        plan = _relevel(prev)
    elif level_of is not None:
        join, leave, redeclared = diff
        # (self, pinned last, moves when the levels before it grow or shrink in number)
        plan = relayout(prev, names_by_level, level_of, {"self", *join, *leave, *names, *moved},
                        set(redeclared), decls, vports)
    if plan is None:
        plan = layout(names_by_level, decls, vports)
    plan.active = active
    plan.back = back
    plan.fade_touched = fade_touched
    plan.fade_edges = fade_edges
    plan.hist = hist
    plan.left = diff[1] if diff is not None else None
    plan.ignored = [b for bad in ent.bad.values() for b in bad]
    _matrices(plan, ent, decls, prev, changed, same)
    for lv in plan.levels:
        lv.fade_mats = []
    for D in fades:
        for lv, m in zip(plan.levels, glide_mats(plan, decls, D)):
            lv.fade_mats.append(m)
    return plan


def _active(ent: Entries, decls, pinned, fade_touched, prev: Plan | None, names):
    """The active neurons in declaration order (touched by a runnable entry, pinned, or kept
    by a glide) and what changed: (joined, left, declared again while active and staying),
    or None where they were found from scratch. By change, only the neurons whose count of
    entries went from or to 0, whose declarations changed, or that a glide keeps or kept
    are looked at; the others keep their places (`Decls.seq` says where a neuron goes)."""
    touch, flips = ent.touch, ent.flips
    ent.flips = set()
    seq = getattr(decls, "seq", None)
    if prev is None or seq is None or prev.fade_touched is None:
        return [n for n in decls if touch.get(n) or n in pinned or n in fade_touched], None
    was = prev.level_of
    join, leave, again = [], [], []
    for n in flips | set(names) | fade_touched | prev.fade_touched:
        want = n in decls and bool(touch.get(n) or n in pinned or n in fade_touched)
        if n in was:
            if not want:
                leave.append(n)
            elif n in names:
                again.append(n)
        elif want:
            join.append(n)
    if not (join or leave or again):
        return prev.active, ([], [], [])
    active = list(prev.active)
    for n in leave + again:
        active.remove(n)
    key = seq.__getitem__
    for n in sorted(join + again, key=key):
        bisect.insort(active, n, key=key)
    return active, (join, leave, again)


def _vports(ent: Entries, decls, active, prev, diff, changed) -> dict:
    """The vvalue input ports of each active variadic neuron (the rows it has), by change
    where the active set's change is known: the neurons that came, went or whose rows
    changed."""
    def ports(n):
        return sorted(i for i in ent.by_dst.get(n, ()) if (n, i) in ent.rows)
    if diff is None or prev is None:
        return {n: ports(n) for n in active if decls[n].type.variadic}
    look = {k[0] for k in changed} | set(diff[0]) | set(diff[1]) | set(diff[2])
    live = set(diff[0]) | set(diff[2])
    vports = prev.vinputs
    for n in look:
        d = decls.get(n)
        now = d is not None and d.type.variadic and (n in live or (n in prev.level_of and n not in diff[1]))
        if now or n in vports:
            if vports is prev.vinputs:
                vports = dict(vports)
            if now:
                vports[n] = ports(n)
            else:
                del vports[n]
    return vports


LOCAL = 256  # the most neurons a local re-levelling walks before it orders them all again
HUB = 64     # a neuron with this many sources or more keeps a count of their levels


def _reorder(prev: Plan, active, ent: Entries, diff, key):
    """The ordered levels after the links in `ent.link_changes` appeared or vanished, found
    from the running plan's by walking only what those links reach, and the links cut to
    break cycles, the new level of each neuron and the neurons whose level changed; None
    where the full ordering (`order_levels`) must run instead. `diff`: the active set's
    change (joined, left, declared again); `key`: declaration order.

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
    new, gone, again = diff
    gone_set, new_set = set(gone), set(new)

    def live(n):
        return n in new_set or (n in old_level and n not in gone_set)

    if again and _moved_in_order(prev.active, again, gone_set, key):
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
        if a in U or b in U or (a, b) in ent.link_changes or not live(a) or not live(b):
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
    level = dict(old_level)
    for n in P:
        level.pop(n, None)
    for n in gone:
        level.pop(n, None)
    # a neuron's level is the longest path to it (its sources' highest level + 1): where its
    # sources only came or rose, the new one is the old one or one above a source that did
    # (`rose`); where one vanished or fell (`fell`), the others are looked at again, up to
    # one that still holds the old level (none is higher). A neuron with many sources (a
    # mixer) keeps a count of its sources by level (`hist`), kept up by change: its level is
    # read from it, never from all its sources again.
    hist = {n: dict(h) for n, h in prev.hist.items()} if prev.hist else {}
    rose: dict = {}
    fell: set = set()

    def look(n, p, up):
        if up:
            rose.setdefault(n, set()).add(p)
        else:
            fell.add(n)

    for n, p in ent.link_changes:
        if live(n) and n not in P:
            now = p in edges.get(n, ())
            look(n, p, now)
            h = hist.get(n)
            if h is not None and p != n and p not in P and now != ent.link_was.get((n, p), now):
                lp = old_level.get(p)  # (a source laid out before: counted at its level then)
                if lp is not None:
                    h[lp] = h.get(lp, 0) + (1 if now else -1)
    for n in gone:
        hist.pop(n, None)
    for n in new:
        if n not in P:
            fell.add(n)  # (no old level: all its sources)
    work = list(set(rose) | fell)
    queued = set(work)
    moved = set()
    steps = 0
    while work:
        steps += 1
        if steps > 4 * LOCAL:
            return None
        n = work.pop()
        queued.discard(n)
        up, down = rose.pop(n, ()), n in fell
        fell.discard(n)
        was = level.get(n)
        h = hist.get(n)
        if h is not None:
            lv = max((k for k, c in h.items() if c), default=-1) + 1
        else:
            lv = 0 if was is None else was if not down else -1
            for p in up:
                if p != n and p not in P and (n, p) not in back:
                    lp = level.get(p)
                    if lp is not None and lp + 1 > lv:
                        lv = lp + 1
            if down and (was is None or lv < was):
                srcs = edges.get(n, ())
                if len(srcs) >= HUB:  # all of them: counted by level from now on
                    h = hist[n] = {}
                    for p in srcs:
                        if p != n and p not in P and (n, p) not in back:
                            lp = level.get(p)
                            if lp is not None:
                                h[lp] = h.get(lp, 0) + 1
                    lv = max((k for k, c in h.items() if c), default=-1) + 1
                else:
                    lv = max(lv, 0)
                    for p in srcs:
                        if p != n and p not in P and (n, p) not in back:
                            lp = level.get(p)
                            if lp is not None and lp + 1 > lv:
                                lv = lp + 1
                                if lv == was:
                                    break  # nothing is higher than the old level: only falls came
        if was == lv:
            continue
        level[n] = lv
        moved.add(n)
        for d in {d for d, _ in ent.by_src.get(n, ())}:
            if d != n and d not in P and live(d) and n in edges.get(d, ()) and (d, n) not in back:
                h = hist.get(d)
                if h is not None:
                    if was is not None:
                        h[was] -= 1
                    h[lv] = h.get(lv, 0) + 1
                look(d, n, was is None or lv > was)
                if d not in queued:
                    queued.add(d)
                    work.append(d)
    tail = prev.names[-1] if "self" in old_level else None
    prev_levels = prev.names[:-1] if tail is not None else prev.names
    depth = max(level.values(), default=-1) + 1
    # each level: the running plan's, less the neurons that left it, plus those that came
    leaving: dict = {}
    coming: dict = {}
    for n in moved:
        if n in old_level and n not in P:
            leaving.setdefault(old_level[n], []).append(n)
        coming.setdefault(level[n], []).append(n)
    for n in gone:
        if n not in P and n in old_level:
            leaving.setdefault(old_level[n], []).append(n)
    out = []
    for L in range(depth):
        have = prev_levels[L] if L < len(prev_levels) else []
        if L in leaving or L in coming or L >= len(prev_levels):
            have = list(have)
            for n in leaving.get(L, ()):
                have.remove(n)
            for n in sorted(coming.get(L, ()), key=key):
                bisect.insort(have, n, key=key)
        out.append(have)
    for L in range(depth, len(prev_levels)):  # levels emptied at the end
        if prev_levels[L] and len(leaving.get(L, ())) != len(prev_levels[L]):
            return None
    if live("self"):
        out.append(["self"])
        level["self"] = len(out) - 1
    moved.update(n for n in new if n in P)
    return out, back, level, moved, hist


def _moved_in_order(old_active, again, gone, key) -> bool:
    """Whether a neuron declared again (`again`) now stands elsewhere in declaration order
    (`key`) among the neurons kept around it."""
    for n in again:
        i = old_active.index(n)
        j = i - 1
        while j >= 0 and (old_active[j] in gone or old_active[j] in again):
            j -= 1
        k = i + 1
        while k < len(old_active) and (old_active[k] in gone or old_active[k] in again):
            k += 1
        if (j >= 0 and key(old_active[j]) > key(n)) or (k < len(old_active) and key(old_active[k]) < key(n)):
            return True
    return False


def _relevel(prev: Plan) -> Plan:
    """A plan with the running plan's layout (levels, rows, groups): new Level objects, so
    the running plan is left as it was."""
    levels = [Level(lv.groups, lv.singles, lv.rows) for lv in prev.levels]
    return Plan(prev.active, levels, prev.out_index, prev.in_index, prev.n_in, [], prev.state_layout,
                prev.vinputs, prev.level_of, names=prev.names, tail=prev.tail, out_active=prev.out_active)


def _matrices(plan, ent, decls, prev, changed, same) -> None:
    """Each level's matrices, dynamic rows, vvalue and image rows: the running plan's,
    carried over to this layout, with the changed rows written from the entries."""
    in_index, out_index, level_of = plan.in_index, plan.out_index, plan.level_of
    coo = {}          # (dk, sk) -> [global rows], [cols], [weights] of the rows written anew
    long = {}         # (dk, sk) -> [(rows, cols, weights)]: long rows, as arrays
    dyn = {}          # audio input row -> whether a source other than `one` feeds it
    rewritten = {k: [] for k in DENSE}  # the rows written anew (global), entries or not
    col_of = {k: out_index[k].getter() for k in DENSE}
    maps = {}
    if prev is not None:
        for kind in DENSE:
            maps["in", kind] = _index_map(prev.in_index[kind], in_index[kind], same)
            maps["out", kind] = _index_map(prev.out_index[kind], out_index[kind], same)
        plan.out_map = {kind: maps["out", kind] for kind in DENSE}
    partial, ent.partial = ent.partial, {}
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
        got = partial.get(key) if prev is not None and len(terms) > 32 else None
        if got is not None:  # a mixer a change wrote in: the running plan's row, spliced
            got = _row_by_change(prev, key, dk, got, maps, out_index, decls)
            if got is not None:
                for sk, (cols, w) in got.items():
                    if len(cols):
                        long.setdefault((dk, sk), []).append((np.full(len(cols), r, np.int64), cols, w))
                if dk == "audio":
                    dyn[r] = True  # (more than one source: not `one` alone)
                continue
        if len(terms) > 32:  # a mixer: its columns found in one pass (no Python per term)
            srcs, outs, ws, sks = zip(*terms)
            if dk == "audio":
                dyn[r] = srcs.count("one") != len(srcs)
            for sk in set(sks):
                if sks.count(sk) == len(sks):
                    cols, w = out_index[sk].rows_of(zip(srcs, outs)), np.array(ws, np.float64)
                else:
                    pick = [i for i, k in enumerate(sks) if k == sk]
                    cols = out_index[sk].rows_of(zip([srcs[i] for i in pick], [outs[i] for i in pick]))
                    w = np.array([ws[i] for i in pick], np.float64)
                ok = cols >= 0
                long.setdefault((dk, sk), []).append((np.full(int(ok.sum()), r, np.int64), cols[ok], w[ok]))
            continue
        if dk == "audio":
            dyn[r] = any((s, o) != ONE for s, o, _, _ in terms)
        for src, out, w, sk in terms:
            c = col_of[sk]((src, out))
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
    starts = {k: np.array([lv.rows[k].start for lv in plan.levels], np.int64) for k in DENSE}
    per_level = [{} for _ in plan.levels]
    pairs = set(coo) | set(long)
    if prev is not None:
        for lv in prev.levels:
            pairs.update(lv.mats)
    for dk, sk in pairs:
        rows, cols, ws = coo.get((dk, sk), ([], [], []))
        rows, cols = np.array(rows, np.int64), np.array(cols, np.int64)
        dtype = np.float32 if dk == "audio" and sk == "audio" else np.float64
        ws = np.array(ws, np.float64)
        if (dk, sk) in long:
            parts = long[dk, sk]
            rows = np.concatenate([rows] + [p[0] for p in parts])
            cols = np.concatenate([cols] + [p[1] for p in parts])
            ws = np.concatenate([ws] + [p[2] for p in parts])
        ws = ws.astype(dtype)
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


def _row_by_change(prev, key, dk, srcs, maps, out_index, decls):
    """A long row (a mixer) that a change wrote in for a few sources (`srcs`: {src: its
    terms now}), written from the running plan's: its entries (columns re-indexed to this
    layout) less those of these sources, plus their terms now. {src kind: (cols, weights)};
    None where the running plan has no such row."""
    li, r0 = prev.level_of.get(key[0]), prev.in_index[dk].get(key)
    if li is None or r0 is None:
        return None
    lv = prev.levels[li]
    r0 -= lv.rows[dk].start
    mine = {k: [] for k in DENSE}  # the columns of these sources' outputs now
    new = {k: ([], []) for k in DENSE}
    for src, terms in srcs.items():
        d = decls.get(src)
        for port, kind in (d.type.outputs.items() if d is not None and not d.type.variadic else ()):
            c = out_index[kind].get((src, port)) if kind in DENSE else None
            if c is not None:
                mine[kind].append(c)
        for _, out, w, sk in terms:
            c = out_index[sk].get((src, out))
            if c is not None:
                new[sk][0].append(c)
                new[sk][1].append(w)
    out = {}
    for sk in DENSE:
        m = lv.mats.get((dk, sk))
        if m is not None:
            a, b = m.indptr[r0], m.indptr[r0 + 1]
            cols, ws = maps["out", sk][m.indices[a:b]], m.data[a:b]
            keep = cols >= 0
            if mine[sk]:
                keep &= ~np.isin(cols, mine[sk])
            cols, ws = cols[keep], ws[keep].astype(np.float64)
        else:
            cols, ws = np.zeros(0, np.int64), np.zeros(0)
        out[sk] = (np.concatenate([cols, np.array(new[sk][0], np.int64)]),
                   np.concatenate([ws, np.array(new[sk][1], np.float64)]))
    return out


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


def _index_map(old, new, same: bool) -> np.ndarray:
    """old row -> new row of the same key (-1 where the key is gone)."""
    if same:
        return np.arange(len(old), dtype=np.int64)
    return new.map_from(old)


def compile_plan(W, decls, pinned, synchronous, fades=()) -> tuple[Entries, Plan]:
    """W compiled from scratch: the entries read and the plan."""
    ent = Entries()
    ent.read(W, decls)
    return ent, build(ent, decls, pinned, synchronous, fades)
