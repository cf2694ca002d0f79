"""V-values at array speed: a closed cluster of `identity` neurons whose V-values share one
shape, run as one array.

In the synchronous schedule a research network is often many `identity` neurons (the
authors' registers and sums) linked among themselves, every V-value with the same keys.
Each tick then takes each neuron's input as a weighted sum of the others' outputs, and
its output is that input. Where that holds for a whole cluster (every term of every row
of its units comes from a unit, every unit's V-value has one shape, all leaves finite,
non-zero floats, no unit slow), the cluster runs as an (units x leaves) float64 array:
term position by term position, `X[rows] = X[rows] + w * M[srcs]`, the same float
operations in the same order as the dict walk (`vv.add_into(acc, vv.scale(y, w))`), so
the same values to the bit; the dicts are made only where they are read: the units
other rows read (every tick), and any unit asked for (`materialize`). A sum that reaches
zero or leaves the finite numbers (the dict walk would drop that key) ends the program
before it changes anything, and the dict walk runs that tick. Any change to the plan, a
weight changed in place, an output set from outside: the program is ended (`deflate`)
and found again at a later tick.
"""
from __future__ import annotations

import numpy as np

MIN_UNITS = 32  # a cluster smaller than this is summed row by row (vv.flat_sum) as before
RETRY = 16      # ticks before looking again for a cluster where none was found


class FlatProgram:
    """A cluster of identity units run as an array (see the module doc)."""

    def __init__(self, level, units, shape, M, steps, readers, vrows, singles):
        self.level = level          # the plan's level it replaces rows and firings of
        self.units = units          # [(neuron, port)], row order of M
        self.index = {u: i for i, u in enumerate(units)}
        self.shape = shape          # vv.Shape of every unit's V-value
        self.M = M                  # (units, leaves): the units' outputs, last tick
        self.steps = steps          # term positions: [(rows, srcs, weights (k, 1))]; the first has every row
        self.readers = readers      # [(unit, row)] that other rows read: made into dicts each tick
        self.vrows = vrows          # the level's other vvalue rows
        self.singles = singles      # the level's other singles
        self.names = {u[0] for u in units}

    def run(self) -> bool:
        """This tick's sums and outputs; False (nothing changed) where the dict walk must
        run instead: a sum reaching zero on the way, or a leaf that is not finite."""
        M = self.M
        rows, srcs, w = self.steps[0]
        X = np.empty_like(M)
        X[rows] = w * M[srcs]
        if not X.all():
            return False
        for rows, srcs, w in self.steps[1:]:
            part = X[rows] + w * M[srcs]
            if not part.all():
                return False
            X[rows] = part
        if not np.isfinite(X).all():
            return False
        self.M = X
        return True

    def value(self, i, cache) -> dict:
        """Unit i's V-value as a dict (and known to `cache` as a clean flat sum)."""
        leaves = self.M[i].tolist()
        v = self.shape.build(leaves)
        cache.put(v, self.shape, leaves, True)
        return v


def build(plan, schedule, Yv, cache):
    """The FlatProgram of a machine's plan (its outputs `Yv`, its vv.FlatCache), or None
    where none fits (see the module doc)."""
    if schedule != "synchronous" or plan is None or len(plan.levels) != 1:
        return None
    lv = plan.levels[0]
    units, singles = [], []
    for s in lv.singles:
        if s.decl.type.passthrough and s.decl.every == 1 and s.inputs:
            units.extend((s.name, p) for p in s.inputs)
        else:
            singles.append(s)
    if len(units) < MIN_UNITS:
        return None
    index = {u: i for i, u in enumerate(units)}
    rows_of, vrows = {}, []
    for key, terms in lv.vrows:
        if key in index:
            rows_of[key] = terms
        else:
            vrows.append((key, terms))
    shape, leaves = None, []
    for u in units:
        terms = rows_of.get(u)
        if not terms or any(src not in index for src, _ in terms):
            return None
        e = cache.get(Yv.get(u))
        if e[1] is None or not e[3] or (shape is not None and e[1] is not shape) \
                or any(type(x) is not float for x in e[2]):
            return None
        shape = e[1]
        leaves.append(e[2])
    M = np.array(leaves, np.float64)
    steps = []
    for j in range(max(len(rows_of[u]) for u in units)):
        rows = [i for i, u in enumerate(units) if len(rows_of[u]) > j]
        srcs = [index[rows_of[units[i]][j][0]] for i in rows]
        w = [float(rows_of[units[i]][j][1]) for i in rows]
        steps.append((np.array(rows, np.int64), np.array(srcs, np.int64), np.array(w)[:, None]))
    read = {src for _, terms in vrows for src, _ in terms if src in index}
    readers = [(u, index[u]) for u in units if u in read]
    return FlatProgram(lv, units, shape, M, steps, readers, vrows, singles)


def materialize(prog, Yv, Xv, cache, unit=None) -> None:
    """Make the dicts of `unit` (input and output: an identity's are one), or of every
    unit, from the program's array, into a machine's outputs and inputs."""
    for u, i in ([(unit, prog.index[unit])] if unit is not None else prog.index.items()):
        v = prog.value(i, cache)
        Yv[u] = v
        Xv[u] = v

