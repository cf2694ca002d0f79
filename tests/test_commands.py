"""The command table: the listener, the Controller, `dmmlive send --help` and docs/osc.md
all follow it, and adding a command is one record and one method (the docs' example)."""
import re
from pathlib import Path

import pytest

from dmmlive import Machine, cli, commands
from dmmlive.commands import TABLE, Arg, ArgError, Op
from dmmlive.control import ERROR, Controller
from dmmlive.drivers import osc

DOC = (Path(__file__).resolve().parents[1] / "docs" / "osc.md").read_text()


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_docs_list_the_table_exactly():
    listed = [line for line in DOC.splitlines() if re.match(r"- `(/dmm/|<knob address>)", line)]
    assert "\n".join(listed) == commands.markdown(), \
        'docs/osc.md: paste python -c "from dmmlive import commands; print(commands.markdown())"'


def test_the_table_is_well_formed():
    assert len(set(commands.names())) == len(TABLE)
    for op in TABLE:
        assert op.doc.endswith(".") and "\n" not in op.doc, op.name
        assert op.journal in ("osc", "knob", "code", None)
        for form in op.forms:
            kinds = [a.kind for a in form]
            assert set(kinds) <= set(commands.KINDS), op.name
            assert all(k not in commands.VARIADIC for k in kinds[:-1]), op.name
            optional = [a.optional for a in form]
            assert optional == sorted(optional), f"{op.name}: optional arguments come last"


def test_the_listener_answers_exactly_the_tables_addresses():
    srv = osc.OscServer(port=0, knob_addresses=[])
    try:
        mapped = {a for a in srv.dispatcher._map if a.startswith(commands.PREFIX)}
        assert mapped == {op.address for op in TABLE if not op.own_address}
        for op in commands.dmm():
            [h] = srv.dispatcher.handlers_for_address(op.address)
            assert h.args == [op.name]
    finally:
        srv.close()
    with pytest.raises(ValueError, match="unknown address; the OSC commands are /dmm/set, /dmm/add"):
        osc.check_message("knob", ["/1/fader1", 0.5])   # a knob comes on its own address


def test_the_controller_runs_exactly_the_tables_commands():
    methods = {n for n in dir(Controller) if n.startswith("_op_")}
    assert methods == {op.method for op in TABLE}
    [(address, (where, reason))] = Controller(Machine()).execute("sett", ["a", "b", 1.0])
    assert (address, where) == (ERROR, "/dmm/sett")
    assert reason == f"unknown command 'sett' (did you mean 'set'?); commands: {', '.join(commands.names())}"


def test_send_help_lists_every_command(capsys):
    assert cli.main(["send", "--help"]) == 0
    out = capsys.readouterr().out
    shown = [line.strip() for line in out.splitlines() if line.startswith(("  /dmm/", "  <knob"))]
    assert shown == [op.synopsis for op in TABLE]
    flat = " ".join(out.split())
    assert all(op.doc in flat for op in TABLE)


def test_usage_texts():
    usage = {op.name: op.typed_usage for op in TABLE}
    assert usage == {
        "set": "dst.port src.port w (string string float)",
        "add": "dst.port src.port dw (string string float)",
        "value": "name.port x (string float)",
        "neuron": "name type [key value]... (string string [string float/string]...)",
        "replace": "name type [key value]... (string string [string float/string]...)",
        "remove": "name (string)",
        "code": "patch text (string)",
        "load": "path (string)",
        "snapshot": "[path] ([string])",
        "hush": "[on] ([float])",
        "tempo": "[bpm] ([float])",
        "record": "'start' [path] or 'stop'",
        "get": "name.port or dst.port src.port",
        "knob": "address x [y] (string float [float])",
    }
    assert commands.get("knob").synopsis == "<knob address> x [y] (float [float])"


def test_who_journals_and_mirrors_what():
    assert commands.mirrored() == ("set", "add", "value", "neuron", "replace", "remove", "code", "load", "tempo",
                                   "knob")
    assert commands.journaled("osc", "knob") == ("set", "add", "value", "neuron", "replace", "remove", "hush",
                                                 "tempo", "knob")
    assert commands.journaled("code") == ("code", "load")


