"""A network that grows: `clone` copies a part of the network it reads from Self."""
from __future__ import annotations

import zlib

from ..core import vv
from ..core.declare import DECLARE
from ..core.errors import BadArgument
from ..core.plan import entries
from ..core.registry import neuron_type


def _check(args):
    p, n = args["prefix"], args["max"]
    if not isinstance(p, str) or not p or any(c in p for c in ". \t\n:"):
        raise BadArgument(f"clone: prefix must be the start of neuron names, like 'cell', got {p!r}")
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or not 1 <= n <= 4096:
        raise BadArgument(f"clone: max must be a whole number of neurons from 1 to 4096, got {n!r}")


def fresh_names(prefix: str, taken, k: int) -> list:
    """k names prefix1, prefix2, ... not in `taken` (the lowest free numbers)."""
    out, i = [], 1
    while len(out) < k:
        name = f"{prefix}{i}"
        if name not in taken:
            out.append(name)
        i += 1
    return out


def _spread(name: str) -> float:
    """A number in [-1, 1] fixed by a name (a copy's detuning: the same in every run)."""
    return zlib.crc32(name.encode()) / 0xFFFFFFFF * 2.0 - 1.0


def clone_delta(W: dict, decls: dict, prefix: str, most: int, vary: float = 0.0) -> dict:
    """The ΔW (with its ":declare" section) that copies the neurons named `prefix*` of
    `decls` (Self's `decls` V-value) once more each, up to `most` of them in all (the
    first ones by name when not all fit): each copy declared as its original, its input
    rows copied (a source that is copied too is the copy's), and every link from an
    original to a neuron outside the copied part copied from the copy too. `vary`: a
    copy's constants (its weights from `one`) are its original's times 1 + vary·r, r in
    [-1, 1] fixed by its name (detuned copies)."""
    members = sorted(n for n in decls if n.startswith(prefix))
    k = min(len(members), most - len(members))
    if k <= 0:
        return {}
    copied = members[:k]
    new = dict(zip(copied, fresh_names(prefix, set(decls), k)))
    out: dict = {DECLARE: {}}
    for old, name in new.items():
        out[DECLARE][name] = decls[old]
    for dst, inp, src, o, w in entries(W):
        if not vv.is_number(w) or not w:
            continue
        if dst in new:      # a copy's input row: its sources, copied ones mapped
            d2, s2 = new[dst], new.get(src, src)
            if src == "one" and vary:
                w = w * (1.0 + vary * _spread(d2))
        elif src in new:    # a link out of an original, from the copy too
            d2, s2 = dst, new[src]
        else:
            continue
        out.setdefault(d2, {}).setdefault(inp, {}).setdefault(s2, {})[o] = w
    return out


@neuron_type("clone", inputs={"matrix": "vvalue", "decls": "vvalue"}, outputs={"out": "vvalue"},
             args={"prefix": "cell", "max": 16, "vary": 0.0}, check=_check)
def clone(inputs, state):
    """Clone: copies the neurons named `prefix*` (types, arguments, their rows and columns of W) under fresh names.

    Read W and the declarations from Self and write the result into Self:
    `c = clone(self.matrix, self.decls, prefix="cell", max=16, every=375)`, `self.delta = c`.
    Each time it fires (every=ticks: once a second at 375) the `cell*` part doubles, up to
    `max` neurons: 1, 2, 4, 8, 16. A copy is linked in as its original (its inputs from
    the same sources, copied sources mapped to their copies; its outputs to the same
    neurons), so a voice cloned into a mixer is heard twice. The declarations travel in
    the ΔW's ":declare" section, so a log of a growing set replays exactly. `vary=0.01`
    detunes each copy's constants by up to ±1% (fixed by its name).
    """
    a = state["args"]
    return {"out": clone_delta(inputs["matrix"], inputs["decls"], a["prefix"], int(a["max"]), float(a["vary"]))}

