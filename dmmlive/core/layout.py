"""The plan's rows and groups: laid out from scratch, or by change from the running plan.

Rows are laid out level by level and, inside a level, group by group (a group's members
in declaration order, port by port), then the non-batched neurons; the output rows end
with the outputs of declared neurons that are not active (an initial output may wait
for a link). That contiguity is what lets a group run as one kernel call on slices.

A row index (`Index`) answers (neuron, port) -> row like a dict, but is kept as two
arrays over stable key ids (`Keys`, shared by a plan and the plans built from it by
change): the row of each id and the id at each row. A layout by change (`relayout`)
edits only the groups a change touched (a member removed or inserted at its place in
declaration order, found by bisection on `Decls.seq`), and every row after the edit
moves as one numpy copy of ids; the maps that carry matrices, outputs and state to the
new rows are one numpy gather. The result is the layout from scratch, row for row.
"""
from __future__ import annotations

import bisect
from itertools import chain, repeat

import numpy as np

from .plan import DENSE, Group, Level, Plan, Single


DEAD = 1024  # a layout by change runs while its key tables hold at most 2x their live keys + DEAD


class Keys:
    """Stable ids of the (neuron, port) keys of one kind and direction: a key keeps its id
    while plans built by change lay it out; ids of keys no longer laid out are not reused
    (a layout from scratch starts a new table)."""

    __slots__ = ("id", "key")

    def __init__(self, keys=()):
        self.key = list(keys)
        self.id = dict(zip(self.key, range(len(self.key))))

    def ids(self, keys) -> np.ndarray:
        """The ids of `keys`, new ones given to keys without one."""
        get, out = self.id.get, []
        for k in keys:
            i = get(k)
            if i is None:
                i = self.id[k] = len(self.key)
                self.key.append(k)
            out.append(i)
        return np.array(out, np.int64)

    def rename(self, key, new) -> None:
        """Key `key` is known as `new` from now on (a crossfade's old neuron)."""
        i = self.id.pop(key, None)
        if i is not None:
            self.id[new] = i
            self.key[i] = new


class Index:
    """A plan's rows of one kind, inputs or outputs: (neuron, port) -> row, answered like a
    dict (`get`, `[]`, `in`, `len`, `items` in row order); `at`: the key id at each row,
    `row`: the row of each key id (-1: none)."""

    __slots__ = ("keys", "at", "row")

    def __init__(self, keys: Keys, at: np.ndarray):
        self.keys, self.at = keys, at
        self.row = np.full(len(keys.key), -1, np.int64)
        self.row[at] = np.arange(len(at))

    def get(self, key, default=None):
        i = self.keys.id.get(key)
        if i is None or i >= len(self.row):
            return default
        r = self.row[i]
        return default if r < 0 else int(r)

    def __getitem__(self, key):
        r = self.get(key)
        if r is None:
            raise KeyError(key)
        return r

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self.at)

    def __iter__(self):
        key = self.keys.key
        return (key[i] for i in self.at.tolist())

    def items(self):
        return zip(iter(self), range(len(self.at)))

    def getter(self):
        """`get` for many lookups: the key table's own dict where ids are rows (a layout
        from scratch)."""
        n = len(self.at)
        if n == len(self.keys.key) and np.array_equal(self.at, np.arange(n)):
            return self.keys.id.get
        return self.get

    def rows_of(self, keys) -> np.ndarray:
        """The rows of `keys` (an iterable), -1 where a key has none."""
        return self._rows(np.fromiter(map(self.keys.id.get, keys, repeat(-1)), np.int64))

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """The row of each key id (-1: none here, or an id given after this index)."""
        out = np.full(len(ids), -1, np.int64)
        ok = (ids >= 0) & (ids < len(self.row))
        out[ok] = self.row[ids[ok]]
        return out

    def map_from(self, old: "Index") -> np.ndarray:
        """Each of `old`'s rows -> the row of the same key here (-1 where it has none)."""
        if old.keys is self.keys:
            return self._rows(old.at)
        return np.fromiter(map(self.get, old, repeat(-1)), np.int64, len(old))


def _dense_outputs(t) -> list:
    """[(port, kind)] of type t's outputs held in dense rows."""
    return [(port, k) for port, k in t.outputs.items() if k in DENSE]


