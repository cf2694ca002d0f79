"""The authors' lightweight pure DMMs (anhinga/fluid, Processing, 2016-2018) as V-value machines.

In their sketches every stream is a dense network matrix `M[i][j]` (rows: neuron inputs,
columns: neuron outputs) and `outputs[0]` is the network matrix W itself. Here a matrix is
the rank-4 V-value `{dst: {input: {src: {output: M[i][j]}}}}`, row `i` naming the input
`INPUTS[i]` and column `j` the output `OUTPUTS[j]` of the 11-output sketches:

    column 0: Self (W)      1, 3, ... 9: constant matrices (the update neurons)
    2: plus2 (accum)        4, 6: mul4, mul6 (vmul)        8, 10: max8, max10 (vmax)
    row 0: Self's accumulator input (built into dmmlive's Self: not a row of W here)
    row 1: self.delta, the master row     rows 2..11: the inputs of neurons 2..10

    python -m dmmlive.lightweight aug26|aug27 [TICKS]      their printed traces
    python -m dmmlive.lightweight afterlife [SEED] [TICKS] [--arrays]  a seeded random run
                                                  (--arrays: on AfterlifeArrays, ~30x faster)

docs/network-writes-itself.md tells what each sketch is and what differs here.
"""
from __future__ import annotations

import sys

import numpy as np

from . import vv
from .core.machine import Machine
from .neurons.research import squeezed

OUTPUTS = [("self", "matrix"), ("c1", "out"), ("plus2", "single"), ("c3", "out"),
           ("mul4", "product"), ("c5", "out"), ("mul6", "product"), ("c7", "out"),
           ("max8", "max"), ("c9", "out"), ("max10", "max")]
INPUTS = [None, ("self", "delta"), ("plus2", "accum"), ("plus2", "delta"),
          ("mul4", "dict-1"), ("mul4", "dict-2"), ("mul6", "dict-1"), ("mul6", "dict-2"),
          ("max8", "dict-1"), ("max8", "dict-2"), ("max10", "dict-1"), ("max10", "dict-2")]
TYPES = {"plus2": "accum", "mul4": "vmul", "mul6": "vmul", "max8": "vmax", "max10": "vmax"}


def to_vvalue(m, inputs=INPUTS, outputs=OUTPUTS) -> dict:
    """A dense matrix (rows `inputs`, columns `outputs`) as a rank-4 V-value; a row
    named None (Self's accumulator) and zero entries are left out."""
    out: dict = {}
    for i, dst in enumerate(inputs):
        if dst is None:
            continue
        for j, src in enumerate(outputs):
            x = float(m[i][j])
            if x:
                out.setdefault(dst[0], {}).setdefault(dst[1], {}).setdefault(src[0], {})[src[1]] = x
    return out


def to_dense(v, inputs=INPUTS, outputs=OUTPUTS) -> np.ndarray:
    """The entries of a rank-4 V-value at the map's rows and columns, as a dense matrix
    (row None stays 0; entries outside the map are not shown)."""
    m = np.zeros((len(inputs), len(outputs)))
    for i, dst in enumerate(inputs):
        for j, src in enumerate(outputs):
            if dst is not None:
                x = vv.path(v, *dst, *src)
                m[i, j] = x if vv.is_number(x) else 0.0
    return m


def sketch(updates: dict, master: dict, decor: bool = True) -> Machine:
    """A synchronous machine of the aug_2x_16 sketches: `updates` {j: the dense matrix of
    constant output j (odd)}, `master` {j: W[1][j]}; with `decor`, their decorative
    entries W[2][0] = W[4][0] = W[5][0] = 0.5. The constants are registers (identity,
    weight-1 self-loop: their value stays and so do they, in the active set) holding
    their matrix from before the first tick, as the sketch's outputs do."""
    m = Machine(schedule="synchronous")
    for name, t in TYPES.items():
        m.add(name, t)
    for j, mat in sorted(updates.items()):
        name, port = OUTPUTS[j]
        m.add(name, "identity")
        m.connect(f"{name}.{port}", f"{name}.{port}", 1.0)
        m.set_output(name, port, to_vvalue(mat))
    for j, w in master.items():
        m.connect("self.delta", ".".join(OUTPUTS[j]), w)
    if decor:
        for i in (2, 4, 5):
            m.connect(".".join(INPUTS[i]), "self.matrix", 0.5)
    m.set_output("self", "matrix", m.matrix)  # W is an output before the first tick, as there
    return m


def unit(i: int, j: int, x: float, shape=(12, 11)) -> np.ndarray:
    m = np.zeros(shape)
    m[i, j] = x
    return m


def aug26() -> Machine:
    """aug_26_16_experiment: outputs[1][1][1] = -2, W[1][1] = 1: W[1][1] alternates -1, 1."""
    return sketch({1: unit(1, 1, -2.0)}, {1: 1.0})


