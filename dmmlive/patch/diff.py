"""A new patch against the running network: one edit (declarations + ΔW) for `self`.

The patch owns the rows it writes. For every input row (dst, port) that the previous
or the new patch mentions, the edit makes the running row equal to the new patch's
row (a row the new patch drops goes to zero). Rows neither patch mentions — written by
the network itself, or by OSC on ports the patch leaves alone — are not touched.
Neurons the new patch keeps with the same type and arguments keep their state; one
whose type or arguments change is replaced by a crossfade; one the patch drops loses
its rows, fades out and is retired.

Cost: the rows the texts change are diffed in Python (`vv.sub`), over only the entries
that changed where the patch records them (`_entries`); every other destination is
checked whole against the running W with one dict comparison (shared rows compare by
identity), and walked only where the running W differs (the network or OSC wrote
there); with the `Seen` of the last apply, where nothing else wrote since, only the
destinations and names that apply touched are checked. When `new` was parsed against `old` (`parse(..., previous=old)`, even
in another process) its W is `old`'s with the changed rows replaced; otherwise it is
built once and the two are compared destination by destination. Declarations are
compared by equality first, `freeze` only where they differ.
"""
from __future__ import annotations

from ..core import vv
from ..core.plan import freeze
from .grammar import full_matrix


EDITS_LINK = {"edits": {"delta": 1.0}}


def _rows(W):
    return {(d, p) for d, ins in W.items() for p in ins}


def diff_full(running_W: dict, running, old, new) -> tuple[dict, dict]:
    """The reference: every row of both patches walked (what `diff` must equal)."""
    w_new = full_matrix(new.rows, new.defaults)
    decl_new = {n: (d.type, dict(d.args)) for n, d in new.neurons.items()}
    w_old = full_matrix(old.rows, old.defaults) if old is not None else {}
    delta: dict = {}
    for d, p in _rows(w_new) | _rows(w_old):
        _row(delta, running_W, w_new, d, p)
    declare = {}
    for name, (tname, args) in decl_new.items():
        have = running.get(name)
        if have is None or have[0] != tname or freeze(have[1]) != freeze(dict(args)):
            declare[name] = (tname, dict(args))
    return delta, declare


def _row(delta: dict, running_W: dict, w_new: dict, d: str, p: str) -> None:
    target = vv.path(w_new, d, p)
    if (d, p) == ("self", "delta"):  # the patch adds to Self's input: the edits link stays
        target = vv.add(target, EDITS_LINK)
    current = vv.path(running_W, d, p)
    change = vv.sub(target, current) if current else vv.prune(target)  # a copy: W is cached
    if change:
        delta.setdefault(d, {})[p] = change


class Seen:
    """What the running network held right after a session applied a patch: `W` and `decls`
    (the machine's pending_matrix() and pending_decls() then), the destinations that edit
    wrote (`wrote`) and the names it declared (`declared`). At the next save, where the
    machine's W and declarations still equal these (the core builds W by path copying, so
    the destinations nobody wrote are the same objects and compare at once), only those
    destinations and names and what the patch changed can need an edit: every other one
    the last diff left equal to its patch, or found nothing to do for."""
    __slots__ = ("serial", "W", "decls", "wrote", "declared")

    def __init__(self, serial, W, decls, wrote, declared):
        self.serial, self.W, self.decls, self.wrote, self.declared = serial, W, decls, wrote, declared


def _still(seen, old, running_W, running) -> bool:
    """Whether the running network is as `seen` left it, `old` being the patch it applied."""
    if seen is None or old is None or seen.serial != old.serial:
        return False
    decls = getattr(running, "_decls", None)
    try:
        return bool(decls is not None and running_W == seen.W and decls == seen.decls)
    except Exception:  # noqa: BLE001  (arrays in arguments: compare the long way)
        return False