def layout(names_by_level, decls, vports) -> Plan:
    """Rows and groups from scratch: output rows level by level, group by group, so that a
    group's inputs, outputs and state are slices; then the outputs of declared neurons that
    are not active."""
    inkeys = {k: [] for k in DENSE}
    outkeys = {k: [] for k in DENSE}
    state: dict = {}
    levels = []
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
        start = {k: len(v) for k, v in inkeys.items()}
        for key, members in groups.items():
            d = decls[members[0]]
            g = Group(key, d.type, d.args, members, d.every)
            in_layout = state.setdefault(key, [])
            a = len(in_layout)
            in_layout.extend(members)
            g.state_slice = slice(a, a + len(members))
            m = len(members)
            for port, p in d.type.inputs.items():  # each port's rows: the members in order
                if p.kind in DENSE:
                    keys = inkeys[p.kind]
                    a = len(keys)
                    keys.extend(zip(members, repeat(port)))
                    g.inputs[port] = (p.kind, slice(a, a + m))
                else:
                    g.inputs[port] = (p.kind, None)
            for port, kind in d.type.outputs.items():
                keys = outkeys[kind]
                a = len(keys)
                keys.extend(zip(members, repeat(port)))
                g.outputs[port] = (kind, slice(a, a + m))
            lv.groups.append(g)
        for n in singles:
            lv.singles.append(_single(n, decls[n], vports, inkeys, outkeys))
        lv.rows = {k: slice(start[k], len(inkeys[k])) for k in DENSE}
        levels.append(lv)
    level_of = {n: i for i, names in enumerate(names_by_level) for n in names}
    out_active = {k: len(v) for k, v in outkeys.items()}
    tail = []
    for n, d in decls.items():  # declared, not active: outputs kept for later
        if n not in level_of and not d.type.variadic:
            tail.append(n)
            for port, kind in _dense_outputs(d.type):
                outkeys[kind].append((n, port))
    ins = {k: Index(Keys(v), np.arange(len(v), dtype=np.int64)) for k, v in inkeys.items()}
    outs = {k: Index(Keys(v), np.arange(len(v), dtype=np.int64)) for k, v in outkeys.items()}
    plan = Plan([], levels, outs, ins, {k: len(v) for k, v in inkeys.items()}, [], state, vports, level_of,
                names=names_by_level)
    plan.tail, plan.out_active = tail, out_active
    return plan


def _single(n, d, vports, inkeys, outkeys, base_in=None, base_out=None) -> Single:
    """A non-batched neuron's Single, its dense rows' keys appended to `inkeys` and
    `outkeys` (kind -> list): row = base + place in the list (base 0: the lists are all
    the rows)."""
    s = Single(n, d)
    if d.type.variadic:
        s.inputs = {p: ("vvalue", (n, p)) for p in vports[n]}
        return s
    for port, p in d.type.inputs.items():
        if p.kind in DENSE:
            s.inputs[port] = (p.kind, (base_in[p.kind] if base_in else 0) + len(inkeys[p.kind]))
            inkeys[p.kind].append((n, port))
        else:
            s.inputs[port] = (p.kind, (n, port))
    for port, kind in d.type.outputs.items():
        if kind in DENSE:
            s.outputs[port] = (kind, (base_out[kind] if base_out else 0) + len(outkeys[kind]))
            outkeys[kind].append((n, port))
        else:
            s.outputs[port] = (kind, (n, port))
    return s


class _Edit:
    """A group of a level being laid out by change: its running-plan Group (None: new),
    its members, and the members taken out and put in."""

    __slots__ = ("old", "key", "members", "gone", "born")

    def __init__(self, old, key, members):
        self.old, self.key, self.members = old, key, members
        self.gone, self.born = [], []

    def edit(self) -> list:
        if self.members is (self.old.names if self.old is not None else None):
            self.members = list(self.members)
        return self.members


