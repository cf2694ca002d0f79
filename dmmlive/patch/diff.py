"""A new patch against the running network: one edit (declarations + ΔW) for `self`.

The patch owns the rows it writes. For every input row (dst, port) that the previous
or the new patch mentions, the edit makes the running row equal to the new patch's
row (a row the new patch drops goes to zero). Rows neither patch mentions — written by
the network itself, or by OSC on ports the patch leaves alone — are not touched.
Neurons the new patch keeps with the same type and arguments keep their state; one
whose type or arguments change is replaced by a crossfade; one the patch drops loses
its rows, fades out and is retired.
"""
from __future__ import annotations

from ..core import vv
from ..core.plan import freeze


EDITS_LINK = {"edits": {"delta": 1.0}}


def _rows(W):
    return {(d, p) for d, ins in W.items() for p in ins}


def diff(running_W: dict, running: dict, old, new) -> tuple[dict, dict]:
    """(ΔW, declare) taking the running network from patch `old` (or None) to `new`.

    `running_W` is the machine's W, `running` its {name: (type name, args)}.
    """
    w_new, decl_new = new.to_matrix()
    w_old = old.to_matrix()[0] if old is not None else {}
    delta: dict = {}
    for d, p in _rows(w_new) | _rows(w_old):
        target = vv.path(w_new, d, p)
        if (d, p) == ("self", "delta"):  # the patch adds to Self's input: the edits link stays
            target = vv.add(target, EDITS_LINK)
        current = vv.path(running_W, d, p)
        change = vv.sub(target, current) if current else target
        if change:
            delta.setdefault(d, {})[p] = change
    declare = {}
    for name, (tname, args) in decl_new.items():
        have = running.get(name)
        if have is None or have[0] != tname or freeze(have[1]) != freeze(dict(args)):
            declare[name] = (tname, dict(args))
    return delta, declare
