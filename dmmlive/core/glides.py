"""Glides: weights that change by an edit's fade move along a smoothstep, per sample for
audio; when a glide ends its matrices leave the plan. A mixin of Machine."""
from __future__ import annotations

import numpy as np

from . import vv
from .plan import entries


class Glides:
    """Machine's glides in progress (`_fades`) and their end."""

    @property
    def gliding(self) -> bool:
        """Whether weights are gliding (an edit's fade): W changes again when each glide ends."""
        return bool(self._fades)

    def _advance_fades(self) -> None:
        """After a tick: finish the glides that reached their end.

        Usually without a recompile: a glide whose every weight is still in W (a weight
        changed, not removed) and that retires no crossfaded neuron leaves the active set
        as it is, so the plan compiled now would be the one running less that glide's
        matrices, which are dropped. Otherwise (a weight went to 0, a neuron retires) the
        plan is compiled again."""
        done = [j for j, f in enumerate(self._fades) if (self.t - f.start + 1) * self.block >= f.skip + f.length]
        if not done:
            return
        finished = [self._fades[j] for j in done]
        self._fades = [f for j, f in enumerate(self._fades) if j not in done]
        keep_plan = not self._dirty and self._plan is not None
        for f in finished:
            for d, i, s, o, w in entries(f.delta):
                if s in self._cleanup_after_fade:
                    keep_plan = False
                    inputs = self._cleanup_after_fade.pop(s)
                    if inputs:
                        self._W = vv.add_into(self._W, {s: vv.scale(inputs, -1.0)})
                        self._restructure(rows=[(s, i) for i in inputs])
                elif keep_plan and not vv.path(self._W, d, i, s, o):
                    keep_plan = False
        if keep_plan:
            for lv in self._plan.levels:
                if len(lv.fade_mats) == len(done) + len(self._fades):
                    lv.fade_mats = [mats for j, mats in enumerate(lv.fade_mats) if j not in done]
                else:  # not aligned with the glides (cannot happen): compile to be sure
                    keep_plan = False
        if not keep_plan:
            self._restructure(active=True)

    def _ramp(self, f) -> np.ndarray:
        """1 - s(r) over this tick's samples: r the glide's progress (0 -> 1), s the
        smoothstep 3r² - 2r³. Its slope is continuous at both ends, so a glide adds no
        kink to the sound: a linear glide's corners put energy above 12 kHz ~25 dB over a
        steady sine's at a 50 ms fade (tests/test_click_free.py). A glide that waits `skip`
        samples (a quantised edit landing on a beat) holds the old weights until then."""
        j = (self.t - f.start) * self.block + np.arange(1, self.block + 1) - f.skip
        r = np.clip(j / f.length, 0.0, 1.0)
        return (1.0 - r * r * (3.0 - 2.0 * r)).astype(np.float32)


class _Fade:
    """A glide: ΔW `delta` from the first sample of tick `start` plus `skip` samples, over
    `length` samples (1: a step on that sample)."""
    __slots__ = ("delta", "start", "length", "meta", "skip")

    def __init__(self, delta, start, length, meta, skip=0):
        self.delta, self.start, self.length, self.meta, self.skip = delta, start, length, meta, skip
