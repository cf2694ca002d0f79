"""A change to W costs what it changes: the plan takes new weight values in place and is
compiled again by what a structural change touched. The reference is a twin machine that
gets the same changes and compiles its plan from scratch before every tick: the two must
agree sample for sample, output for output, whatever the changes and the ticks between."""
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmmlive import DmmError, Machine, vv
from dmmlive.core import compiler, layout
from dmmlive.core.plan import entries

# (type, construction arguments): audio, number and vvalue neurons, with and without state
TYPES = [("sine", {}), ("saw", {}), ("lowpass", {}), ("tanh", {}), ("delay", {"max": 0.01}),
         ("noise", {}), ("mul", {}), ("rms", {}), ("peak", {}), ("identity", {}), ("timer", {}),
         ("accum", {})]
NAMES = [f"n{i}" for i in range(6)]
FADES = [0.0, 0.0, 64 / 48000, 200 / 48000]  # none, one block, a glide over several blocks
WEIGHTS = [0.0, 0.25, -0.5, 1.0, 0.75, 3.0]


def twins(schedule):
    return [Machine(schedule=schedule, block=64) for _ in range(2)]


def outputs(m):
    out = {}
    for n, t in m.neurons.items():
        d = m._decls[n]
        ports = d.type.outputs if not d.type.variadic else [k[1] for k in m._Yv if k[0] == n]
        for p in ports:
            if d.type.output_kind(p) in ("number", "audio", "vvalue") and n != "self":
                v = m.output(n, p)
                out[(n, p)] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def same(m, twin):
    np.testing.assert_array_equal(m.sound(), twin.sound())
    assert m.neurons == twin.neurons
    assert sorted(m.active) == sorted(twin.active)
    assert m._plan.names == twin._plan.names  # the levels found locally are the full ordering's
    assert layout_of(m._plan) == layout_of(twin._plan)  # the layout by change is the one from scratch
    assert m.matrix == twin.matrix
    a, b = outputs(m), outputs(twin)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k], dtype=object if isinstance(a[k], dict) else None),
                                      np.asarray(b[k], dtype=object if isinstance(b[k], dict) else None),
                                      err_msg=str(k))


def layout_of(plan):
    """A plan's rows and groups, as plain values: the row indexes in row order, each level's
    rows, groups (key, members, slices) and non-batched neurons, and the group state layout."""
    idx = {(io, k): list(t[k].items()) for io, t in (("in", plan.in_index), ("out", plan.out_index)) for k in t}
    levels = [(lv.rows, [(g.key, g.names, g.inputs, g.outputs, g.state_slice) for g in lv.groups],
               [(s.name, s.inputs, s.outputs) for s in lv.singles]) for lv in plan.levels]
    return idx, levels, plan.state_layout, plan.n_in, plan.level_of, plan.vinputs


def step(m, twin, n=1):
    """n ticks of both machines, the twin's plan compiled afresh before each; after each
    the two agree (`same`)."""
    for _ in range(n):
        m.tick()
        twin._dirty = True  # the twin's plan is compiled afresh every tick
        twin.tick()
        same(m, twin)


def ports(m, name, output):
    d = m.pending_decls()[name]
    if d.type.variadic:
        return [("x", "vvalue"), ("y", "vvalue")]
    table = d.type.outputs if output else {p: x.kind for p, x in d.type.inputs.items()}
    return [(p, k) for p, k in table.items() if k in ("number", "audio", "vvalue")]


def links(m):
    """Every (dst, inp, src, out) the declared neurons can hold, kinds matching."""
    decls = m.pending_decls()
    names = [n for n in decls if n not in ("edits", "screen")]
    out = []
    for dst in names:
        if dst in ("one", "self"):  # self.delta <- self.matrix would grow W without bound
            continue
        for inp, dk in ports(m, dst, False):
            for src in names:
                if src == "out":
                    continue
                for o, sk in ports(m, src, True):
                    if dk == sk or (dk == "audio" and sk == "number"):
                        out.append((dst, inp, src, o))
    return out


def folded(m) -> dict:
    """W with every queued edit added, from scratch (what `pending_matrix` keeps as it goes)."""
    W = m._W
    for e in (*m._inflight, *m._queue):
        W = vv.add_into(W, e.delta)
    return W


