"""The README's examples run, and say what they do (docs that cannot rot)."""
import builtins
import types
from pathlib import Path

import numpy as np
import pytest

import dmmlive
from dmmlive import Machine
from dmmlive.cli import main
from dmmlive.core.registry import STANDARD
from dmmlive.patch import PatchError, parse
from dmmlive.patch.live import load

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang, text=README):
    """The fenced blocks of the README (or of `text`) whose info string is `lang`."""
    out, cur, info = [], None, None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if cur is None:
                cur, info = [], line[3:].strip()
            else:
                if info == lang:
                    out.append("".join(cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


def run_against(code, table) -> dict:
    """Exec README `code` as written, but with `from dmmlive import neuron_type` giving the
    decorator of `table`: the types it defines go there, not into the standard table."""
    shown = types.ModuleType("dmmlive")
    shown.__dict__.update(vars(dmmlive))
    shown.neuron_type = table.neuron_type
    real = builtins.__import__

    def import_(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "dmmlive" and level == 0:
            return shown
        return real(name, globals, locals, fromlist, level)

    ns = {"__builtins__": {**vars(builtins), "__import__": import_}}
    exec(compile(code, "README.md", "exec"), ns)
    return ns


def test_python_examples_run_and_their_comments_hold():
    code = next(b for b in blocks("python") if "Machine(schedule=\"synchronous\")" in b)
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    m = ns["m"]
    assert m.output("acc", "single") == {"step": 7.0}  # 5 ticks, then 3 more
    assert m.output("c", "timer") == {":number": 1.0}
    assert ns["vv"].path(m.matrix, "c", "timer") == {"c": {"timer": 1.0}}
    typed = next(b for b in blocks("python") if "@neuron_type(\"timer2\"" in b)
    table = STANDARD.copy()
    run_against(typed, table)
    assert "timer2" in table and "timer2" not in STANDARD
    # "timer = timer + 2 each tick (with a weight-1 self-loop)"
    m = Machine(types=table)
    m.add("t", "timer2")
    m.connect("t.timer", "t.timer", 1.0)
    seen = []
    for _ in range(4):
        m.tick()
        seen.append(m.output("t", "timer").get(":number", 0.0))
    assert [b - a for a, b in zip(seen, seen[1:])] == [2.0, 2.0, 2.0], seen


def test_the_first_patch_parses_and_its_mistake_reads_as_shown():
    text = next(b for b in blocks("python") if b.startswith("fade(0.05)"))
    p = parse(text, "hello.dmm")
    assert {n: d.type for n, d in p.neurons.items()} == {
        "lfo": "sine", "bass": "saw", "filt": "lowpass", "echo": "delay"}
    shown = next(b for b in blocks("") if "unknown neuron type" in b).strip().splitlines()
    with pytest.raises(PatchError) as e:
        parse(text.replace("lowpass(", "lowpas("), "hello.dmm")
    assert str(e.value).splitlines() == shown[:3]


# ---- docs/network-writes-itself.md: each item a short, playable patch ------------------------
WRITES = (Path(__file__).resolve().parents[1] / "docs" / "network-writes-itself.md").read_text()
PATCH_BLOCKS = blocks("python", WRITES)


def test_the_network_writes_itself_page_shows_a_patch_for_each_item():
    text = "".join(PATCH_BLOCKS)
    for item in ("vread(", "vwrite(", "netfade(", '":declare"', "clone(", "lif("):
        assert item in text, item
    shown = {p: any(b == (Path(__file__).resolve().parents[1] / "patches" / p).read_text() for b in PATCH_BLOCKS)
             for p in ("grow.dmm", "onsets.dmm")}
    assert shown == {"grow.dmm": True, "onsets.dmm": True}  # the patch files as they are


@pytest.mark.parametrize("k", range(len(PATCH_BLOCKS)))
def test_each_patch_of_the_network_writes_itself_page_checks_and_sounds(k, tmp_path, capsys):
    """Every ```python block of the page is a whole patch: `dmmlive check` takes it, and
    1.5 s of it (past the pulses at 0.5 s and 1 s) sound, finite, with nothing reported."""
    path = tmp_path / f"block{k}.dmm"
    path.write_text(PATCH_BLOCKS[k])
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err == ""
    m = load(str(path))
    out = []
    for _ in range(int(1.5 * m.rate / m.block)):
        m.tick()
        out.append(m.sound().copy())
    sound = np.concatenate(out)
    assert np.isfinite(sound).all() and np.abs(sound).max() <= 1.0
    assert np.sqrt(np.mean(sound ** 2, axis=0)).min() > 0.02  # both channels heard
    assert not m.reports, list(m.reports)
    if '":declare"' in PATCH_BLOCKS[k]:  # the neuron the network declared plays
        assert m.neurons.get("v") == "sine" and "v" in m.active
