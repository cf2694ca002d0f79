"""Frames: the ticks at which image neurons fire (the frame clock), the image backend,
and the audio an image neuron draws (a ring of recent samples). A mixin of Machine."""
from __future__ import annotations

import numpy as np

from .registry import BACKENDS


class Frames:
    """Machine's frame clock and what its frame neurons read."""
    _frames_kept = None  # (fps, (block, rate), B·fps numerator, rate·fps denominator, tick, its frame)

    def _frames_of(self, t: int) -> tuple:
        """(the frame of tick t - 1, that of tick t), a tick's frame being the last whose time
        falls before the tick's end (-1 before the first): frame k falls in tick t when
        (t-1)·B/rate <= k/fps < t·B/rate. The first is kept from the tick before, and the
        integers of the ratio B·fps/rate from tick to tick."""
        c = self._frames_kept
        f = self._fps
        if c is None or c[0] is not f or c[1] != (self.block, self.rate):
            c = (f, (self.block, self.rate), self.block * f.numerator, self.rate * f.denominator, None, None)
        num, den = c[2], c[3]
        k0 = c[5] if c[4] == t - 1 else -(-((t - 1) * num) // den) - 1
        k = -(-(t * num) // den) - 1
        self._frames_kept = c[:4] + (t, k)
        return k0, k

    def image(self):
        """The image reaching `screen` at the last frame (a backend Image), or None."""
        st = self._state.get("screen")
        return st.get("image") if st else None

    def _gpu(self):
        if self.gpu is None:
            factory = BACKENDS.get("image")
            if factory is None:
                raise RuntimeError("image neurons need the image backend: import dmmlive.gfx")
            self.gpu = factory(self)
        return self.gpu

    def _frame_state(self, s, st) -> None:
        frame_state(st, s.name, self._gpu() if s.name != "screen" else None, self._frame_time(),
                    self.frame, self._rings, [p for p, (k, _) in s.inputs.items() if k == "audio"])

    def _frame_time(self) -> float:
        """Seconds of the current frame."""
        return self.frame / float(self._fps)


    def _publish(self, lv) -> None:
        """A sound-only machine publishing frames (`publish_frames`), at a frame tick after
        level `lv`'s down movement: add to the frame's record what each frame neuron of the
        level would get, in firing order: numbers, image rows as their terms (the image
        sources and weights, and the sum of the number terms), and the audio samples its
        inputs took since the last frame (its rings are made now, as a neuron that fires
        makes them, and filled every tick by the down movement)."""
        X, Yn = self._X, self._Y["number"]
        idx = self._plan.out_index["number"]
        irows = dict(lv.irows)
        for s in lv.singles:
            if not s.decl.type.frame:
                continue
            for p, (k, _) in s.inputs.items():
                if k == "audio" and (s.name, p) not in self._rings:
                    self._rings[(s.name, p)] = ring_for(self._initial_state(s.decl))
            ins = {}
            for port, (kind, where) in s.inputs.items():
                if kind == "number":
                    ins[port] = float(X["number"][where])
                elif kind == "image":
                    terms = irows.get((s.name, port), ())
                    const = sum(w * float(Yn[idx[src]]) for src, w, k in terms if k != "image")
                    ins[port] = ([(src, w) for src, w, k in terms if k == "image"], const)
                elif kind == "audio":
                    ins[port] = (self._rings[(s.name, port)].since_last(), X["audio"][where].copy())
                else:
                    ins[port] = self._Xv.get(where, {})
            self._frame_rec.append((s.name, s.decl.type.name, s.decl.args, ins))


def ring_for(st) -> "Ring":
    """The ring of an audio input of a frame neuron whose state is `st`: its `history`
    samples, 16384 at least."""
    return Ring(max(16384, int(st.get("history", 0))))


def frame_state(st, name, gpu, time, frame, rings, audio_ports) -> None:
    """What a frame neuron reads besides its inputs, put in its state `st`: the backend
    (`gpu`, none for `screen`), the frame's `time` and number, and `audio(port, n)` over
    its audio inputs' rings in `rings` ({(name, port): Ring}, made here if missing)."""
    if gpu is not None:
        st["gpu"] = gpu
    st["time"] = time
    st["frame"] = frame
    if audio_ports and "audio" not in st:
        for p in audio_ports:
            if (name, p) not in rings:
                rings[(name, p)] = ring_for(st)
        st["audio"] = AudioReader(rings, name)


class AudioReader:
    """A frame neuron's `audio(port, n)`: the last n samples of its input `port` (an object,
    not a closure, so that a snapshot holds it)."""

    def __init__(self, rings: dict, name: str):
        self.rings, self.name = rings, name

    def __call__(self, port, n):
        return self.rings[(self.name, port)].last(n)


class Ring:
    """The last `size` samples of an audio input (for frame neurons that draw sound)."""

    def __init__(self, size: int):
        self.buf = np.zeros(size, np.float32)
        self.pos = 0
        self.sent = 0  # pos at the last since_last()

    def since_last(self) -> np.ndarray:
        """The samples pushed since the last call (at most the ring's size)."""
        n = self.pos - self.sent
        self.sent = self.pos
        return self.last(n).copy() if n > 0 else np.zeros(0, np.float32)

    def push(self, block) -> None:
        if block is None:
            block = np.zeros(1, np.float32)
        n = len(block)
        i = self.pos % len(self.buf)
        end = min(len(self.buf), i + n)
        self.buf[i:end] = block[:end - i]
        self.buf[:n - (end - i)] = block[end - i:]
        self.pos += n

    def last(self, n: int) -> np.ndarray:
        n = min(int(n), len(self.buf))
        i = self.pos % len(self.buf)
        out = np.concatenate([self.buf[i:], self.buf[:i]])[-n:]
        if self.pos < n:
            out[: n - self.pos] = 0.0
        return out
