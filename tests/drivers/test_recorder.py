"""The mp4 writer: the encoder settings it asks for are the ones in the file, and the
pictures and the sound it is given stay in step (real libx264 and AAC through PyAV)."""
from __future__ import annotations

import av
import numpy as np
import pytest

from dmmlive.drivers.recorder import Recorder

FPS, RATE = 30, 48000
W, H = 64, 36
FLASH = 45  # the frame that is white (1.5 s), and where the click is in the sound


def write(path, fragmented, frames=90, skip=()):
    """Grey frames with one white one at FLASH, and silence with a click at the same time."""
    r = Recorder(path, (W, H), FPS, RATE, fragmented=fragmented)
    per = RATE // FPS
    for k in range(frames):
        block = np.zeros((per, 2), np.float32)
        if k == FLASH:
            block[0] = 0.9
        r.add_audio(block)
        if k not in skip:
            r.add_frame(np.full((H, W, 3), 255 if k == FLASH else 40, np.uint8), pts=k)
    r.close()


KINDS = {1: "I", 2: "P", 3: "B"}  # FFmpeg's AVPictureType


def pictures(path):
    """[(time s, picture type, mean level)] of the decoded frames."""
    with av.open(str(path)) as c:
        return [(float(f.pts * f.time_base), KINDS.get(int(f.pict_type), str(f.pict_type)),
                 float(f.to_ndarray(format="gray").mean())) for f in c.decode(video=0)]


def sound(path):
    """(time of the first decoded sample s, the decoded left channel)."""
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    return float(frames[0].pts * frames[0].time_base), np.concatenate([f.to_ndarray()[0] for f in frames])


@pytest.mark.parametrize("fragmented", [True, False])
def test_pictures_are_i_and_p_frames_with_a_keyframe_a_second(tmp_path, fragmented):
    out = tmp_path / "a.mp4"
    write(out, fragmented)
    pics = pictures(out)
    assert len(pics) == 90
    # no B-frames: a picture is shown as soon as it is decoded, and pts = dts
    assert [k for k, (_, kind, _) in enumerate(pics) if kind == "I"] == [0, 30, 60]
    assert {kind for _, kind, _ in pics} == {"I", "P"}


@pytest.mark.parametrize("fragmented", [True, False])
def test_pictures_and_sound_stay_in_step(tmp_path, fragmented):
    out = tmp_path / "a.mp4"
    write(out, fragmented)
    pics = pictures(out)
    white = [t for t, _, level in pics if level > 200]
    assert len(white) == 1
    t0, left = sound(out)
    click = t0 + int(np.argmax(np.abs(left))) / RATE
    # AAC spreads the click over a few samples; H.264 at 30 fps is 33 ms a picture
    assert abs(white[0] - click) < 0.003, (white[0], click)
    assert abs(click - FLASH / FPS) < 0.025  # and both where they were put (give or take the AAC priming)


def test_skipped_frames_keep_the_times_of_the_others(tmp_path):
    out = tmp_path / "a.mp4"
    write(out, True, skip=set(range(10, 20)))
    times = [t for t, _, _ in pictures(out)]
    assert len(times) == 80
    # (from the second picture: in a fragmented file, which has no edit list, the muxer
    # delays every picture but the first by the AAC encoder's priming, 1024 samples,
    # as it delays the sound: they stay in step, and the first picture lasts 21 ms more)
    steps = np.diff(times[1:])
    assert np.sum(steps > 1.5 / FPS) == 1 and abs(max(steps) - 11 / FPS) < 1e-3


def test_the_same_input_gives_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write(a, True)
    write(b, True)
    assert a.read_bytes() == b.read_bytes()


def moving(k):
    """Frame k of pictures that move (x264's look-ahead has motion to follow)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    r = 127 + 120 * np.sin((x + 2.5 * k) / 7.0) * np.cos((y - 1.5 * k) / 5.0)
    g = 127 + 120 * np.sin((x - 1.7 * k) / 4.0 + y / 9.0)
    b = 127 + 120 * np.cos(np.hypot(x - 32 - k, y - 18) / 3.0)
    return np.stack([r, g, b], -1).astype(np.uint8)


def test_the_bytes_do_not_depend_on_the_cpus_vector_code(tmp_path, monkeypatch):
    """The file x264 writes with the CPU's vector code is the one its plain C code writes
    (`cpu-independent`): its macroblock tree's vector code gives other bytes, and its
    AVX-512 form reads past a row's end (a 64-pixel-wide picture), so that the same
    frames gave other bytes now and then in a process whose heap held other data."""
    from dmmlive.drivers import recorder

    def encode(path):
        r = Recorder(path, (W, H), FPS, RATE, audio=False, fragmented=False)
        for k in range(30):
            r.add_frame(moving(k))
        r.close()
        return path.read_bytes()
    fast = encode(tmp_path / "a.mp4")
    plain = ":".join(p for p in (recorder.X264_PARAMS, "asm=0") if p)  # x264 with no vector code at all
    monkeypatch.setattr(recorder, "X264_PARAMS", plain)
    assert encode(tmp_path / "c.mp4") == fast