def run_ops(data, schedule):
    m, twin = twins(schedule)
    ticks = 0
    for _ in range(data.draw(st.integers(4, 20), label="ops")):
        op = data.draw(st.sampled_from(["declare", "link", "link", "bump", "bump", "remove", "connect",
                                        "selfmod", "tick", "tick"]), label="op")
        fade = data.draw(st.sampled_from(FADES), label="fade")
        if op == "tick":
            for _ in range(data.draw(st.integers(1, 4), label="n")):
                m.tick()
                twin._dirty = True  # the twin's plan is compiled afresh every tick
                twin.tick()
                ticks += 1
                same(m, twin)
            continue
        pend = m.pending_matrix()
        assert pend == folded(m)  # the kept one: what the queue leaves, edit after edit and tick after tick
        try:
            if op == "declare":
                name = data.draw(st.sampled_from(NAMES), label="name")
                t, args = data.draw(st.sampled_from(TYPES), label="type")
                kw = dict(declare={name: (t, args)}, fade=fade, replace=True)
            elif op in ("link", "connect"):
                choices = links(m)
                if not choices:
                    continue
                dst, inp, src, o = data.draw(st.sampled_from(choices), label="link")
                w = data.draw(st.sampled_from(WEIGHTS), label="w")
                if op == "connect":
                    if (dst in m.neurons and src in m.neurons and not m._queue and not m._inflight
                            and dst in m.neurons):
                        for x in (m, twin):
                            x.connect(f"{dst}.{inp}", f"{src}.{o}", w)
                    continue
                cur = vv.path(pend, dst, inp, src, o)
                cur = cur if vv.is_number(cur) else 0.0
                kw = dict(delta={dst: {inp: {src: {o: w - cur}}}}, fade=fade)
            elif op == "bump":
                have = [e for e in entries(pend) if e[:2] != ("self", "delta")]
                if not have:
                    continue
                dst, inp, src, o, w = data.draw(st.sampled_from(have), label="entry")
                dw = data.draw(st.sampled_from([0.125, -0.25, 2.0]), label="dw")
                kw = dict(delta={dst: {inp: {src: {o: dw}}}}, fade=fade)
            elif op == "remove":
                name = data.draw(st.sampled_from(NAMES), label="name")
                delta = {}
                for d, i, s, o, w in entries(pend):
                    if name in (d, s):
                        delta = vv.add_into(delta, {d: {i: {s: {o: -w}}}})
                if not delta:
                    continue
                kw = dict(delta=delta, fade=fade)
            else:  # selfmod: a const neuron writing a ΔW into self.delta every tick
                have = [e for e in entries(pend) if e[:2] != ("self", "delta") and e[2] == "one"]
                if not have or "w" in m.pending_decls():
                    continue
                dst, inp, src, o, _ = data.draw(st.sampled_from(have), label="entry")
                value = {dst: {inp: {"one": {"out": 0.001}}}}
                kw = dict(declare={"w": ("const", {"value": value})},
                          delta={"self": {"delta": {"w": {"out": 1.0}}}})
            errs = []
            for x in (m, twin):
                try:
                    x.edit(**kw)
                    errs.append(None)
                except DmmError as e:
                    errs.append(type(e))
            assert errs[0] == errs[1]
        except DmmError:
            pass
    step(m, twin, 6)  # glides end, neurons retire
    return m, twin, ticks


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_incremental_plan_equals_a_plan_compiled_afresh_every_tick(schedule, data):
    run_ops(data, schedule)


