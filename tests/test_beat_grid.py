"""The beat grid from a patch and from OSC: `tempo(bpm)`, `meter(n)`, `quant(beats)`,
`play --quant` (the session's default), /dmm/tempo, quantised /dmm/set and /dmm/code."""
import numpy as np
import pytest

from dmmlive import BadArgument, Machine
from dmmlive.checks import TEMPO
from dmmlive.control import ERROR, Controller
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
PATCH = """\
fade(0)
tempo(120)
{quant}
s = sine(freq=997.3)
out = {gain} * s
"""


def session(gain=0.25, quant="", default=0.0):
    m = Machine(rate=RATE, block=B)
    s = PatchSession(m, "p.dmm", quant=default)
    s.apply(PATCH.format(quant=quant, gain=gain), now=True)
    return m, s


def left(m, n):
    out = []
    for _ in range(n):
        m.tick()
        out.append(m.sound()[:, 0].copy())
    return np.concatenate(out)


def first_change(a, b):
    d = np.flatnonzero(np.abs(a - b) > 1e-5)
    return int(d[0]) if len(d) else None


@pytest.mark.parametrize("quant, default, want", [
    ("quant(1)", 0.0, 24000),      # the next beat
    ("quant(4)", 0.0, 96000),      # the next bar of 4
    ("", 2.0, 48000),              # play --quant 2: every other beat
    ("quant(0)", 2.0, None),       # the patch's quant(0) wins: at once
])
def test_a_quantised_save_lands_on_the_first_sample_of_its_beat(quant, default, want):
    m, s = session(quant=quant, default=default)
    ref, _ = session(quant=quant, default=default)
    m.tick(10), ref.tick(10)
    s.apply(PATCH.format(quant=quant, gain=0.75))
    got, base = left(m, 900), left(ref, 900)
    at = first_change(got, base) + 10 * B
    if want is None:
        assert at < 10 * B + 3 * B      # the next block or the one after
    else:
        assert at == want
        k = want - 10 * B
        assert abs(got[k] - 3 * base[k]) < 1e-6   # a step on that very sample (fade 0)


def test_osc_tempo_sets_and_gets_and_a_patch_keeps_it_until_its_text_changes_it():
    m, s = session()
    ctl = Controller(m, s)
    assert ctl.execute("tempo", []) == [(TEMPO, [120.0])]
    assert ctl.execute("tempo", [140]) == [(TEMPO, [140.0])]
    assert m.tempo == 140.0
    assert ctl.execute("tempo", [0])[0][0] == ERROR and m.tempo == 140.0
    # one range everywhere (core/grid.py's MAX_TEMPO): OSC, Machine.tempo and a patch's tempo()
    assert ctl.execute("tempo", [1000]) == [(TEMPO, [1000.0])]
    assert ctl.execute("tempo", [1000.5]) == [(ERROR, ["/dmm/tempo", "tempo must be a number of beats per minute "
                                                       "> 0 and <= 1000, got 1000.5"])] and m.tempo == 1000.0
    with pytest.raises(BadArgument, match="<= 1000"):
        m.tempo = 5000
    ctl.execute("tempo", [140])
    s.apply(PATCH.format(quant="", gain=0.5))          # tempo(120) unchanged in the text
    assert m.tempo == 140.0
    s.apply(PATCH.format(quant="", gain=0.5).replace("tempo(120)", "tempo(90)\nmeter(3)"))
    assert m.tempo == 90.0 and m.grid.meter == 3


def test_a_quantised_osc_set_lands_on_the_beat():
    m, s = session(quant="quant(1)")
    ref, _ = session(quant="quant(1)")
    ctl = Controller(m, s)
    m.tick(200), ref.tick(200)       # beat 1.07
    assert ctl.execute("set", ["out.left", "s", 0.75])[0][0] == "/dmm/ok"
    got, base = left(m, 400), left(ref, 400)
    assert first_change(got, base) + 200 * B == 48000
    ctl.execute("add", ["out.left", "s", 0.25])   # /dmm/add: at once
    got, base = left(m, 3), left(ref, 3)
    assert first_change(got, 3 * base) is not None and first_change(got, 3 * base) < 3 * B


def test_a_quantised_osc_code_lands_on_the_beat():
    m, s = session(quant="quant(1)")
    ref, _ = session(quant="quant(1)")
    ctl = Controller(m, s)
    m.tick(200), ref.tick(200)       # beat 1.07
    assert ctl.execute("code", [PATCH.format(quant="quant(1)", gain=0.75)])[0][0] == "/dmm/ok"
    got, base = left(m, 400), left(ref, 400)
    k = first_change(got, base)
    assert k + 200 * B == 48000      # beat 2's first sample
    assert abs(got[k] - 3 * base[k]) < 1e-6   # a step on that very sample (fade 0)


def test_play_quant_reaches_the_engine_and_a_log_replays_it(tmp_path):
    """`play --quant 1` (build's quant) makes a save land on the next beat, and the log
    keeps it in its header so the replay lands it on the same sample."""
    import dmmlive
    from scipy.io import wavfile
    from dmmlive.app import build
    from dmmlive.cli import build_parser
    assert build_parser().parse_args(["play", "p.dmm", "--quant", "2"]).quant == 2.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["play", "p.dmm", "--quant", "-1"])
    patch, log = tmp_path / "p.dmm", tmp_path / "p.dmmlog"
    patch.write_text(PATCH.format(quant="", gain=0.25))
    host = build(str(patch), RATE, B, True, 0.05, None, False, str(log), quant=1.0)
    m = host.machine
    sound = []
    for t in range(300):
        if t == 20:
            host.apply_text(PATCH.format(quant="", gain=0.75), str(patch))
        host.tick()
        sound.append(m.sound()[:, 0].copy())
    host.log.close(m.t)
    sound = np.concatenate(sound)
    k = 24000  # the next beat after the save (at sample 2560)
    ref, _ = session()
    base = left(ref, 300)
    assert first_change(sound, base) == k
    rate, data = wavfile.read(dmmlive.render(log, tmp_path / "again.wav"))
    np.testing.assert_array_equal(data[:len(sound), 0], sound)


def test_play_takes_input_device_and_channels():
    from dmmlive.cli import build_parser
    a = build_parser().parse_args(["play", "p.dmm", "--input-device", "system", "--input-channels", "1"])
    assert (a.input_device, a.input_channels) == ("system", 1)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["play", "p.dmm", "--input-channels", "9"])
