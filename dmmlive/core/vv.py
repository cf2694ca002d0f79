"""V-values: nested dicts with number leaves (the authors' recurrent maps), kept pure.

A V-value is a number or a dict whose values are V-values. The scalar part of a
dict sits under the reserved key ":number". Zero leaves and empty dicts are
pruned from every result, so `{}` is the one zero. No function here mutates its
arguments: results share untouched subtrees with them (structural sharing), so
callers must treat every V-value as immutable.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Iterator, Mapping

NUMBER = ":number"

VValue = Any  # float | dict[str, VValue]


def is_number(x: Any) -> bool:
    t = type(x)
    if t is float or t is int:
        return True
    if t is dict or t is bool:
        return False
    return isinstance(x, Real)  # numpy scalars and other reals


def number(x: float) -> dict:
    """The V-value of a scalar: `{":number": x}`, or `{}` for zero."""
    return {NUMBER: float(x)} if x else {}


def _as_dict(x: VValue) -> dict:
    if isinstance(x, dict):
        return x
    return number(x) if is_number(x) else {}


def prune(v: VValue) -> VValue:
    """A copy of `v` with zero leaves and empty dicts removed (anything that is not a
    number or a dict counts as zero: "a brain should not segfault")."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            x = prune(x)
            if x != 0 and x != {}:
                out[k] = x
        return out
    return v if is_number(v) and math.isfinite(v) else 0


def add(*vs: VValue) -> VValue:
    """Sum of V-values. A number added to a dict goes under ":number"."""
    acc: VValue = {}
    first = True
    for v in vs:
        if first:
            acc, first = prune(v), False
        else:
            acc = _add2(acc, v)
    return acc


def add_into(a: VValue, b: VValue, pruned: bool = False) -> VValue:
    """a + b where `a` is already pruned: only the paths of `b` are visited and copied,
    so adding a small update to a large matrix costs the size of the update. With
    `pruned=True` `b` is taken as pruned too, and its subtrees are shared, not copied."""
    return _add2(a, b, pruned)


def _add2(a: VValue, b: VValue, pruned: bool = False) -> VValue:
    if not (is_number(b) or isinstance(b, dict)) or (is_number(b) and b == 0):
        return a
    if is_number(a) and is_number(b):
        return a + b
    a, b = _as_dict(a), _as_dict(b)
    if not a:
        return b if pruned else prune(b)
    out = dict(a)  # shallow: untouched subtrees are shared
    for k, y in b.items():
        x = out.get(k)
        if x is None:
            s = y if pruned else prune(y)
        else:
            s = _add2(x, y, pruned)
        if s == 0 or s == {}:
            out.pop(k, None)
        else:
            out[k] = s
    return out


def scale(v: VValue, c: float) -> VValue:
    """c * v."""
    if c == 0:
        return {} if isinstance(v, dict) else 0.0
    if type(v) is not dict:
        return v * c if is_number(v) else 0.0
    out = {}
    for k, x in v.items():
        if type(x) is float or type(x) is int:
            y = x * c
            if y != 0:
                out[k] = y
            continue
        y = scale(x, c)
        if y != 0 and y != {}:
            out[k] = y
    return out


def sub(a: VValue, b: VValue) -> VValue:
    return _add2(prune(a), scale(b, -1.0))


def mult_mask(mask: VValue, v: VValue) -> VValue:
    """Pointwise product along the mask: for each number leaf of `mask` whose path
    exists in `v`, that leaf times the subtree of `v` at the path; other paths drop."""
    if not isinstance(mask, dict):
        return {}
    out = {}
    for k, m in mask.items():
        x = v.get(k) if isinstance(v, dict) else None
        if x is None:
            continue
        if isinstance(m, dict):
            r = mult_mask(m, x) if isinstance(x, dict) else 0
        elif is_number(m):
            r = scale(x, m)
        else:
            r = 0
        if r != 0 and r != {}:
            out[k] = r
    return out


def lincomb(weights: VValue, values: VValue) -> dict:
    """The sum over the number leaves of `weights` of leaf * (the subtree of
    `values` at the same path): the down movement applied to one matrix row.
    The result is always a dict (a number result goes under ":number")."""
    out: VValue = {}
    if not isinstance(weights, dict) or not isinstance(values, dict):
        return {}
    for k, w in weights.items():
        x = values.get(k)
        if x is None:
            continue
        if isinstance(w, dict):
            term = lincomb(w, x) if isinstance(x, dict) else {}
        elif is_number(w):
            term = scale(x, w)
        else:
            term = {}
        if term != 0 and term != {}:
            out = _add2(out, term)
    return _as_dict(out)