def sines(n, schedule="ordered", selfmod=False):
    m = Machine(schedule=schedule, block=64)
    delta = {"out": {"left": {}}}
    for i in range(n):
        m.add(f"s{i}", "sine")
        delta[f"s{i}"] = {"freq": {"one": {"out": 100.0 + i}}}
        delta["out"]["left"][f"s{i}"] = {"out": 1.0 / n}
    m.apply(delta, defaults=False)
    if selfmod:
        m.add("c", "const", value={"s0": {"freq": {"one": {"out": 0.01}}}})
        m.connect("self.delta", "c.out", 1.0)
    return m


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
def test_a_network_rewriting_a_weight_every_tick_never_compiles(schedule):
    m, twin = sines(20, schedule, selfmod=True), sines(20, schedule, selfmod=True)
    m.tick(3), twin.tick(3)
    n, f0 = m.compiles, vv.path(m.matrix, "s0", "freq", "one", "out")
    for _ in range(40):
        m.tick()
        twin._dirty = True
        twin.tick()
        np.testing.assert_array_equal(m.sound(), twin.sound())
    assert m.compiles == n
    assert vv.path(m.matrix, "s0", "freq", "one", "out") == pytest.approx(f0 + 0.01 * 40)


def test_value_edits_glides_and_knob_like_changes_never_compile():
    m, twin = sines(8), sines(8)
    m.tick(2), twin.tick(2)
    n = m.compiles
    for k in range(30):
        d = {"out": {"left": {f"s{k % 8}": {"out": 0.01}}}, f"s{(k + 3) % 8}": {"freq": {"one": {"out": 1.5}}}}
        for x in (m, twin):
            x.edit(d, fade=(k % 3) * 100 / 48000)
        m.tick()
        twin._dirty = True
        twin.tick()
        np.testing.assert_array_equal(m.sound(), twin.sound())
    assert m.compiles == n


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_neurons_counting_their_sources_by_level_give_the_full_ordering(data):
    """compiler.HUB lowered to 2: every neuron with two sources or more keeps the count of
    their levels by change (as a mixer of 64 does), through the random edits above."""
    hub = compiler.HUB
    compiler.HUB = 2
    try:
        run_ops(data, "ordered")
    finally:
        compiler.HUB = hub


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_structural_edits_in_a_mixed_network_lay_out_as_from_scratch(schedule, data):
    """80 sines mixed into `out` (a mixer past compiler.HUB), edited as a set is: FM links
    between two sines made and undone (a sine moves a level, `out` with it, and back),
    filters put between a sine and `out` (deeper levels), neurons declared, retired and
    declared again; the layout by change and the levels are the ones from scratch."""
    n = 80
    m, twin = sines(n, schedule), sines(n, schedule)
    for x in (m, twin):
        x.tick(2)
    links = []
    for _ in range(data.draw(st.integers(3, 12), label="steps")):
        op = data.draw(st.sampled_from(["fm", "fm", "unfm", "filter", "drop", "tick"]), label="op")
        i, j = data.draw(st.integers(0, n - 1), label="i"), data.draw(st.integers(0, n - 1), label="j")
        k = data.draw(st.integers(0, 3), label="k")
        kw = None
        if op == "fm" and i != j:
            kw = dict(delta={f"s{i}": {"freq": {f"s{j}": {"out": 0.5}}}})
            links.append(kw["delta"])
        elif op == "unfm" and links:
            d = links.pop(data.draw(st.integers(0, len(links) - 1), label="which"))
            kw = dict(delta={a: {p: {b: {o: -w for o, w in x.items()} for b, x in y.items()} for p, y in z.items()}
                             for a, z in d.items()})
        elif op == "filter":
            kw = dict(declare={f"y{k}": ("lowpass", {})},
                      delta={f"y{k}": {"in": {f"s{i}": {"out": 1.0}}, "cutoff": {"one": {"out": 900.0}}},
                             "out": {"left": {f"y{k}": {"out": 0.01}}}}, replace=True)
        elif op == "drop":
            name = f"y{k}" if data.draw(st.booleans(), label="filter") else f"s{i}"
            delta = {}
            for d_, i_, s_, o_, w in entries(m.pending_matrix()):
                if name in (d_, s_):
                    delta = vv.add_into(delta, {d_: {i_: {s_: {o_: -w}}}})
            kw = dict(delta=delta) if delta else None
        if kw is not None:
            for x in (m, twin):
                try:
                    x.edit(**kw)
                except DmmError:
                    pass
        step(m, twin, data.draw(st.integers(0 if op != "tick" else 1, 2), label="ticks"))
    step(m, twin, 2)