@pytest.mark.parametrize("op,args,out", [
    ("set", ["out.left", "d", 1], ["out.left", "d", 1.0]),
    ("neuron", ["s", "sine", "freq", 3, "label", "x"], ["s", "sine", "freq", 3.0, "label", "x"]),
    ("record", ["start"], ["start"]),
    ("record", ["start", "a.mp4"], ["start", "a.mp4"]),
    ("record", ["stop"], ["stop"]),
    ("knob", ["/1/xy1", 0, 1], ["/1/xy1", 0.0, 1.0]),
])
def test_check_normalises(op, args, out):
    got = commands.get(op).check(args)
    assert got == out and all(type(a) is type(b) for a, b in zip(got, out))


@pytest.mark.parametrize("op,args,why", [
    ("set", ["a", "b"], ""),
    ("set", ["a", ".b", 1.0], "expected 'neuron.port', got '.b'"),
    ("set", ["a", "b", True], "weight must be a finite number, got True"),
    ("value", ["a", 10**400], f"value must be a finite number, got {10**400}"),
    ("neuron", ["s", "sine", "freq"], ""),
    ("neuron", ["s", "sine", "", 1.0], "key '' is not a string"),
    ("neuron", ["s", "sine", "freq", None], "value of 'freq' must be a finite number or a string, got None"),
    ("code", [""], "patch text must be a non-empty string, got ''"),
    ("record", ["pause"], ""),
    ("record", ["stop", "x.mp4"], "'stop' takes no path"),
    ("record", ["start", 3], "path must be a non-empty string, got 3"),
    ("knob", ["/1/fader1"], "expected one value (or two for an xy pad), got 0"),
])
def test_check_refuses(op, args, why):
    with pytest.raises(ArgError) as e:
        commands.get(op).check(args)
    assert str(e.value) == why


def test_the_address_a_command_came_in_on():
    assert commands.address_of("set", ["a", "b", 1.0]) == "/dmm/set"
    assert commands.address_of("knob", ["/1/fader1", 0.5]) == "/1/fader1"
    assert commands.address_of("knob", [3]) == "/dmm/knob"


def test_adding_a_command_is_the_record_and_its_method(monkeypatch, capsys):
    record_src, method_src = python_blocks(DOC.split("## Adding a command", 1)[1])
    op = eval(record_src.strip().rstrip(","), {"Op": Op, "Arg": Arg})
    monkeypatch.setattr(commands, "TABLE", TABLE + (op,))
    import dmmlive.control as control
    ns = dict(vars(control))
    exec("class Ctl(Controller):\n" + method_src, ns)

    c = ns["Ctl"](Machine(), fade=0.0)
    assert c.execute("fade", [0.25]) == ok("fade", [0.25]) and c.fade == 0.25
    [(_, (where, reason))] = c.execute("fade", [-1])
    assert (where, reason) == ("/dmm/fade", "a fade is 0 seconds or more, got -1")
    assert osc.check_message("fade", [1]) == [1.0]
    with pytest.raises(ValueError) as e:
        osc.check_message("fade", ["loud"])
    assert str(e.value) in DOC
    srv = osc.OscServer(port=0)
    try:
        assert [h.args for h in srv.dispatcher.handlers_for_address("/dmm/fade")] == [["fade"]]
    finally:
        srv.close()
    assert "fade" in commands.mirrored() and "fade" in commands.journaled("osc")
    assert cli.main(["send", "--help"]) == 0
    assert f"  {op.synopsis}\n" in capsys.readouterr().out


def ok(op, args):
    """The reply to a command that succeeded: /dmm/ok with its address and arguments (none
    for code); a knob is not answered."""
    from dmmlive import commands
    if op == "knob":
        return []
    return [("/dmm/ok", [commands.address_of(op, args)] + ([] if op == "code" else list(args)))]
