"""The standard vvalue neuron types of the authors' DMM engines."""
from __future__ import annotations

from ..core import vv
from ..core.errors import BadArgument
from ..core.registry import neuron_type


@neuron_type("identity", variadic="vvalue", passthrough=True)
def identity(inputs, state):
    """Each input goes to the output of the same name (with a weight-1 self-loop: a register)."""
    return dict(inputs)


@neuron_type("accum", inputs={"accum": "vvalue", "delta": "vvalue"}, outputs={"single": "vvalue"})
def accum(inputs, state):
    """single = accum + delta: with a weight-1 link single -> accum, an accumulator."""
    return {"single": vv.add(inputs["accum"], inputs["delta"])}


@neuron_type("max_norm", inputs={"dict": "vvalue"}, outputs={"norm": "vvalue"})
def max_norm(inputs, state):
    """norm = {":number": the largest absolute leaf of dict}."""
    return {"norm": vv.max_norm(inputs["dict"])}


DOT_CLIP = 4.0  # DMM Lite's dot_product clips its result to [-4, 4]


def _check_clip(args):
    c = args["clip"]
    if not vv.is_number(c) or isinstance(c, bool) or not c >= 0 or c != c:
        raise BadArgument(f"dot: clip must be a number >= 0 (0: no clip), got {c!r}")


@neuron_type("dot", inputs={"dict-1": "vvalue", "dict-2": "vvalue"}, outputs={"dot": "vvalue"},
             args={"clip": DOT_CLIP}, check=_check_clip)
def dot(inputs, state):
    """dot = {":number": the sum of products of leaves at matching paths}, clipped to ±clip.

    As the authors' DMM Lite (`dot_product_dicts`), the sum is clipped to [-4, 4] by
    default (`clip=0`: not clipped), so a dot fed back into the network stays bounded.
    """
    d = vv.dot(inputs["dict-1"], inputs["dict-2"])
    c = state["args"]["clip"]
    x = vv.scalar(d)
    if c and abs(x) > c:
        return {"dot": vv.number(c if x > 0 else -c)}
    return {"dot": d}


@neuron_type("compare", inputs={"dict-1": "vvalue", "dict-2": "vvalue"},
             outputs={"true": "vvalue", "false": "vvalue"})
def compare(inputs, state):
    """Scalars x, y of dict-1, dict-2: true = relu(x - y), false = relu(y - x)."""
    x, y = vv.scalar(inputs["dict-1"]), vv.scalar(inputs["dict-2"])
    return {"true": vv.number(max(x - y, 0.0)), "false": vv.number(max(y - x, 0.0))}


@neuron_type("const", outputs={"out": "vvalue"}, args={"value": {":number": 1.0}}, constant=True)
def const(inputs, state):
    """out = the construction argument `value`, every tick."""
    v = state["args"]["value"]
    return {"out": vv.number(v) if vv.is_number(v) else v}


@neuron_type("timer", inputs={"timer": "vvalue"}, outputs={"timer": "vvalue"})
def timer(inputs, state):
    """timer = timer + 1: with a weight-1 self-loop it counts ticks."""
    return {"timer": vv.add(inputs["timer"], {vv.NUMBER: 1.0})}


@neuron_type("pulse", outputs={"out": "vvalue"}, args={"value": {}, "period": 1.0, "phase": 0.0},
             state=lambda args: {"t": 0})
def pulse(inputs, state):
    """Emits `value` once every `period` seconds, `phase` seconds in, {} otherwise.

    Linked to `self.delta` it is a timed self-edit: the network rewires itself, e.g.
    `self.delta = pulse(value={"out": {"left": {"a": {"out": -1}, "b": {"out": 1}}}}, period=2)`.
    """
    a = state["args"]
    ticks = state["ticks_per_second"] if "ticks_per_second" in state else None
    state["t"] += 1
    if ticks is None:
        return {"out": {}}
    n = max(1, round(a["period"] * ticks))
    k = round(a["phase"] * ticks) % n
    return {"out": a["value"] if state["t"] % n == k else {}}


# ---- the authors' lightweight pure DMMs (anhinga/fluid, Processing): pointwise ops ---------------
def _canon(v):
    """A V-value as a dict (a bare number x is {":number": x}); anything else is {}."""
    if isinstance(v, dict):
        return v
    return {vv.NUMBER: v} if vv.is_number(v) else {}


def vmul_values(a, b):
    """The pointwise product of V-values a and b: the leaves at paths present in both,
    multiplied; a path absent from either is 0 there, so it is absent from the product
    (the authors' `set_to_mult`, dense matrices, read on sparse ones). A bare number is
    its ":number" leaf."""
    a, b = _canon(a), _canon(b)
    if len(b) < len(a):
        a, b = b, a
    out = {}
    for k, x in a.items():
        y = b.get(k)
        if y is None:
            continue
        if vv.is_number(x) and vv.is_number(y):
            r = x * y
            if r != 0 and r == r and abs(r) != float("inf"):
                out[k] = float(r)
            continue
        if (vv.is_number(x) or isinstance(x, dict)) and (vv.is_number(y) or isinstance(y, dict)):
            r = vmul_values(x, y)
            if r:
                out[k] = r
    return out


