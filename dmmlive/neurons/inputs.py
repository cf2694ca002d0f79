"""Sound from outside: `input(channel)`, the sound card's input (or `render --input FILE`)."""
from __future__ import annotations

import numpy as np

from ..core.errors import BadArgument
from ..core.machine import MAX_INPUTS
from ..core.registry import neuron_type
from .oscillators import output_rows
from .sampler import decode, resampled



def _check(args):
    c = args["channel"]
    if isinstance(c, bool) or not isinstance(c, (int, float)) or c != int(c) or not 1 <= c <= MAX_INPUTS:
        raise BadArgument(f"input: channel must be a whole number from 1 to {MAX_INPUTS}, got {c!r}")


@neuron_type("input", kind="audio", inputs={}, batched=True, args={"channel": 1}, check=_check)
def input_(state, rate):
    """Audio input: channel `channel` (1 = left) of the sound card's input, this block.

    `dmmlive play --input-device NAME` opens the card duplex (its input comes in with the
    engine's `ahead` of latency); `dmmlive render --input FILE.wav` feeds a file instead;
    a set log records the input beside the edits, so a replay is sample-identical. With
    no input the block is silence.

    Example: `out = lowpass(input(1), cutoff=800)`
    """
    out = output_rows(state, "out", (state.n, state.audio_in.shape[1]))
    out[...] = state.audio_in[int(state.args["channel"]) - 1]
    return out


class InputFeed:
    """A before-tick hook (`Machine.before_tick`) that puts a recording's next block into
    `Machine.audio_in`: frame `(t-1)·block + i` of `frames` (frames × channels, float32)
    into tick t's sample i, channel by channel; silence past its end or its channels.
    `render --input FILE.wav` feeds a file so; a replayed set log its recorded input."""

    def __init__(self, frames: np.ndarray, start: int = 0):
        frames = np.asarray(frames, np.float32)
        self.frames = frames.reshape(len(frames), -1)[:, :MAX_INPUTS]
        self.start = int(start)  # the machine's sample the first frame belongs to

    @classmethod
    def from_wav(cls, path, rate: int) -> "InputFeed":
        """The WAV file at `path` (any channels; resampled to `rate`), or BadArgument."""
        from scipy.io import wavfile
        try:
            file_rate, data = wavfile.read(str(path))
            x = decode(np.asarray(data), mono=False)
        except FileNotFoundError:
            raise BadArgument(f"--input: no such file {str(path)!r}") from None
        except Exception as e:  # noqa: BLE001  (scipy raises several kinds for a bad file)
            raise BadArgument(f"--input: cannot read {str(path)!r}: not a readable WAV file ({e})") from None
        x = x.reshape(len(x), -1)
        if not np.isfinite(x).all():
            raise BadArgument(f"--input: {str(path)!r} holds NaN or Inf samples")
        return cls(resampled(x, int(file_rate), int(rate)))

    def __call__(self, m) -> None:
        a = m.audio_in
        s = m.t * m.block - self.start  # the next tick's first sample, in the recording
        a[...] = 0.0
        lo, hi = max(s, 0), min(s + m.block, len(self.frames))
        if hi > lo:
            a[:self.frames.shape[1], lo - s:hi - s] = self.frames[lo:hi].T