def apply(matrix: VValue, vector: VValue, level: int = 1) -> dict:
    """Apply a matrix to a vector: at level 0 this is `lincomb(matrix, vector)`;
    at level k each entry of `matrix` is applied at level k-1. The down movement
    of a rank-4 network matrix W to the outputs {neuron: {port: value}} is level 2."""
    if level == 0:
        return lincomb(matrix, vector)
    out = {}
    for k, row in (matrix.items() if isinstance(matrix, dict) else ()):
        r = apply(row, vector, level - 1)
        if r:
            out[k] = r
    return out


def max_norm(v: VValue) -> dict:
    """`{":number": max |leaf|}`."""
    return number(_max_abs(v))


def _max_abs(v: VValue) -> float:
    if is_number(v):
        return abs(v)
    if isinstance(v, dict):
        return max((_max_abs(x) for x in v.values()), default=0.0)
    return 0.0


def dot(a: VValue, b: VValue) -> dict:
    """`{":number": sum of products of the leaves at matching paths}` (a bare
    number counts as its ":number" leaf)."""
    return number(_dot(_as_dict(a) if is_number(a) else a, _as_dict(b) if is_number(b) else b))


def _dot(a: VValue, b: VValue) -> float:
    if is_number(a) and is_number(b):
        return a * b
    if is_number(a):
        a = {NUMBER: a}
    if is_number(b):
        b = {NUMBER: b}
    if not isinstance(a, dict) or not isinstance(b, dict):
        return 0.0
    if len(b) < len(a):
        a, b = b, a
    return math.fsum(_dot(x, b[k]) for k, x in a.items() if k in b)


def path(v: VValue, *keys: str) -> VValue:
    """The subtree of `v` at `keys`, or `{}` where the path is absent."""
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return {}
        v = v[k]
    return v


def scalar(v: VValue) -> float:
    """The scalar part of `v` (its ":number" leaf, or the number itself)."""
    if is_number(v):
        return float(v)
    x = v.get(NUMBER, 0.0) if isinstance(v, dict) else 0.0
    return float(x) if is_number(x) else 0.0


def leaves(v: VValue, prefix: tuple = ()) -> Iterator[tuple[tuple, float]]:
    """Every (path, number) leaf of `v`, depth first."""
    if is_number(v):
        yield prefix, v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, prefix + (k,))


def from_leaves(items) -> dict:
    """The V-value holding the given (path, number) leaves (summed where they repeat)."""
    out: dict = {}
    for p, x in items:
        d = out
        for k in p[:-1]:
            d = d.setdefault(k, {})
        d[p[-1]] = d.get(p[-1], 0.0) + x
    return prune(out)


def is_zero(v: VValue) -> bool:
    return prune(v) in (0, {})


def canonical(v: VValue) -> dict:
    """The one representation of `v`: every number leaf sits under a ":number" key
    (a number x and {":number": x} are the same element)."""
    if is_number(v):
        return number(v)
    if not isinstance(v, dict):
        return {}
    out = {}
    for k, x in v.items():
        c = (float(x) if x else None) if (k == NUMBER and is_number(x)) else (canonical(x) or None)
        if c is not None and (k != NUMBER or is_number(x)):
            out[k] = c
    return out


def equal(a: VValue, b: VValue) -> bool:
    """Whether a and b are the same V-value (whatever their representations)."""
    return canonical(prune(a)) == canonical(prune(b))


def validate(v: VValue, what: str = "V-value") -> None:
    """Raise ValueError naming the first leaf that is not a finite number."""
    for p, x in _all_leaves(v, ()):
        if not is_number(x) or not math.isfinite(x):
            where = "/".join(map(str, p)) or "(root)"
            raise ValueError(f"{what}: leaf at {where} is {x!r}, not a finite number")


def _all_leaves(v: VValue, prefix: tuple):
    if isinstance(v, Mapping):
        for k, x in v.items():
            if not isinstance(k, str):
                raise ValueError(f"key {k!r} at {'/'.join(map(str, prefix)) or '(root)'} is not a string")
            yield from _all_leaves(x, prefix + (k,))
    else:
        yield prefix, v