def aug27() -> Machine:
    """aug_27_16_experiment: update neuron j moves the master row's link from column j to
    j+2 (9 to 1); the link starts at W[1][1] and goes round with period 5."""
    ups = {j: unit(1, j, -1.0) + unit(1, j + 2 if j < 9 else 1, 1.0) for j in (1, 3, 5, 7, 9)}
    return sketch(ups, {1: 1.0})


# ---- the afterlife runs: random, squeezed ---------------------------------------------------
# A smaller map (five outputs) keeps a tick cheap: Self's stand-in `w`, two constants,
# a vmul and a vmax, every output squeezed (their "squeeze o f").
A_OUTPUTS = [("w", "single"), ("c1", "out"), ("mul2", "product"), ("c3", "out"), ("max4", "max")]
A_INPUTS = [None, ("w", "delta"), ("mul2", "dict-1"), ("mul2", "dict-2"), ("max4", "dict-1"), ("max4", "dict-2")]
# the links that make W follow w, held fixed by w's squeeze (their row 0, set back to
# [1, 0, ...] after each squeeze): W gains w's last output and loses the one before it
A_KEEP = {"self": {"delta": {"w": {"single": 1.0}, "prev": {"x": -1.0}}},
          "w": {"accum": {"w": {"single": 1.0}}}, "prev": {"x": {"w": {"single": 1.0}}}}


def afterlife(seed: int = 300032) -> Machine:
    """A seeded random self-referential machine in the manner of their afterlife runs.

    `w` (type squeeze) is their Self: w = squeeze(w + Σ_j W[w.delta][j] * output_j), the
    master row being W's w.delta row and column 0 w itself; self.delta gets w - prev (prev
    holds w's output before), so W at tick t+1 is w's output at tick t. The constants
    c1, c3 and the first W are uniform in [-1, 1], squeezed (numpy's default_rng(seed)).
    """
    rng = np.random.default_rng(seed)
    shape = (len(A_INPUTS), len(A_OUTPUTS))

    def draw():  # every matrix carries A_KEEP's paths, so all share one shape (flat sums)
        return squeezed(to_vvalue(rng.uniform(-1, 1, shape), A_INPUTS, A_OUTPUTS), A_KEEP)

    m = Machine(schedule="synchronous")
    m.add("w", "squeeze", keep=A_KEEP)
    m.add("prev", "identity")
    m.add("mul2", "vmul", squeeze=True)
    m.add("max4", "vmax", squeeze=True)
    for name in ("c1", "c3"):
        v = draw()
        m.add(name, "const", value=v)
        m.set_output(name, "out", v)
    w0 = draw()
    for dn, ports in w0.items():
        for dp, row in ports.items():
            for sn, outs in row.items():
                for sp, x in outs.items():
                    m.connect(f"{dn}.{dp}", f"{sn}.{sp}", x)
    m.set_output("w", "single", w0)
    m.set_output("prev", "x", w0)
    return m


