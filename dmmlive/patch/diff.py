"""A new patch against the running network: one edit (declarations + ΔW) for `self`.

The patch owns the rows it writes. For every input row (dst, port) that the previous
or the new patch mentions, the edit makes the running row equal to the new patch's
row (a row the new patch drops goes to zero). Rows neither patch mentions — written by
the network itself, or by OSC on ports the patch leaves alone — are not touched.
Neurons the new patch keeps with the same type and arguments keep their state; one
whose type or arguments change is replaced by a crossfade; one the patch drops loses
its rows, fades out and is retired.

Cost: the rows the texts change are diffed in Python (`vv.sub`); every other
destination is checked whole against the running W with one dict comparison (shared
rows compare by identity), and walked only where the running W differs (the network or
OSC wrote there). When `new` was parsed against `old` (`parse(..., previous=old)`, even
in another process) its W is `old`'s with the changed rows replaced; otherwise it is
built once and the two are compared destination by destination. Declarations are
compared by equality first, `freeze` only where they differ.
"""
from __future__ import annotations

from ..core import vv
from ..core.plan import freeze
from .parse import _full_matrix


EDITS_LINK = {"edits": {"delta": 1.0}}


def _rows(W):
    return {(d, p) for d, ins in W.items() for p in ins}


def diff_full(running_W: dict, running, old, new) -> tuple[dict, dict]:
    """The reference: every row of both patches walked (what `diff` must equal)."""
    w_new = _full_matrix(new.rows, new.defaults)
    decl_new = {n: (d.type, dict(d.args)) for n, d in new.neurons.items()}
    w_old = _full_matrix(old.rows, old.defaults) if old is not None else {}
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


def diff(running_W: dict, running, old, new) -> tuple[dict, dict]:
    """(ΔW, declare) taking the running network from patch `old` (or None) to `new`.

    `running_W` is the machine's W, `running` its {name: (type name, args)} (any mapping
    with `.get`).
    """
    w_old = old.matrix() if old is not None else {}
    w_new = new.matrix(old)
    if old is not None and new._base == old._serial and new._changes is not None:
        changed = new._changes.keys()
    else:
        changed = {d for d in w_new.keys() | w_old.keys()
                   if w_old.get(d) is not w_new.get(d) and w_old.get(d) != w_new.get(d)}
    delta: dict = {}
    for d in changed:
        for p in w_old.get(d, {}).keys() | w_new.get(d, {}).keys():
            _row(delta, running_W, w_new, d, p)
    if "self" in w_new and "self" not in changed:  # its running row holds the edits link too
        for p in w_new["self"]:
            _row(delta, running_W, w_new, "self", p)
    get = running_W.get
    for d, sub in w_new.items():
        if d in changed or d == "self":
            continue
        if get(d) != sub:  # the network or OSC wrote here, or it is off by a rounding
            for p in sub:
                _row(delta, running_W, w_new, d, p)
    declare = {}
    for name, decl in new.neurons.items():
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