def relayout(prev: Plan, names_by_level, level_of, changed, redeclared, decls, vports) -> Plan | None:
    """The layout of `names_by_level` made from the running plan's by change: `changed`:
    every neuron whose level changed, that joined or left the active set, or whose
    declaration came, changed or went; `redeclared`: those active before and after whose
    declaration changed (taken out and laid out again). Levels no change reaches keep their
    groups; an edited group keeps its members' rows as numpy slices, a member taken out or
    put in at its place in declaration order. None where the layout from scratch must run
    instead (the running plan was not laid out with key ids, or its key tables hold more
    dead keys than live ones)."""
    seq = getattr(decls, "seq", None)
    if seq is None or getattr(prev, "tail", None) is None:
        return None
    pin, pout = prev.in_index, prev.out_index
    if any(len(x[k].keys.key) > 2 * len(x[k]) + DEAD for x in (pin, pout) for k in DENSE):
        return None
    every = set(changed) | set(redeclared)
    rm: dict = {}  # old level -> names leaving it
    ad: dict = {}  # new level -> names entering it
    for n in every:
        lo, ln = prev.level_of.get(n), level_of.get(n)
        if lo == ln and n not in redeclared:
            continue
        if lo is not None:
            rm.setdefault(lo, []).append(n)
        if ln is not None:
            ad.setdefault(ln, []).append(n)
    key = seq.__getitem__
    touched = set()  # group keys whose members changed somewhere
    plan_levels = []  # per new level: ([_Edit], [Single | name to lay out])
    for L, names in enumerate(names_by_level):
        old = prev.levels[L] if L < len(prev.levels) else None
        out_, in_ = rm.get(L, ()), ad.get(L, ())
        n_old = len(prev.names[L]) if L < len(prev.names) else 0
        if n_old - len(out_) + len(in_) != len(names):
            return None
        groups = [_Edit(g, g.key, g.names) for g in old.groups] if old is not None else []
        singles = list(old.singles) if old is not None else []
        if out_ or in_:
            for n in out_:
                for e in groups:
                    if n in e.members:
                        e.edit().remove(n)
                        e.gone.append(n)
                        touched.add(e.key)
                        break
                else:
                    i = next((i for i, s in enumerate(singles) if s.name == n), None)
                    if i is None:
                        return None
                    del singles[i]
            by_key = {e.key: e for e in groups}
            for n in sorted(in_, key=key):
                d = decls[n]
                if not d.type.batched:
                    singles.insert(bisect.bisect(singles, key(n), key=lambda s: key(s if isinstance(s, str) else s.name)), n)
                    continue
                touched.add(d.key)
                e = by_key.get(d.key)
                if e is None:
                    e = by_key[d.key] = _Edit(None, d.key, [n])
                    groups.append(e)
                else:
                    bisect.insort(e.edit(), n, key=key)
                e.born.append(n)
            groups = [e for e in groups if e.members]
            groups.sort(key=lambda e: key(e.members[0]))
        plan_levels.append((groups, singles))
    # rows: ids piece by piece (numpy slices of the running plan's where a block is kept)
    keys_in = {k: pin[k].keys for k in DENSE}
    keys_out = {k: pout[k].keys for k in DENSE}
    pieces_in = {k: [] for k in DENSE}
    pieces_out = {k: [] for k in DENSE}
    n_in = {k: 0 for k in DENSE}
    n_out = {k: 0 for k in DENSE}
    state_members: dict = {}  # group key -> [member lists, level by level]
    levels = []
    for groups, singles in plan_levels:
        lv = Level([], [])
        start = dict(n_in)
        for e in groups:
            og, members = e.old, e.members
            if og is not None:
                t, args, every_ = og.type, og.args, og.every
            else:
                d = decls[members[0]]
                t, args, every_ = d.type, d.args, d.every
            g = Group(e.key, t, args, members, every_)
            state_members.setdefault(e.key, []).append(members)
            m = len(members)
            for port, p in t.inputs.items():
                if p.kind not in DENSE:
                    g.inputs[port] = (p.kind, None)
                    continue
                ids = _group_ids(e, port, pin[p.kind], keys_in[p.kind], True)
                a = n_in[p.kind]
                pieces_in[p.kind].append(ids)
                n_in[p.kind] = a + m
                g.inputs[port] = (p.kind, slice(a, a + m))
            for port, kind in t.outputs.items():
                ids = _group_ids(e, port, pout[kind], keys_out[kind], False)
                a = n_out[kind]
                pieces_out[kind].append(ids)
                n_out[kind] = a + m
                g.outputs[port] = (kind, slice(a, a + m))
            lv.groups.append(g)
        for s in singles:
            if isinstance(s, str):
                d = decls[s]
                ins, outs = {k: [] for k in DENSE}, {k: [] for k in DENSE}
                s = _single(s, d, vports, ins, outs, n_in, n_out)
                for k in DENSE:
                    if ins[k]:
                        pieces_in[k].append(keys_in[k].ids(ins[k]))
                        n_in[k] += len(ins[k])
                    if outs[k]:
                        pieces_out[k].append(keys_out[k].ids(outs[k]))
                        n_out[k] += len(outs[k])
            else:
                s = _single_moved(s, vports, pieces_in, pieces_out, n_in, n_out, pin, pout)
            lv.singles.append(s)
        lv.rows = {k: slice(start[k], n_in[k]) for k in DENSE}
        levels.append(lv)
    # group state: a key's rows run through its groups level by level
    state = {}
    for gkey, lists in state_members.items():
        old = prev.state_layout.get(gkey)
        state[gkey] = old if gkey not in touched and old is not None else list(chain.from_iterable(lists))
    offset = dict.fromkeys(state, 0)
    for lv in levels:
        for g in lv.groups:
            a = offset[g.key]
            g.state_slice = slice(a, a + len(g.names))
            offset[g.key] = a + len(g.names)
    # the outputs of declared neurons that are not active, in declaration order
    out_active = dict(n_out)
    tail = prev.tail
    put = sorted((n for n in every if n not in level_of and n in decls and not decls[n].type.variadic), key=key)
    if put or not every.isdisjoint(tail):  # (each changed neuron taken out, put back where it goes)
        tail = [n for n in tail if n not in every]
        for n in put:
            bisect.insort(tail, n, key=key)
    for k in DENSE:
        if tail is prev.tail:
            pieces_out[k].append(pout[k].at[prev.out_active[k]:])
        else:
            pieces_out[k].append(keys_out[k].ids(
                [(n, port) for n in tail for port, kind in _dense_outputs(decls[n].type) if kind == k]))
    ins = {k: Index(keys_in[k], _cat(pieces_in[k])) for k in DENSE}
    outs = {k: Index(keys_out[k], _cat(pieces_out[k])) for k in DENSE}
    plan = Plan([], levels, outs, ins, {k: len(ins[k]) for k in DENSE}, [], state, vports, level_of,
                names=names_by_level)
    plan.tail, plan.out_active = tail, out_active
    return plan