def test_a_structural_change_reads_only_the_rows_it_touched():
    m = sines(50)
    m.tick(2)
    ent = m._ent
    reads = []
    update = ent.update
    ent.update = lambda W, decls, key, srcs=None: (reads.append((key, srcs)), update(W, decls, key, srcs))
    m.edit({"out": {"left": {"s3": {"out": -0.02}}, "right": {"s3": {"out": 0.5}}}})
    m.tick(2)
    # out.left's s3 weight vanishes (-0.02 + 0.02), out.right gains s3: the two rows, and
    # in each only s3's entries
    assert sorted(reads) == [(("out", "left"), {"s3"}), (("out", "right"), {"s3"})]


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_long_mixer_row_changed_entry_by_entry_equals_a_fresh_compile(schedule, data):
    """A mixer row of 40 sources is read again for the entries a change wrote in it only;
    entries appear, change, vanish and come back, neurons come and go, in any order."""
    n = 40
    m, twin = sines(n, schedule), sines(n, schedule)
    for x in (m, twin):
        x.tick(2)
    for _ in range(data.draw(st.integers(3, 12), label="steps")):
        d = {}
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            i = data.draw(st.integers(0, n + 3), label="src")
            port = data.draw(st.sampled_from(["left", "right"]), label="port")
            src = f"s{i}" if i < n else f"x{i - n}"
            cur = vv.path(vv.add_into(m.pending_matrix(), d), "out", port, src, "out")
            cur = cur if vv.is_number(cur) else 0.0
            w = data.draw(st.sampled_from([0.0, 0.01, -0.03, 0.25]), label="w")
            d = vv.add_into(d, {"out": {port: {src: {"out": w - cur}}}})
        decl = {}
        if data.draw(st.booleans(), label="declare"):
            k = data.draw(st.integers(0, 3), label="new")
            decl = {f"x{k}": (data.draw(st.sampled_from(["sine", "saw"]), label="type"), {})}
        for x in (m, twin):
            try:
                x.edit(delta=d, declare=decl, replace=True)
            except DmmError:
                pass
        step(m, twin, data.draw(st.integers(0, 2), label="ticks"))
    step(m, twin, 3)
    assert m.compiles < twin.compiles


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
def test_a_neuron_declared_again_after_it_retired_starts_afresh(schedule):
    """A neuron retires (its links removed), is forgotten, and is declared again under its
    name: it starts from zero outputs and fresh state, as in a plan compiled afresh, not
    from its previous life's last block (a counterexample hypothesis found)."""
    m, twin = twins(schedule)

    def tick():
        step(m, twin)

    for x in (m, twin):
        x.edit(declare={"n0": ("sine", {})}, replace=True)
    tick()
    for x in (m, twin):
        x.edit(delta={"n0": {"freq": {"one": {"out": -220.0}}, "amp": {"one": {"out": -1.0}}}})
        x.edit(declare={"n0": ("sine", {})}, replace=True)
    tick(), tick()
    for x in (m, twin):
        x.edit(declare={"n0": ("sine", {})}, replace=True)
    for _ in range(4):
        tick()
    assert "n0" in m.active


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
def test_a_delta_written_every_tick_goes_in_in_place_and_w_lent_out_stays_as_it_was(schedule):
    """The same ΔW every tick is added into W in place (W keeps its identity: no copy, no
    walk), yet a W lent out (what `pending_matrix` gives a patch diff) keeps the value it
    had, and a neuron reading self.matrix sees last tick's W, never one changed under it."""
    m = sines(4, schedule, selfmod=True)
    m.tick(3)
    w = m._W
    m.tick(5)
    assert m._W is w  # written in place
    lent = m.pending_matrix()
    f = vv.path(lent, "s0", "freq", "one", "out")
    m.tick(5)
    assert vv.path(lent, "s0", "freq", "one", "out") == f  # lent: not written since
    assert vv.path(m.matrix, "s0", "freq", "one", "out") == pytest.approx(f + 0.01 * 5, abs=1e-9)
    assert m._W is not lent

    r = sines(4, schedule, selfmod=True)
    r.add("seen", "identity")
    r.connect("seen.x", "self.matrix", 1.0)
    r.tick(3)
    for _ in range(6):
        before = vv.path(r.matrix, "s0", "freq", "one", "out")
        r.tick()
        seen = vv.path(r.output("seen", "x"), "s0", "freq", "one", "out")
        # ordered: self fires last, after `seen` read the W of the tick before
        assert seen == before, (seen, before)