# ---- flat sums: V-values of one shape summed as lists of leaves ----------------------------------
FLAT_MAX = 256  # the most leaves a V-value flattened for a flat sum has (a larger one: the dict walk)


class FlatCache:
    """V-values flattened for `flat_sum`: each to its shape (its leaf paths in order, one
    interned tuple per distinct shape, so shapes compare with `is`), its leaves, and
    whether they are all finite and non-zero (`clean`: pruning it would give it back).
    It keeps the V-values it holds alive (an id is not reused while cached), for two
    generations: `sweep` (once a tick) forgets what was not used since the last one."""

    def __init__(self):
        self.cur: dict = {}
        self.old: dict = {}
        self.shapes: dict = {}

    def sweep(self) -> None:
        if not (self.cur or self.old):  # (a tick with no V-value sum: nothing to forget)
            return
        self.old, self.cur = self.cur, {}
        if len(self.shapes) > 4096:
            self.shapes.clear()

    def get(self, v):
        """(v, shape, leaves, clean) of `v`, flattened now if it was not; shape None where it
        cannot be summed flat (not a dict of number leaves, a zero leaf, too many leaves)."""
        i = id(v)
        e = self.cur.get(i)
        if e is None or e[0] is not v:
            e = self.old.get(i)
            if e is None or e[0] is not v:
                e = self._flatten(v)
            self.cur[i] = e
        return e

    def put(self, v, shape, leaves, clean) -> None:
        self.cur[id(v)] = (v, shape, leaves, clean)

    def clean(self, v) -> bool:
        """Whether `v` is a sum the flat path made, every leaf finite and non-zero."""
        e = self.cur.get(id(v))
        return e is not None and e[0] is v and e[3]

    def _flatten(self, v):
        paths, leaves = [], []
        ok = type(v) is dict and _walk(v, (), paths, leaves)
        if not ok or not leaves:
            return (v, None, None, False)
        shape = self.shapes.get(tp := tuple(paths))
        if shape is None:
            shape = self.shapes[tp] = Shape(tp)
        return (v, shape, leaves, all(map(math.isfinite, leaves)))


class Shape:
    """The leaf paths of a V-value, in its order; `flat`: every path is one key."""
    __slots__ = ("paths", "keys", "flat")

    def __init__(self, paths: tuple):
        self.paths = paths
        self.flat = all(len(p) == 1 for p in paths)
        self.keys = tuple(p[0] for p in paths) if self.flat else None

    def build(self, leaves) -> dict:
        if self.flat:
            return dict(zip(self.keys, leaves))
        out: dict = {}
        for path, x in zip(self.paths, leaves):
            d = out
            for k in path[:-1]:
                d = d.setdefault(k, {})
            d[path[-1]] = x
        return out


def _walk(v: dict, prefix: tuple, paths: list, leaves: list) -> bool:
    for k, x in v.items():
        t = type(x)
        if t is float or t is int:
            if x == 0 or len(leaves) >= FLAT_MAX:
                return False
            paths.append(prefix + (k,))
            leaves.append(x)
        elif t is dict:
            if not x or not _walk(x, prefix + (k,), paths, leaves):
                return False
        else:
            return False
    return True


def flat_sum(ys, cache: FlatCache):
    """sum_w w * y over [(y, w)] as `add_into(..., scale(y, w), pruned=True)` adds them
    term by term, when every non-empty y has one shape; None otherwise (then the dict
    walk). The leaves are added in the same order with the same float operations, so the
    result is the same to the bit, in the same key order; any sum reaching zero on the
    way (a key the dict walk would drop, and perhaps put back at the end) falls back too."""
    terms = [(y, w) for y, w in ys if y]
    if not terms:
        return {}
    if len(terms) == 1 and terms[0][1] == 1.0:
        return terms[0][0]  # as add_into({}, y, pruned=True): y itself
    shape, acc = None, None
    for y, w in terms:
        e = cache.get(y)
        if e[1] is None or (shape is not None and e[1] is not shape):
            return None
        leaves = e[2]
        if acc is None:
            shape = e[1]
            acc = [x * w for x in leaves] if w != 1.0 else list(leaves)
        elif w != 1.0:
            acc = [a + x * w for a, x in zip(acc, leaves)]
        else:
            acc = [a + x for a, x in zip(acc, leaves)]
        if 0.0 in acc:
            return None
    out = shape.build(acc)
    cache.put(out, shape, acc, all(map(math.isfinite, acc)))
    return out
