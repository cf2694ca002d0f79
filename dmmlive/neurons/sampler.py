"""Sample playback: the `sample` neuron and the loading, resampling and caching of WAV files."""
from __future__ import annotations

import os
import pathlib

import numba
import numpy as np

from ..core.errors import BadArgument
from ..core.registry import TICK_VM, neuron_type
from .oscillators import output_rows

ASSETS = pathlib.Path(__file__).resolve().parent.parent.parent / "assets"

# Decoded files: path -> (mtime_ns, size, file rate, float32 mono); and the same
# resampled to a machine rate: (file as named, rate) -> (path, float32 mono), so the
# audio path finds its samples with one dict look-up. A pure cache of file contents:
# a declaration that finds the file changed on disk drops the stale entries.
_RAW: dict = {}
_AT_RATE: dict = {}


def resolve(file) -> pathlib.Path:
    """The path `file` names: absolute, else relative to the working directory if it is
    there, else inside the project's assets/ folder."""
    if not isinstance(file, (str, os.PathLike)) or not str(file):
        raise BadArgument(f"sample: file must be a path to a WAV file, got {file!r}")
    p = pathlib.Path(file).expanduser()
    if p.is_absolute():
        return p
    if p.exists():
        return p.resolve()
    return ASSETS / p


def decode(data: np.ndarray, mono: bool = True) -> np.ndarray:
    """WAV samples (int16, int32, uint8 or float; mono or (frames, channels)) as float32 in
    [-1, 1]: mono (the channels mixed down), or with `mono=False` as they are."""
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128.0) / 128.0
    elif data.dtype.kind == "i":
        x = data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))
    elif data.dtype.kind == "f":
        x = data.astype(np.float64)
    else:
        raise ValueError(f"unsupported sample format {data.dtype}")
    if x.ndim == 2 and mono:
        x = x.mean(axis=1)  # stereo (or more) mixed down to mono
    return np.ascontiguousarray(x, dtype=np.float32)


def load_raw(file) -> tuple[int, np.ndarray]:
    """(file rate, mono float32) of the WAV `file` names, or BadArgument naming the path."""
    from scipy.io import wavfile

    path = resolve(file)
    try:
        st = path.stat()
    except OSError:
        raise BadArgument(f"sample: cannot read {str(path)!r}: no such file "
                          f"(a name is looked for in the working directory, then in {str(ASSETS)!r})") from None
    hit = _RAW.get(str(path))
    if hit is not None and hit[:2] == (st.st_mtime_ns, st.st_size):
        return hit[2], hit[3]
    try:
        rate, data = wavfile.read(path)
        x = decode(np.asarray(data))
    except Exception as e:  # scipy raises ValueError, struct.error, OSError... for a bad file
        raise BadArgument(f"sample: cannot read {str(path)!r}: not a readable WAV file ({e})") from None
    if x.size == 0:
        raise BadArgument(f"sample: cannot read {str(path)!r}: the file holds no samples")
    if not np.isfinite(x).all():
        raise BadArgument(f"sample: cannot read {str(path)!r}: the file holds NaN or Inf samples")
    for key in [k for k, v in _AT_RATE.items() if v[0] == str(path)]:  # changed: resample anew
        del _AT_RATE[key]
        if "vm" in TICK_VM:  # a compiled tick reads the samples it was made with: made again
            TICK_VM["vm"].invalidate()
    _RAW[str(path)] = (st.st_mtime_ns, st.st_size, int(rate), x)
    return int(rate), x


def resampled(x: np.ndarray, file_rate: int, rate: int) -> np.ndarray:
    """Samples (frames first) at `file_rate` as float32 at `rate` (polyphase; as they are
    when the rates match)."""
    if file_rate == rate:
        return x
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(file_rate), int(rate))
    y = resample_poly(x.astype(np.float64), rate // g, file_rate // g, axis=0)
    return np.ascontiguousarray(y, dtype=np.float32)


def load(file, rate: int) -> np.ndarray:
    """The mono float32 samples of `file` at `rate` Hz (resampled at load if the file's rate differs)."""
    hit = _AT_RATE.get((str(file), rate))
    if hit is not None:
        return hit[1]
    path = str(resolve(file))
    file_rate, x = load_raw(file)
    x = resampled(x, file_rate, rate)
    _AT_RATE[(str(file), rate)] = (path, x)
    return x


def _check(args: dict) -> None:
    load_raw(args["file"])


def _init(names, args, ctx) -> dict:
    try:
        load(args["file"], ctx.rate)  # decode now, between ticks, not in the first audio block
    except BadArgument:
        pass  # the file went away since its check: the first tick reports it and mutes the group
    n = len(names)
    return {"pos": np.full(n, np.inf), "prev": np.zeros(n)}


@numba.njit(cache=True)
def play(data, trig, speed, amp, pos, prev, out):
    """Per sample, for every neuron: restart at a rising edge of trig through 0, else advance
    by `speed` samples; read `data` at the position with linear interpolation (silence past
    either end)."""
    n, b = trig.shape
    size = data.shape[0]
    for i in range(n):
        p = pos[i]
        last = prev[i]
        for j in range(b):
            x = trig[i, j]
            if last <= 0.0 and x > 0.0:
                p = 0.0
            last = x
            if 0.0 <= p < size:
                k = int(p)
                frac = p - k
                v = data[k]
                if frac != 0.0:
                    nxt = data[k + 1] if k + 1 < size else 0.0
                    v = v + frac * (nxt - v)
                out[i, j] = amp[i, j] * v
                p += speed[i, j]
            else:
                out[i, j] = 0.0
        pos[i] = p
        prev[i] = last


@neuron_type("sample", kind="audio", inputs={"trig": "audio", "rate": 1.0, "amp": 1.0},
             args={"file": "kick.wav"}, batched=True, state=_init, check=_check)
def sample(state, machine_rate, trig, rate, amp):
    """Play a WAV file from its start at each rising edge of trig through 0; rate = speed (1 = as recorded).

    Sample-accurate, linear interpolation, stereo mixed to mono, resampled to the machine
    rate at load. `file` is a path, or a name in assets/ (kick.wav, snare.wav, hat.wav, clap.wav).

    Example: `kick = sample(clock(bpm=120), file="kick.wav", amp=0.8)`
    """
    data = load(state.args["file"], machine_rate)
    out = output_rows(state, "out", trig.shape)
    play(data, trig, rate, amp, state.pos, state.prev, out)
    return out
