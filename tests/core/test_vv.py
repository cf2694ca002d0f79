"""V-value operations: the authors' reference cases and algebraic properties."""
import math

from hypothesis import given, settings, strategies as st

from dmmlive import vv

N = ":number"


def test_lincomb_of_equal_rows_is_a_number_leaf():
    assert vv.lincomb({"c": 7}, {"c": 7}) == {N: 49}


def test_apply_matrix_to_vector():
    m = {"x": {"a": 8}, "y": {"b": 10}, "z": {"a": 2, "b": 4}}
    assert vv.apply(m, {"a": 3, "b": 5}) == {"x": {N: 24}, "y": {N: 50}, "z": {N: 26}}


def test_max_norm():
    assert vv.max_norm({"c": -2, "a": 1}) == {N: 2}
    assert vv.max_norm({"a": {"b": -7, "c": 3}, "d": 5}) == {N: 7}
    assert vv.max_norm({}) == {}


def test_number_added_to_dict_goes_under_number_key():
    assert vv.add({"a": 1}, 2) == {"a": 1, N: 2}
    assert vv.add({"a": {"b": 1}}, {"a": 3}) == {"a": {"b": 1, N: 3}}
    assert vv.add({N: 2}, -2) == {}


def test_zero_leaves_and_empty_dicts_are_pruned():
    assert vv.add({"a": {"b": 1}}, {"a": {"b": -1}}) == {}
    assert vv.add({"a": 0, "b": {}, "c": {"d": 0}}) == {}
    assert vv.scale({"a": 1, "b": {"c": 2}}, 0) == {}
    assert vv.prune({"a": "junk", "b": 1}) == {"b": 1}


def test_lincomb_with_nested_weights_and_subtree_values():
    # a weight on a subtree scales the whole subtree; nested weights recurse
    w = {"u": 2, "v": {"p": -1}}
    x = {"u": {"a": 1, "b": {"c": 3}}, "v": {"p": {"q": 5}, "r": 9}}
    assert vv.lincomb(w, x) == {"a": 2, "b": {"c": 6}, "q": -5}
    assert vv.lincomb({"u": 1}, {"u": {"a": 1}, "z": 4}) == {"a": 1}
    assert vv.lincomb({"u": {"a": 1}}, {"u": 3}) == {}  # a dict weight on a number leaf drops


def test_mult_mask():
    assert vv.mult_mask({"a": 2, "b": {"c": 3}}, {"a": {"x": 1}, "b": {"c": 4, "d": 5}, "e": 1}) == \
        {"a": {"x": 2}, "b": {"c": 12}}
    assert vv.mult_mask({"a": 0}, {"a": 5}) == {}


def test_dot():
    assert vv.dot({"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"c": 4, "d": 9}}) == {N: 11}
    assert vv.dot({"a": 1}, {"b": 1}) == {}
    assert vv.dot(2, {N: 3, "a": 1}) == {N: 6}


def test_path():
    w = {"self": {"delta": {"u": {"x": 1.0}}}}
    assert vv.path(w, "self", "delta") == {"u": {"x": 1.0}}
    assert vv.path(w, "self", "delta", "u", "x") == 1.0
    assert vv.path(w, "nope") == {}
    assert vv.path(w, "self", "delta", "u", "x", "deeper") == {}


def test_operations_do_not_mutate_their_arguments():
    a = {"a": {"b": 1}, "c": 2}
    b = {"a": {"b": -1, "d": 3}}
    a0, b0 = repr(a), repr(b)
    vv.add(a, b), vv.scale(a, 2), vv.lincomb(a, b), vv.mult_mask(a, b), vv.dot(a, b)
    assert repr(a) == a0 and repr(b) == b0


# ---- properties ------------------------------------------------------------------
keys = st.sampled_from(["a", "b", "c"])
leaf = st.integers(-4, 4).map(float)  # small integers: float sums stay exact


def node(kids):  # ":number" holds only a number; named keys hold numbers or subtrees
    return st.builds(lambda d, x: {**d, N: x} if x is not None else d,
                     st.dictionaries(keys, kids, max_size=3), st.none() | leaf)


vvalues = node(st.recursive(leaf, node, max_leaves=10)).map(vv.prune)


def no_zero_leaf(v):
    if isinstance(v, dict):
        return all(x != {} and no_zero_leaf(x) for x in v.values())
    return v != 0


@settings(max_examples=200, deadline=None)
@given(vvalues, vvalues)
def test_add_commutes(a, b):
    assert vv.equal(vv.add(a, b), vv.add(b, a))


@settings(max_examples=200, deadline=None)
@given(vvalues, vvalues, vvalues)
def test_add_associates(a, b, c):
    assert vv.equal(vv.add(vv.add(a, b), c), vv.add(a, vv.add(b, c)))


@settings(max_examples=200, deadline=None)
@given(vvalues, vvalues, st.integers(-3, 3).map(float))
def test_scale_distributes_over_add(a, b, c):
    assert vv.equal(vv.scale(vv.add(a, b), c), vv.add(vv.scale(a, c), vv.scale(b, c)))


@settings(max_examples=200, deadline=None)
@given(vvalues, vvalues, st.integers(-3, 3).map(float))
def test_no_result_holds_a_zero_leaf(a, b, c):
    for r in (vv.add(a, b), vv.scale(a, c), vv.lincomb(a, b), vv.mult_mask(a, b), vv.sub(a, a)):
        assert no_zero_leaf(r)
    assert vv.sub(a, a) == {}


def canonical_leaves(v):
    """A number leaf x at path p is the same element as {":number": x} at p."""
    return {p if p[-1] == N else p + (N,): x for p, x in vv.leaves(v)}


@given(vvalues, vvalues)
def test_dot_is_symmetric_and_matches_leaves(a, b):
    assert vv.dot(a, b) == vv.dot(b, a)
    da, db = canonical_leaves(a), canonical_leaves(b)
    assert math.isclose(vv.scalar(vv.dot(a, b)), sum(x * db.get(p, 0.0) for p, x in da.items()))
