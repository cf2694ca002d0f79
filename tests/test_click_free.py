"""Edits do not click: the energy above 12 kHz in the 20 ms around an edit stays within
3 dB of the same window without the edit (the louder of the sound before and after)."""
import numpy as np
import pytest

import dmmlive
from dmmlive.patch.live import PatchSession

RATE, B = 48000, 128
EDIT_TICK = 40                 # the edit is queued before this tick
WIN = int(0.020 * RATE)        # 20 ms


def render(texts, ticks=80):
    """Play texts[0]; queue texts[1] (if any) before EDIT_TICK. Left channel."""
    m = dmmlive.Machine(rate=RATE, block=B, limiter=False)
    s = PatchSession(m, "t.dmm")
    s.apply(texts[0], now=True)
    out = []
    for t in range(1, ticks + 1):
        if t == EDIT_TICK and len(texts) > 1:
            s.apply(texts[1])
        m.tick()
        out.append(m.sound()[:, 0].copy())
    return np.concatenate(out).astype(np.float64)


def hf_energy(x):
    # ordered schedule: the edit is in W at the end of tick EDIT_TICK, heard from the next
    start = EDIT_TICK * B
    seg = x[start - WIN // 2: start + WIN // 2] * np.hanning(WIN)
    spec = np.abs(np.fft.rfft(seg)) ** 2
    f = np.fft.rfftfreq(WIN, 1 / RATE)
    return spec[f > 12000].sum(), spec.sum()


def excess_db(before, after, fade):
    with_edit, total = hf_energy(render([before, after.replace("FADE", fade)]))
    ref = max(hf_energy(render([before]))[0], hf_energy(render([after.replace("FADE", fade)]))[0])
    ref = max(ref, 1e-13 * total)  # below -130 dB of the window's energy is float rounding
    return 10 * np.log10(with_edit / ref)


GAIN = ("fade(0.05)\na = sine(freq=440)\nout = 0.2*a\n", "fade(FADE)\na = sine(freq=440)\nout = 0.8*a\n")
SWAP = ("fade(0.05)\na = sine(freq=440)\nout = 0.3*a\n", "fade(FADE)\na = tri(freq=440)\nout = 0.3*a\n")


@pytest.mark.parametrize("case", [GAIN, SWAP], ids=["gain change", "oscillator type swap"])
def test_edit_adds_no_click(case):
    assert excess_db(*case, fade="0.05") <= 3.0


@pytest.mark.parametrize("case", [GAIN, SWAP], ids=["gain change", "oscillator type swap"])
def test_the_measure_hears_a_click_without_fade(case):
    assert excess_db(*case, fade="0") > 10.0


# A link faded out whose source has an input of its own: while the glide runs, its reader
# still reads it, so the source must still be computed before the reader (ordered schedule):
# a level order by W's links alone put `a` after `out`, which then read a's block of the tick
# before for the glide's first tick (a step of 0.06 at this fade, 0.39 at netfade's 5 ms).
DROP = ("fade(0.05)\nwob = sine(freq=6)\na = sine(freq=220 + 6*wob)\nb = sine(freq=330)\nout = 0.2*a\n",
        "fade(0.05)\nwob = sine(freq=6)\na = sine(freq=220 + 6*wob)\nb = sine(freq=330)\nout = 0.2*b\n")


def test_a_link_gliding_out_is_read_in_order_until_its_glide_ends():
    steady = np.percentile(np.abs(np.diff(render([DROP[0]]))), 99.9)
    x = render(list(DROP), ticks=EDIT_TICK + 40)  # the glide (50 ms = 19 ticks) and its end
    assert np.abs(np.diff(x)).max() <= 3 * steady