def test_a_const_is_called_once_and_again_when_declared_anew_or_revived():
    """`const` (a constant type: outputs from its arguments alone) is called at its first
    firing only; a new declaration, or a revival after it went dormant, calls it again.
    Self's input is summed only when read, and equals what Self added."""
    from dmmlive.core.registry import STANDARD
    calls = []
    types = STANDARD.copy()
    fn = types["const"].fn

    @types.neuron_type("count_const", outputs={"out": "vvalue"}, args={"value": {}}, constant=True)
    def _cc(inputs, state):
        calls.append(1)
        return fn(inputs, state)

    m = Machine(types=types)
    m.add("a", "sine")
    m.connect("out.left", "a", 0.1)
    m.add("c", "count_const", value={"a": {"freq": {"one": {"out": 1.0}}}})
    m.connect("self.delta", "c.out")
    m.tick(5)
    assert len(calls) == 1
    assert m.input("self", "delta") == {"a": {"freq": {"one": {"out": 1.0}}}}
    assert vv.path(m.matrix, "a", "freq", "one", "out") == 220.0 + 5
    m.connect("self.delta", "c.out", 0.0)   # c goes quiet: dormant
    m.tick(2)
    assert "c" in m.dormant
    m.connect("self.delta", "c.out", 1.0)   # revived: called afresh
    m.tick(2)
    assert len(calls) == 2 and "c" in m.active


def test_declarations_keep_their_place_and_a_name_declared_anew_goes_last():
    from dmmlive.core.plan import Decls
    d = Decls([("a", 1), ("b", 2), ("c", 3)])
    d["b"] = 20                     # declared again in place: keeps its place
    assert list(d) == ["a", "b", "c"] and d.seq["a"] < d.seq["b"] < d.seq["c"]
    d.pop("a")
    d.update({"a": 10, "d": 4})     # taken out and put back: last, like a dict
    assert list(d) == ["b", "c", "a", "d"]
    assert sorted(d, key=d.seq.__getitem__) == list(d) and "a" in d.seq
    del d["c"]
    assert "c" not in d.seq and sorted(d, key=d.seq.__getitem__) == list(d)
    e = pickle.loads(pickle.dumps(d))
    assert type(e) is Decls and list(e.items()) == list(d.items())
    assert sorted(e, key=e.seq.__getitem__) == list(e)


def test_a_set_that_keeps_making_neurons_gets_fresh_key_tables_and_stays_exact():
    """Key ids are never reused: a network that declares a new neuron every few ticks and
    retires the last grows the tables until the layout starts them afresh (more dead keys
    than live ones), the plan the same as one compiled from scratch throughout."""
    dead = layout.DEAD
    layout.DEAD = 8  # (1024 in play: a few dozen here)
    try:
        most, fresh, live = grow_and_retire()
    finally:
        layout.DEAD = dead
    assert most <= 2 * live + 8 + 4 and fresh >= 3  # started afresh whenever the dead outnumbered the live


def grow_and_retire():
    m, twin = sines(30), sines(30)
    for x in (m, twin):
        x.tick(2)
    most = fresh = 0
    for k in range(120):
        d = {f"x{k}": {"freq": {"one": {"out": 200.0 + k}}}, "out": {"left": {f"x{k}": {"out": 0.01}}}}
        if k:
            d["out"]["left"][f"x{k - 1}"] = {"out": -0.01}
            d[f"x{k - 1}"] = {"freq": {"one": {"out": -(199.0 + k)}}}
        for x in (m, twin):  # (the last one retired: forgotten, its keys dead)
            x.edit(delta=d, declare={f"x{k}": ("sine", {})}, retire=[f"x{k - 1}"] if k else (), defaults=False)
        for _ in range(2):
            m.tick()
            twin._dirty = True
            twin.tick()
        n = len(m._plan.out_index["audio"].keys.key)
        fresh += n < most
        most = max(most, n)
        if k % 10 == 9:
            same(m, twin)
    same(m, twin)
    return most, fresh, len(m._plan.out_index["audio"])