class AfterlifeArrays:
    """An `afterlife` machine run on arrays, to the bit as the machine runs it (~20x faster:
    what lets a test run 10^5 ticks). Every V-value of the run has the same 29 leaf paths
    (the 5x5 map and A_KEEP's), so each is a float vector over them; W is one too (less
    the fixed edits -> self link, which carries nothing here). A tick does what the
    synchronous machine does, with the same float operations in the same order:

    - each input row sums its terms in W's order of them, `weight * output` each, as
      `vv.flat_sum` does (all rows at once, a shorter row padded with weight-0 terms:
      + 0.0 changes no finite sum);
    - w = squeeze(accum + delta) with A_KEEP's paths held, mul2 = squeeze(dict-1 * dict-2),
      max4 = squeeze(max(dict-1, dict-2)), prev = w (research.py: squeezed, vmul_values,
      vmax_values, an absent leaf being 0 and a non-finite product or maximum dropped);
    - Self adds its input into W a term at a time (core/edits.py, `_fire_self`).

    It starts from the machine's W and outputs as they are (`afterlife(seed)` before its
    first tick, or any tick later). It stays the machine's to the bit while no weight of W
    passes through exactly 0 (the machine would drop that entry, and one written again
    would join its row last: its terms would then be summed in another order);
    tests/core/test_afterlife.py checks it tick for tick."""

    SOURCES = [*A_OUTPUTS, ("prev", "x")]

    def __init__(self, m: Machine):
        W, w = m.matrix, m.output("w", "single")
        self.paths = [(d, i, s, o) for d, ins in w.items() for i, row in ins.items()
                      for s, outs in row.items() for o in outs]
        self._at = {p: k for k, p in enumerate(self.paths)}
        self.W = self.vector(W, skip={("self", "delta", "edits", "delta")})
        self.Y = np.array([self.vector(m.output(*s)) for s in self.SOURCES])
        col = {s: j for j, s in enumerate(self.SOURCES)}
        self.rows: dict = {}  # (dst, input) -> [(the weight's index in W, its source's row in Y)]
        for d, ins in W.items():
            for i, row in ins.items():
                for s, outs in row.items():
                    for o in outs:
                        if (s, o) in col:
                            self.rows.setdefault((d, i), []).append((self._at[d, i, s, o], col[s, o]))
        self._names = [r for r in self.rows if r != ("self", "delta")]  # (Self's: below)
        n = max(len(self.rows[r]) for r in self._names)
        pad = [self.rows[r] + [(0, 0)] * (n - len(self.rows[r])) for r in self._names]
        self._terms = (np.array([[k for k, _ in r] for r in pad]), np.array([[j for _, j in r] for r in pad]),
                       np.array([[1.0] * len(self.rows[r]) + [0.0] * (n - len(self.rows[r])) for r in self._names]))
        self._keep = [self._at[p] for p in _leaf_paths(A_KEEP)]
        self._keepv = np.array([vv.path(A_KEEP, *p) for p in _leaf_paths(A_KEEP)])
        self.t = m.t

    def vector(self, v, skip=()) -> np.ndarray:
        """A V-value of the run as a vector over `paths` (an absent leaf is 0); a leaf at
        any other path (not in `skip`) is a ValueError: the run is not the arrays' then."""
        out = np.zeros(len(self.paths))
        for path in _leaf_paths(v):
            k = self._at.get(path)
            if k is None:
                if path not in skip:
                    raise ValueError(f"{'.'.join(path)} is not a path of this run")
                continue
            out[k] = vv.path(v, *path)
        return out

    def output(self, name: str) -> np.ndarray:
        return self.Y[[s[0] for s in self.SOURCES].index(name)]

    def _inputs(self) -> dict:
        """{row: its input}, but Self's."""
        K, J, real = self._terms
        w = self.W[K] * real
        acc = self.Y[J[:, 0]] * w[:, :1]
        for c in range(1, K.shape[1]):
            acc = acc + self.Y[J[:, c]] * w[:, c:c + 1]
        return dict(zip(self._names, acc))

    def _squeezed(self, v, keep=False) -> np.ndarray:
        if keep:
            v = v.copy()
            v[self._keep] = 0.0
        m = np.abs(v).max()
        s = 1.0 / m if m else 0.0
        out = v * s if s else np.zeros_like(v)
        if keep:
            out[self._keep] = self._keepv
        return out

    def tick(self) -> None:
        x = self._inputs()
        Y, new = self.Y, self.Y.copy()
        p = x["mul2", "dict-1"] * x["mul2", "dict-2"]
        a, b = x["max4", "dict-1"], x["max4", "dict-2"]
        q = np.where(a > b, a, b)
        new[0] = self._squeezed(x["w", "accum"] + x["w", "delta"], keep=True)
        new[2] = self._squeezed(np.where(np.isfinite(p), p, 0.0))
        new[4] = self._squeezed(np.where(np.isfinite(q), q, 0.0))
        new[5] = x["prev", "x"]
        W = self.W
        for k, j in self.rows.get(("self", "delta"), ()):  # Self: a term at a time
            if W[k] != 0:
                self.W = self.W + Y[j] * W[k]
        self.Y = new
        self.t += 1


def _leaf_paths(v, prefix=()):
    for k, x in (v.items() if isinstance(v, dict) else ()):
        if isinstance(x, dict):
            yield from _leaf_paths(x, prefix + (k,))
        else:
            yield prefix + (k,)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    which = argv[0] if argv else "aug27"
    if which in ("aug26", "aug27"):
        ticks = int(argv[1]) if len(argv) > 1 else 10
        m = aug26() if which == "aug26" else aug27()
        print(f"{which}: frameCount, W[1][1], inputs[1][1][1] (the sketch's println)")
        for _ in range(ticks):
            m.tick()
            w = to_dense(m.matrix)[1, 1]
            d = to_dense(m.input("self", "delta"))[1, 1]
            print(f"{m.t} {w:.1f} {d:.1f}")
    elif which == "afterlife":
        arrays = "--arrays" in argv
        argv = [a for a in argv if a != "--arrays"]
        seed = int(argv[1]) if len(argv) > 1 else 300032
        ticks = int(argv[2]) if len(argv) > 2 else 40
        m = afterlife(seed)
        a = AfterlifeArrays(m) if arrays else None
        master = [a.paths.index(("w", "delta") + s) for s in A_OUTPUTS] if a else None
        print(f"afterlife seed {seed}: tick, the master row W[1][0..4]")
        for _ in range(ticks):
            if a is not None:
                a.tick()
                t, row = a.t, a.W[master]
            else:
                m.tick()
                t, row = m.t, to_dense(m.matrix, A_INPUTS, A_OUTPUTS)[1]
            print(f"{t:6d}  " + " ".join(f"{x:+.4f}" for x in row))
    else:
        print(f"unknown run {which!r}: aug26, aug27 or afterlife", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