def _cat(pieces) -> np.ndarray:
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def _group_ids(e: _Edit, port, index: Index, keys: Keys, inputs: bool) -> np.ndarray:
    """The key ids of a group's rows for `port`: the running plan's rows of it (a numpy
    slice), with the members taken out deleted and those put in inserted at their places
    (the kept members keep their order)."""
    og = e.old
    if og is None:
        return keys.ids(zip(e.members, repeat(port)))
    ids = index.at[(og.inputs if inputs else og.outputs)[port][1]]
    if e.gone:
        ids = np.delete(ids, [og.names.index(n) for n in e.gone])
    if e.born:
        # put in at their final places j (ascending): before entry j - t of the kept ones
        at = sorted(e.members.index(n) for n in e.born)
        new = keys.ids([(e.members[j], port) for j in at])
        ids = np.insert(ids, [j - t for t, j in enumerate(at)], new)
    return ids


def _single_moved(s: Single, vports, pieces_in, pieces_out, n_in, n_out, pin, pout) -> Single:
    """A kept non-batched neuron at its new rows (the same object where none moved)."""
    n = s.name
    if s.decl.type.variadic:
        ports = vports[n]
        return s if list(s.inputs) == ports else Single(n, s.decl, {p: ("vvalue", (n, p)) for p in ports}, {})
    moved = False
    new = []
    for table, pieces, count, index in ((s.inputs, pieces_in, n_in, pin), (s.outputs, pieces_out, n_out, pout)):
        rows = {}
        for port, (kind, r) in table.items():
            if kind in DENSE:
                a = count[kind]
                pieces[kind].append(index[kind].at[r:r + 1])
                count[kind] = a + 1
                moved |= a != r
                rows[port] = (kind, a)
            else:
                rows[port] = (kind, r)
        new.append(rows)
    return Single(n, s.decl, new[0], new[1]) if moved else s
