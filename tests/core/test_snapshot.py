"""Snapshots (core/snapshot.py): a machine restored from `Machine.snapshot()` ticks on
sample for sample (and picture for picture) as the machine that never stopped."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from numpy.testing import assert_array_equal

import dmmlive  # noqa: F401  (fills the type table, the image backend)
from dmmlive import Machine
from dmmlive.gfx.types import patch_types
from dmmlive.patch.live import load

from .test_flat import ring

PATCHES = sorted((Path(__file__).resolve().parents[2] / "patches").glob("*.dmm"))
BEFORE, AFTER = 300, 400  # ticks before the snapshot and after it (0.8 s and 1.07 s at 48 kHz)


def run(m, n) -> list:
    """The sound of n ticks, and each picture `screen` got (read back), in order."""
    got = []
    for _ in range(n):
        m.tick()
        got.append(m.sound().copy())
        if m.frame_tick and m.image() is not None:
            got.append(m.gpu.read(m.image()))
    return got


def done(m) -> None:
    """Close the machine's GL context: one at a time in a process (a context made later
    would become the current one under an older machine's textures)."""
    if m.gpu is not None:
        m.gpu.close()
        m.gpu = None


def same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert_array_equal(x, y)


@pytest.mark.parametrize("schedule", ["ordered", "synchronous"])
@pytest.mark.parametrize("path", PATCHES, ids=lambda p: p.stem)
def test_a_restored_machine_ticks_on_as_if_it_never_stopped(path, schedule):
    types = patch_types(path)

    def machine():
        m = load(path, size=(64, 36), types=types)
        m.set_schedule(schedule)
        return m

    ref = machine()
    run(ref, BEFORE)
    want = run(ref, AFTER)
    done(ref)

    m = machine()
    run(m, BEFORE)
    snap = m.snapshot()
    assert isinstance(snap, bytes)
    same(run(m, AFTER), want)  # taking it changed nothing
    done(m)

    r = Machine.restore(snap, types=types)
    assert r.t == BEFORE
    same(run(r, AFTER), want)
    done(r)


def test_a_snapshot_restores_twice_and_from_a_restored_machine():
    path = next(p for p in PATCHES if p.stem == "bass")
    m = load(path)
    run(m, 50)
    snap = m.snapshot()
    want = run(m, 200)
    a, b = Machine.restore(snap), Machine.restore(snap)
    same(run(a, 100), want[:100])
    snap2 = a.snapshot()
    same(run(b, 200), want)
    same(run(Machine.restore(snap2), 100), want[100:])


def test_hooks_stay_out_and_extra_comes_back_with_the_machine():
    from dmmlive.core.snapshot import restore_with
    m = load(next(p for p in PATCHES if p.stem == "bell"))
    m.before_tick.append(lambda m: None)
    m.on_report = print
    r, extra = restore_with(m.snapshot(extra={"machine": m, "n": 3}))
    assert r.before_tick == [] and r.on_report is None
    assert extra["machine"] is r and extra["n"] == 3
    with pytest.raises(ValueError, match="not a dmmlive snapshot"):
        Machine.restore(b"nope")


VOICES = ["a", "b", "c"]


def base() -> Machine:
    m = Machine(schedule="ordered")
    m.add("a", "sine")
    m.add("b", "saw")
    m.add("f", "lowpass")
    m.connect("b.freq", "one.out", 110.0)
    m.connect("f.cutoff", "one.out", 800.0)
    m.connect("f.in", "b.out", 0.5)
    m.connect("out.left", "a.out", 0.2)
    m.connect("out.right", "f.out", 0.3)
    return m


edit_st = st.tuples(
    st.sampled_from(["set", "declare", "replace", "link"]),
    st.sampled_from(VOICES),
    st.floats(0.05, 0.5),
    st.sampled_from([0.0, 0.003, 0.02, 0.1]),  # fade (s): glides in flight at the snapshot
    st.integers(0, 3),                          # ticks after it
    st.booleans(),                              # quantised: waits in the queue (edit(at=))
)


def queue(m, e) -> None:
    kind, name, w, fade, _, quant = e
    at = m.quant_at(0.25) if quant else None
    if kind == "set" and name in m.neurons:
        m.edit({"out": {"left": {name: {"out": w - (m.matrix["out"]["left"].get(name, {}).get("out", 0.0))}}}},
               fade=fade, at=at)
    elif kind == "declare" and name not in m.pending_decls():  # (queued, not yet in: declared already)
        m.edit({"out": {"right": {name: {"out": w}}}}, declare={name: ("sine", {})}, fade=fade, at=at)
    elif kind == "replace" and name in m.neurons:
        m.edit({name: {"freq": {"one": {"out": 50.0 * w}}}}, declare={name: ("tri", {})}, fade=fade,
               replace=True, at=at)
    elif kind == "link" and name in m.neurons:
        m.edit({"f": {"in": {name: {"out": w}}}}, fade=fade, at=at)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(edit_st, min_size=1, max_size=8), st.sampled_from(["ordered", "synchronous"]),
       st.integers(0, 7))
def test_edits_queued_and_in_flight_at_the_snapshot_go_on(edits, schedule, cut):
    """Random edits (glides, crossfades, quantised ones waiting in the queue) with the
    snapshot taken in the middle of them: queued, emitted by `edits`, gliding."""
    def play(snap_at):
        m = base()
        m.set_schedule(schedule)
        m.tick(3)
        got, snap = [], None
        for i, e in enumerate(edits):
            if i == snap_at:
                snap = m.snapshot()
                got = []
            queue(m, e)
            got += run(m, e[4])
        if snap is None:
            snap = m.snapshot()
            got = []
        got += run(m, 300)
        return snap, got

    k = min(cut, len(edits))
    snap, want = play(k)
    r = Machine.restore(snap)
    got = []
    for e in edits[k:]:
        queue(r, e)
        got += run(r, e[4])
    got += run(r, 300)
    same(got, want)


def test_a_running_flat_program_is_kept_and_ticks_on_to_the_bit():
    """A cluster of identities running as an array (core/flatv.py) at the snapshot: the
    restored machine goes on with it, every V-value the same to the bit and in key order."""
    def values(m):
        return [repr(m.output(f"u{i}", "x")) for i in range(40)]

    ref, m = ring(), ring()
    ref.tick(10)
    m.tick(10)
    assert m._flatv is not None  # the array program runs
    r = Machine.restore(m.snapshot())
    assert r._flatv is not None
    for _ in range(3):
        for x in (ref, m, r):
            x.tick(7)
        assert values(r) == values(ref) == values(m)