def diff(running_W: dict, running, old, new, seen: Seen | None = None) -> tuple[dict, dict]:
    """(ΔW, declare) taking the running network from patch `old` (or None) to `new`.

    `running_W` is the machine's W, `running` its {name: (type name, args)} (any mapping
    with `.get`; `running_decls(m)` for `seen`). `seen`: the Seen of the save that applied
    `old`, if any (then only what changed since is walked).
    """
    w_old = old.matrix() if old is not None else {}
    w_new = new.matrix(old)
    based = old is not None and new.base_serial == old.serial and new.changes is not None
    if based:
        changed = new.changes.keys()
        entries = new.entry_changes or {}
    else:
        changed = {d for d in w_new.keys() | w_old.keys()
                   if w_old.get(d) is not w_new.get(d) and w_old.get(d) != w_new.get(d)}
        entries = {}
    still = based and _still(seen, old, running_W, running)
    delta: dict = {}
    get = running_W.get
    for d in changed:
        if d == "self":
            continue
        o_sub, n_sub, r_sub = w_old.get(d, {}), w_new.get(d, {}), get(d)
        for p in o_sub.keys() | n_sub.keys():
            e = entries.get((d, p))
            if e is not None:
                _entries_row(delta, running_W, w_new, o_sub[p], d, p, e)
                continue
            if type(r_sub) is dict and p in n_sub:
                cur, target = r_sub.get(p), n_sub[p]
                if cur is target or cur == target:
                    continue  # its ΔW row would be empty
            _row(delta, running_W, w_new, d, p)
    if "self" in w_new or "self" in changed:  # its running row holds the edits link too
        for p in w_new.get("self", {}).keys() | (w_old.get("self", {}).keys() if "self" in changed else ()):
            _row(delta, running_W, w_new, "self", p)
    for d in (seen.wrote if still else w_new):
        if d in changed or d == "self":
            continue
        sub = w_new.get(d)
        if sub is None:
            continue
        if get(d) != sub:  # the network or OSC wrote here, or it is off by a rounding
            for p in sub:
                _row(delta, running_W, w_new, d, p)
    declare = {}
    names = new.neurons
    if still and new.decl_changes is not None:
        names = {n: names[n] for n in (*new.decl_changes, *seen.declared) if n in names}
    for name, decl in names.items():
        have = running.get(name)
        tname, args = decl.type, decl.args
        if have is not None and have[0] == tname:
            try:
                if have[1] is args or have[1] == args:
                    continue  # equal dicts freeze equal
            except Exception:  # noqa: BLE001  (arrays or such: let freeze decide, as before)
                pass
        if have is None or have[0] != tname or freeze(have[1]) != freeze(dict(args)):
            declare[name] = (tname, dict(args))
    return delta, declare


def _entries_row(delta: dict, running_W: dict, w_new: dict, o_row: dict, d: str, p: str,
                 edits: dict) -> None:
    """Row (d, p), whose patch entries `edits` changed (old row `o_row`): ΔW over those entries
    and any the running row holds otherwise than the old patch (the ΔW is zero elsewhere)."""
    cur = vv.path(running_W, d, p)
    if not cur or type(cur) is not dict:
        return _row(delta, running_W, w_new, d, p)
    keys = edits.keys()
    if cur is not o_row and cur != o_row:
        more = _differing(cur, o_row)
        if more is None:
            return _row(delta, running_W, w_new, d, p)
        keys = keys | more
    target = vv.path(w_new, d, p)
    t_part: dict = {}
    c_part: dict = {}
    for src, out in keys:
        x = target.get(src)
        if x is not None and out in x:
            t_part.setdefault(src, {})[out] = x[out]
        y = cur.get(src)
        if y is not None:
            if type(y) is not dict:  # not rank 4 here: the general way
                return _row(delta, running_W, w_new, d, p)
            if out in y:
                c_part.setdefault(src, {})[out] = y[out]
    change = vv.sub(t_part, c_part) if c_part else vv.prune(t_part)
    if change:
        delta.setdefault(d, {})[p] = change


def _differing(cur: dict, old: dict):
    """{(src, out)} where running row `cur` and patch row `old` differ; None where `cur` is not
    {src: {out: number}}."""
    if type(cur) is not dict:
        return None
    out = set()
    for src, x in cur.items():
        y = old.get(src)
        if x is y:
            continue
        if type(x) is not dict:
            return None
        if y is None:
            out.update((src, o) for o in x)
            continue
        if x == y:
            continue
        for o, v in x.items():
            if type(v) is dict:
                return None
            if y.get(o) != v:
                out.add((src, o))
        out.update((src, o) for o in y.keys() - x.keys())
    for src in old.keys() - cur.keys():
        out.update((src, o) for o in old[src])
    return out
