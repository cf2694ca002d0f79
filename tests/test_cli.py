"""The command line, called in-process and as the installed console script."""
import subprocess
import sys

from dmmlive import TYPES
from dmmlive.cli import main


def test_types_lists_every_type_with_ports_and_doc(capsys):
    assert main(["types"]) == 0
    out = capsys.readouterr().out
    for name in ("identity", "accum", "max_norm", "dot", "compare", "const", "timer", "self", "one", "edits", "out"):
        assert f"\n{name} " in "\n" + out, name
        assert TYPES[name].doc.splitlines()[0] in out
    assert "accum (accum:vvalue, delta:vvalue) -> (single:vvalue)" in out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "dmmlive.cli", "types"], capture_output=True, text=True)
    assert r.returncode == 0 and "timer (timer:vvalue) -> (timer:vvalue)" in r.stdout