def _relu(v):
    """The leaves of v above 0 (max(leaf, 0) leaf by leaf, zeros pruned)."""
    if vv.is_number(v):
        return float(v) if v > 0 and v != float("inf") else 0.0
    out = {}
    for k, x in (v.items() if isinstance(v, dict) else ()):
        r = _relu(x)
        if r != 0 and r != {}:
            out[k] = r
    return out


def vmax_values(a, b):
    """The pointwise maximum of V-values a and b, an absent leaf counting as 0 (the
    authors' `set_to_max` on dense matrices, where every entry not set is 0): a path in
    both gets the larger leaf; a path in one only gets max(leaf, 0), so a negative leaf
    facing an absent one gives 0 (absent). A bare number is its ":number" leaf."""
    a, b = _canon(a), _canon(b)
    out = {}
    for k in _union(a, b):
        x, y = a.get(k), b.get(k)
        if x is None or y is None:
            r = _relu(y if x is None else x)
        elif vv.is_number(x) and vv.is_number(y):
            m = x if x > y else y
            r = float(m) if m == m and abs(m) != float("inf") else 0.0
        elif (vv.is_number(x) or isinstance(x, dict)) and (vv.is_number(y) or isinstance(y, dict)):
            r = vmax_values(x, y)
        else:  # a leaf that is no V-value counts as 0 ("a brain should not segfault")
            r = _relu(y if vv.is_number(y) or isinstance(y, dict) else x)
        if r != 0 and r != {}:
            out[k] = r
    return out


def _union(a: dict, b: dict):
    """The keys of a, then those of b not in a (a stable order: results repeat exactly)."""
    yield from a
    for k in b:
        if k not in a:
            yield k


def squeezed(v, keep=None):
    """The authors' `squeeze` ("poor man's normalization", afterlife sketches): `v` divided
    by its largest absolute leaf ({} stays {}). With `keep`, the paths of keep's leaves are
    taken out of `v` first and then set to keep's values (as their Self's row 0 is set back
    to [1, 0, ...] after each squeeze); `keep` is taken as pruned."""
    v = _canon(v)
    if keep:
        v = _without(v, keep)
    m = vv.max_norm(v).get(vv.NUMBER, 0.0)
    out = vv.scale(v, 1.0 / m) if m else {}
    return vv.add_into(out, keep) if keep else out


def _without(v, keep):
    """`v` without the paths that end at a leaf of `keep`."""
    if vv.is_number(keep):
        return {}
    if not isinstance(keep, dict):
        return v
    if not isinstance(v, dict):  # a number is its ":number" leaf
        return {} if vv.NUMBER in keep else v
    out = {}
    for k, x in v.items():
        m = keep.get(k)
        if m is None:
            out[k] = x
        elif isinstance(m, dict):
            r = _without(x, m)
            if r != {} and r != 0:
                out[k] = r
    return out


def _check_keep(args):
    k = args.get("keep", {})
    if not isinstance(k, dict):
        raise BadArgument(f"squeeze: keep must be a V-value (a dict), got {k!r}")
    try:
        vv.validate(k, "squeeze: keep")
    except ValueError as e:
        raise BadArgument(str(e)) from None


def _check_flag(name):
    def check(args):
        if not isinstance(args["squeeze"], bool):
            raise BadArgument(f"{name}: squeeze must be True or False, got {args['squeeze']!r}")
    return check


@neuron_type("vmul", inputs={"dict-1": "vvalue", "dict-2": "vvalue"}, outputs={"product": "vvalue"},
             args={"squeeze": False}, check=_check_flag("vmul"))
def vmul(inputs, state):
    """product = dict-1 * dict-2 leaf by leaf (a leaf absent from either is 0: absent).

    The authors' `set_to_mult` neuron of their lightweight pure DMMs (anhinga/fluid);
    `squeeze=True` divides the product by its largest absolute leaf, as their afterlife
    runs do to every output.
    """
    p = vmul_values(inputs["dict-1"], inputs["dict-2"])
    return {"product": squeezed(p) if state["args"]["squeeze"] else p}


@neuron_type("vmax", inputs={"dict-1": "vvalue", "dict-2": "vvalue"}, outputs={"max": "vvalue"},
             args={"squeeze": False}, check=_check_flag("vmax"))
def vmax(inputs, state):
    """max = max(dict-1, dict-2) leaf by leaf, an absent leaf counting as 0.

    The authors' `set_to_max` neuron of their lightweight pure DMMs (anhinga/fluid);
    `squeeze=True` divides the result by its largest absolute leaf, as their afterlife
    runs do to every output.
    """
    p = vmax_values(inputs["dict-1"], inputs["dict-2"])
    return {"max": squeezed(p) if state["args"]["squeeze"] else p}


@neuron_type("squeeze", inputs={"accum": "vvalue", "delta": "vvalue"}, outputs={"single": "vvalue"},
             args={"keep": {}}, check=_check_keep)
def squeeze(inputs, state):
    """single = (accum + delta) / its largest absolute leaf; the paths of `keep` held at keep's values.

    The Self of the authors' afterlife runs (`set_to_plus_constraint0`, then `squeeze`,
    then row 0 set back): with a weight-1 link single -> accum it is a normalised
    accumulator; `keep` holds the links that must not be scaled.
    """
    keep = state.get("keep")
    if keep is None:
        keep = state["keep"] = vv.prune(state["args"]["keep"])
    x = vv.add_into(vv.prune(inputs["accum"]), inputs["delta"])
    return {"single": squeezed(x, keep)}
