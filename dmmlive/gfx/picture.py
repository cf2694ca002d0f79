"""A picture drawn from the frames a sound-only machine publishes.

The engine's machine makes sound only (`Machine(images=False, publish_frames=True)`):
at each frame tick it publishes what its frame neurons would get (core/frames.py: the
numbers, each image row's image sources and weights with the sum of its number terms,
the audio samples since the last frame), in firing order. `Picture.draw(record)` runs
those frame neurons here, on a Gpu, with exactly those inputs: the picture belongs to
the sound it came with, and nothing of the sound is computed again.
"""
from __future__ import annotations

import numpy as np

from ..core.frames import frame_state, ring_for
from ..core.machine import initial_state
from ..core.registry import STANDARD, Types


class Picture:
    """Frame neurons run from published frame records. `types`: the table the records'
    type names are read in (a shader saved while playing reloads there); `gpu`: the Gpu
    to draw with; `rate`, `block`, `fps`: the engine machine's."""

    def __init__(self, gpu, *, rate: int = 48000, block: int = 128, fps: float = 30.0,
                 types: Types | None = None):
        self.gpu, self.rate, self.block, self.fps = gpu, int(rate), int(block), float(fps)
        self.types = STANDARD if types is None else types
        self.states: dict = {}   # name -> (type name, args, state dict)
        self.outputs: dict = {}  # (name, port) -> Image
        self.rings: dict = {}    # (name, port) -> Ring of an audio input
        self.errors: list = []   # a frame neuron's failure, told once per neuron (it draws nothing)
        self._failed: set = set()

    def draw(self, record: dict):
        """Fire the record's frame neurons in order; returns the image reaching `screen`."""
        seen = set()
        for name, tname, args, ins in record["neurons"]:
            seen.add(name)
            t = self.types.get_type(tname)
            cur = self.states.get(name)
            if cur is None or cur[0] != tname or cur[1] != args:
                self._drop(name)
                cur = self.states[name] = (tname, args, initial_state(t, args, self.rate, self.block))
            st = cur[2]
            inputs = {}
            for port, v in ins.items():
                kind = t.input_kind(port)
                if kind == "image":
                    terms, const = v
                    inputs[port] = self.gpu.combine((name, port), [(self.outputs.get(src), w) for src, w in terms],
                                                    const)
                elif kind == "audio":
                    ring = self.rings.get((name, port))
                    if ring is None:
                        ring = self.rings[(name, port)] = ring_for(st)
                    ring.push(np.asarray(v[0], np.float32))
                    inputs[port] = np.asarray(v[1], np.float32)  # the tick's block, as the machine gives it
                else:
                    inputs[port] = v
            frame_state(st, name, self.gpu if name != "screen" else None, record["time"], record["frame"],
                        self.rings, [p for p in ins if t.input_kind(p) == "audio"])
            try:
                out = t.fn(inputs, st)
            except Exception as e:  # noqa: BLE001  (as in the machine: muted and told, never fatal)
                if name not in self._failed:
                    self._failed.add(name)
                    self.errors.append(f"{name} ({tname}) failed: {type(e).__name__}: {e}")
                out = {}
            for port, img in (out if isinstance(out, dict) else {}).items():
                self.outputs[(name, port)] = img
        for name in [n for n in self.states if n not in seen]:
            self._drop(name)
        st = self.states.get("screen")
        return st[2].get("image") if st else None

    def _drop(self, name) -> None:
        """Forget a neuron that left (or changed type or arguments): its textures go."""
        old = self.states.pop(name, None)
        if old is not None and old[2].get("key") is not None:
            self.gpu.release(old[2]["key"])
        for key in [k for k in self.outputs if k[0] == name]:
            del self.outputs[key]
        for key in [k for k in self.rings if k[0] == name]:
            del self.rings[key]
