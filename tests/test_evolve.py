"""dmmlive evolve (dmmlive/evolve.py): evolution strategies find a patch's weights from
its sound, write them into the patch's own text, and give the same result on Ray as in
one process."""
from __future__ import annotations

import contextlib
import io
import re

import pytest

from dmmlive import BadArgument
from dmmlive.cli import main
from dmmlive.evolve import evolve, find_sites, literals, with_values
from dmmlive.patch.parse import parse
from dmmlive.render import render

TRUE = """\
# three weights to find
a    = sine(freq=330)          # a tone
n    = saw(freq=110)
filt = lowpass(n, cutoff=1200, q=1)
out.left  = 0.4*filt   # the filtered saw
out.right = 0.2*a
"""
KNOWN = {("a", "freq", "one", "out"): 330.0, ("filt", "cutoff", "one", "out"): 1200.0,
         ("out", "left", "filt", "out"): 0.4}
START = TRUE.replace("330", "429").replace("1200", "840").replace("0.4*filt", "0.52*filt")  # 30% off each
WEIGHTS = "a.freq,filt.cutoff,out.left"
JOB = ["--weights", WEIGHTS, "--population", "16", "--generations", "30", "--seed", "0", "--seconds", "0.25"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("evolve")
    (d / "true.dmm").write_text(TRUE)
    (d / "start.dmm").write_text(START)
    render(str(d / "true.dmm"), d / "target.wav", seconds=0.25)
    return d


@pytest.fixture(scope="module")
def recovered(files):
    """The recovery job run once, in this process (--workers 1, no Ray): (its -o file's
    bytes, what it printed)."""
    best, said = files / "best.dmm", io.StringIO()
    with contextlib.redirect_stdout(said):
        assert main(["evolve", str(files / "start.dmm"), "--target", str(files / "target.wav"), "-o", str(best),
                     "--workers", "1", *JOB]) == 0
    return best.read_bytes(), said.getvalue()


def weights_of(text):
    rows = parse(text, "x").rows
    return {k: rows[k[:2]][k[2:]] for k in KNOWN}


def numbers_out(text):
    return re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", text)


def test_the_weights_are_found_in_the_text():
    sites = find_sites(START, "start.dmm", WEIGHTS.split(","))
    assert [s.entry for s in sites] == list(KNOWN)
    assert [START[s.start:s.end] for s in sites] == ["429", "840", "0.52"]
    new = with_values(START, sites, [1.5, 2.25, 0.125])
    assert numbers_out(new) == numbers_out(START)
    assert list(weights_of(new).values()) == [1.5, 2.25, 0.125]
    assert len(literals(START)) == 6
    with pytest.raises(BadArgument, match="several terms"):
        find_sites("a = sine()\nb = saw()\nout.left = 0.2*a + 0.3*b\n", "x", ["out.left"])
    assert find_sites("a = sine()\nb = saw()\nout.left = 0.2*a + 0.3*b\n", "x", ["out.left:b"])[0].value == 0.3
    with pytest.raises(BadArgument, match="writes no"):
        find_sites(START, "x", ["zz.freq"])


def test_evolve_recovers_three_weights_within_2_percent(recovered):
    best, out = recovered
    lines = [x for x in out.splitlines() if x.startswith("generation ")]
    assert len(lines) == 30 and "best distance" in lines[0]
    dists = [float(re.search(r"best distance ([\d.]+)", x).group(1)) for x in lines]
    assert dists == sorted(dists, reverse=True) and dists[-1] < dists[0] / 10
    text = best.decode()
    assert numbers_out(text) == numbers_out(START)  # the same layout and comments, new numbers
    got = weights_of(text)
    for k, want in KNOWN.items():
        assert abs(got[k] / want - 1) < 0.02, (k, got[k], want)


def test_the_same_job_on_ray_gives_the_same_result(files, recovered, capsys):
    """The recovery job on 2 Ray workers (started and stopped by the command): the -o file
    of --workers 1, byte for byte, and the same distances printed each generation."""
    pytest.importorskip("ray")
    best = files / "best-ray.dmm"
    assert main(["evolve", str(files / "start.dmm"), "--target", str(files / "target.wav"), "-o", str(best),
                 "--workers", "2", *JOB]) == 0
    assert best.read_bytes() == recovered[0]
    def generations(text):
        return [x for x in text.splitlines() if x.startswith("generation ")]
    assert generations(capsys.readouterr().out) == generations(recovered[1])


def test_without_ray_it_says_how_to_get_it(files, without_ray, capsys):
    with pytest.raises(BadArgument, match=r"evolve needs Ray.*pip install 'dmmlive\[ray\]'"):
        evolve(files / "start.dmm", files / "target.wav", WEIGHTS, workers=2)
    assert main(["evolve", str(files / "start.dmm"), "--target", str(files / "target.wav"), "-o",
                 str(files / "x.dmm"), "--weights", WEIGHTS, "--ray", "auto"]) == 1
    assert "pip install 'dmmlive[ray]'" in capsys.readouterr().err
    # the default (no --workers, no --ray): Ray on this machine's cores
    assert main(["evolve", str(files / "start.dmm"), "--target", str(files / "target.wav"), "-o",
                 str(files / "x.dmm"), "--weights", WEIGHTS]) == 1
    assert "evolve needs Ray" in capsys.readouterr().err
    assert not (files / "x.dmm").exists()
    # one worker needs no Ray
    assert main(["evolve", str(files / "start.dmm"), "--target", str(files / "target.wav"), "-o",
                 str(files / "x.dmm"), "--weights", WEIGHTS, "--workers", "1", "--population", "2",
                 "--generations", "1", "--seconds", "0.1"]) == 0
    assert (files / "x.dmm").exists()


def test_bad_requests(files):
    for kw, match in ((dict(population=7), "even"), (dict(sigma=0), "sigma"), (dict(generations=0), "generations")):
        with pytest.raises(BadArgument, match=match):
            evolve(files / "start.dmm", files / "target.wav", WEIGHTS, **kw)
