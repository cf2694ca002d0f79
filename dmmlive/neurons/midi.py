"""MIDI in the network: `midicc`, `midinote`, `midibend` (numbers set by MIDI messages) and
`midiout` (notes and a controller sent out from streams).

MIDI messages reach a machine through `apply(machine, data)`, between ticks, as a knob's
value does (`neurons.control.set_knob`): the live set's MIDI ports call it in the engine
process and journal each message (`play --log`), the replay of a log calls it at the same
ticks. What the messages left is kept in the machine's context (`midi_state`): the last
value of every controller, the notes held and the pitch bend of every channel, so a
neuron declared later (or re-created by an edit) starts where the controller is.

`midiout` collects what it sends in its state, each firing: `[(sample offset in the
block, bytes)]` (see `drivers.midi`, which sends them when their sound is heard).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import BadArgument
from ..core.registry import neuron_type, ranged
from .control import toward_target

__all__ = ["apply", "midi_state", "note_freq", "MidiState", "MAX_VOICES"]

MAX_VOICES = 8  # midipoly's voices at most


def note_freq(note: float, bend: float = 0.0) -> float:
    """Hz of MIDI note `note` (A4 = 69 = 440 Hz), `bend` semitones up."""
    return 440.0 * 2.0 ** ((note - 69.0 + bend) / 12.0)


class MidiState:
    """What the MIDI messages applied to a machine left: `cc` {(channel, number): 0..1},
    `held` {channel: [(note, velocity 0..1)] in the order pressed}, `last` {channel: (note,
    velocity)} the note sounding or last sounded, `bend` {channel: -1..1}."""

    def __init__(self):
        self.cc: dict = {}
        self.held: dict = {}
        self.last: dict = {}
        self.bend: dict = {}
        self.poly: dict = {}   # {channel: {voices: [[note, velocity, gate, stamp], ...]}} (midipoly)
        self.stamp = 0

    def voices(self, channel: int, voices: int) -> list:
        """The `voices` slots of `channel` for a midipoly of that many voices: [note, velocity,
        gate, stamp] each (stamp: when it was last played or released)."""
        per = self.poly.get(channel)
        if per is None:
            return [[69, 0.0, 0.0, -1] for _ in range(voices)]
        return per[voices]

    def poly_note(self, channel: int, note: int, velocity: float) -> None:
        """A note on (velocity > 0) or off, in the slots of every voice count: a note-on takes
        the slot playing that note, else the slot released longest ago, else the one played
        longest ago (stolen); a note-off releases the slot playing it."""
        per = self.poly.setdefault(channel, {k: [[69, 0.0, 0.0, -1] for _ in range(k)]
                                             for k in range(1, MAX_VOICES + 1)})
        self.stamp += 1
        for slots in per.values():
            playing = [s for s in slots if s[0] == note and s[2] > 0]
            if velocity > 0:
                if playing:
                    s = playing[0]
                else:
                    free = [s for s in slots if s[2] == 0]
                    s = min(free or slots, key=lambda s: s[3])
                s[:] = [note, velocity, 1.0, self.stamp]
            else:
                for s in playing:
                    s[2], s[3] = 0.0, self.stamp

    def note(self, channel: int) -> tuple[float, float, float]:
        """(note, gate, velocity) of `channel` now: the last note still held (gate 1), else
        the last one sounded (gate 0), else A4 silent."""
        held = self.held.get(channel)
        if held:
            n, v = held[-1]
            return float(n), 1.0, v
        n, v = self.last.get(channel, (69, 0.0))
        return float(n), 0.0, v


def midi_state(machine) -> MidiState:
    """The MidiState kept in `machine`'s context (made on first use)."""
    ctx = machine.context
    st = getattr(ctx, "midi", None)
    if st is None:
        st = ctx.midi = MidiState()
    return st


def _int_in(x, lo: int, hi: int) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) \
        and float(x) == int(x) and lo <= int(x) <= hi


def _check_channel(name: str, ch) -> None:
    if not _int_in(ch, 1, 16):
        raise BadArgument(f"{name} channel must be a whole number from 1 to 16, got {ch!r}")


def _check_lag(name: str, lag) -> None:
    if not (isinstance(lag, (int, float)) and not isinstance(lag, bool) and math.isfinite(lag) and lag >= 0):
        raise BadArgument(f"{name} lag must be a number of seconds >= 0, got {lag!r}")


# ---- midicc ---------------------------------------------------------------------------------
def _cc_check(args: dict) -> None:
    cc = args["cc"]
    if cc is None or (isinstance(cc, (int, float)) and not isinstance(cc, bool) and cc == -1):
        raise BadArgument("midicc needs its controller number, 0 to 127: midicc(74)")
    if not _int_in(cc, 0, 127):
        raise BadArgument(f"midicc controller number must be a whole number from 0 to 127, got {cc!r}")
    _check_channel("midicc", args["channel"])
    d = args["default"]
    if not (isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d)):
        raise BadArgument(f"midicc default must be a finite number, got {d!r}")
    _check_lag("midicc", args["lag"])


def _cc_init(names, args, ctx) -> dict:
    st = getattr(ctx, "midi", None)
    key = (int(args["channel"]), int(args["cc"]))
    x = st.cc.get(key, float(args["default"])) if st is not None else float(args["default"])
    v = np.full(len(names), x, np.float64)
    return {"target": v, "value": v.copy()}


@neuron_type("midicc", kind="number", inputs={}, outputs={"out": "number"},
             args={"cc": -1, "channel": 1, "default": 0.5, "lag": 0.01}, batched=True,
             state=_cc_init, check=_cc_check)
def midicc(state, rate):
    """A number set by MIDI control change `cc` on `channel` (1-16): value 0..127 -> 0..1, smoothed over `lag` s.

    Starts at `default` until the controller moves (or where it was last moved, for a
    neuron declared since). As `knob`, a one-pole glide per tick.

    Example: `cut = midicc(74, channel=1, default=0.5, lag=0.01)`
    """
    return toward_target(state, rate)


# ---- midinote ---------------------------------------------------------------------------------
def _note_check(args: dict) -> None:
    _check_channel("midinote", args["channel"])
    b = args["bend"]
    if not (isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) and 0 <= b <= 48):
        raise BadArgument(f"midinote bend (semitones of a full pitch bend) must be 0 to 48, got {b!r}")


def _note_values(st: MidiState | None, channel: int, bend_range: float) -> tuple:
    n, g, v = st.note(channel) if st is not None else (69.0, 0.0, 0.0)
    b = st.bend.get(channel, 0.0) if st is not None else 0.0
    return note_freq(n, b * bend_range), g, v, n


def _note_init(names, args, ctx) -> dict:
    f, g, v, n = _note_values(getattr(ctx, "midi", None), int(args["channel"]), float(args["bend"]))
    k = len(names)
    return {"freq": np.full(k, f), "gate": np.full(k, g), "velocity": np.full(k, v), "note": np.full(k, n)}


@neuron_type("midinote", kind="number", inputs={},
             outputs={"freq": "number", "gate": "number", "velocity": "number", "note": "number"},
             args={"channel": 1, "bend": 2.0}, batched=True, state=_note_init, check=_note_check)
def midinote(state, rate):
    """The notes played on MIDI `channel` (1-16), last-note priority: `freq` (Hz), `gate` (1 held, 0 released), `velocity` 0..1, `note`.

    A note-off of the sounding note falls back to the last note still held (gate stays
    1), else the gate goes to 0 and `freq`, `note` and `velocity` keep the last note's
    (its release sounds at its pitch). Pitch bend moves `freq` by up to `bend`
    semitones (default 2) either way. freq = 440 * 2^((note - 69 + bend)/12).

    Example: `n = midinote(channel=1)`, `v = saw(freq=n.freq)`, `env = adsr(gate=n.gate)`
    """
    return {"freq": state.freq, "gate": state.gate, "velocity": state.velocity, "note": state.note}


# ---- midibend -------------------------------------------------------------------------------
def _bend_check(args: dict) -> None:
    _check_channel("midibend", args["channel"])
    _check_lag("midibend", args["lag"])


def _bend_init(names, args, ctx) -> dict:
    st = getattr(ctx, "midi", None)
    x = st.bend.get(int(args["channel"]), 0.0) if st is not None else 0.0
    v = np.full(len(names), x, np.float64)
    return {"target": v, "value": v.copy()}


@neuron_type("midibend", kind="number", inputs={}, outputs={"out": "number"},
             args={"channel": 1, "lag": 0.0}, batched=True, state=_bend_init, check=_bend_check)
def midibend(state, rate):
    """The pitch bend of MIDI `channel` (1-16), -1..1 (0 at rest), smoothed over `lag` s (default none).

    Example: `vib = midibend(channel=1)`, `v = sine(freq=440 + 20*vib)`
    """
    return toward_target(state, rate)


# ---- midipoly -------------------------------------------------------------------------------
def _poly_check(args: dict) -> None:
    _check_channel("midipoly", args["channel"])
    v = args["voices"]
    if not _int_in(v, 1, MAX_VOICES):
        raise BadArgument(f"midipoly voices must be a whole number from 1 to {MAX_VOICES}, got {v!r}")
    _note_check({"channel": args["channel"], "bend": args["bend"]})


def _poly_values(st: MidiState | None, channel: int, voices: int, bend_range: float):
    """(freq, gate, velocity, note) rows of MAX_VOICES (the voices beyond `voices` silent)."""
    out = np.zeros((4, MAX_VOICES))
    out[0], out[3] = 440.0, 69.0
    slots = st.voices(channel, voices) if st is not None else [[69, 0.0, 0.0, -1]] * voices
    b = (st.bend.get(channel, 0.0) if st is not None else 0.0) * bend_range
    for k, (n, v, g, _) in enumerate(slots):
        out[:, k] = note_freq(n, b), g, v, n
    return out


def _poly_init(names, args, ctx) -> dict:
    x = _poly_values(getattr(ctx, "midi", None), int(args["channel"]), int(args["voices"]), float(args["bend"]))
    k = len(names)
    return {f: np.tile(x[i], (k, 1)) for i, f in enumerate(("freq", "gate", "velocity", "note"))}


@neuron_type("midipoly", kind="number", inputs={},
             outputs={f"{f}{k}": "number" for f in ("freq", "gate", "velocity", "note")
                      for k in range(1, MAX_VOICES + 1)},
             args={"voices": 4, "channel": 1, "bend": 2.0}, batched=True, state=_poly_init, check=_poly_check)
def midipoly(state, rate):
    """Polyphonic MIDI on `channel`: `voices` (1-8) voices, each with freqK, gateK, velocityK, noteK (K = 1..voices).

    A note-on takes the voice already playing that note, else the one released longest
    ago, else the one played longest ago (stolen); its note-off releases that voice (its
    gate to 0, its pitch kept for the release). Pitch bend moves every voice by up to
    `bend` semitones. Outputs past `voices` stay silent.

    Example: `p = midipoly(voices=2)`, `v1 = mul(saw(freq=p.freq1), adsr(gate=p.gate1))`,
    `v2 = mul(saw(freq=p.freq2), adsr(gate=p.gate2))`, `out = 0.2*v1 + 0.2*v2`
    """
    out = {}
    for f in ("freq", "gate", "velocity", "note"):
        a = getattr(state, f)
        for k in range(MAX_VOICES):
            out[f"{f}{k + 1}"] = a[:, k]
    return out


# ---- applying a message ----------------------------------------------------------------------
def _running(machine, type_name: str):
    """(name, args, (arrays, row)) of every running neuron of `type_name`."""
    for name, t in machine.neurons.items():
        if t == type_name:
            row = machine.group_row(name)
            if row is not None:
                yield name, machine.declaration(name).args, row


def apply(machine, data) -> bool:
    """Apply one MIDI channel message (its bytes: status, data...) to `machine`, between
    ticks: note on/off, control change, pitch bend. Returns False for a message that is
    not one of these (ignored). Never raises for a message nobody listens to."""
    data = [int(b) for b in data]
    if not data or not 0x80 <= data[0] < 0xF0:
        return False
    kind, ch = data[0] & 0xF0, (data[0] & 0x0F) + 1
    d1 = data[1] & 0x7F if len(data) > 1 else 0
    d2 = data[2] & 0x7F if len(data) > 2 else 0
    st = midi_state(machine)
    if kind == 0xB0:  # control change
        x = d2 / 127.0
        st.cc[(ch, d1)] = x
        for _, args, (arrays, i) in _running(machine, "midicc"):
            if int(args["cc"]) == d1 and int(args["channel"]) == ch:
                arrays["target"][i] = x
        return True
    if kind in (0x80, 0x90):  # note off, note on (velocity 0: off)
        st.poly_note(ch, d1, d2 / 127.0 if kind == 0x90 else 0.0)
        held = st.held.setdefault(ch, [])
        held[:] = [h for h in held if h[0] != d1]
        if kind == 0x90 and d2 > 0:
            held.append((d1, d2 / 127.0))
            st.last[ch] = (d1, d2 / 127.0)
        elif held:
            st.last[ch] = held[-1]
    elif kind == 0xE0:  # pitch bend: 14 bits, 8192 at rest
        v = ((d2 << 7) | d1) - 8192
        st.bend[ch] = v / 8192.0 if v < 0 else v / 8191.0
        for _, args, (arrays, i) in _running(machine, "midibend"):
            if int(args["channel"]) == ch:
                arrays["target"][i] = st.bend[ch]
    else:
        return False
    for _, args, (arrays, i) in _running(machine, "midinote"):
        if int(args["channel"]) == ch:
            f, g, v, n = _note_values(st, ch, float(args["bend"]))
            arrays["freq"][i], arrays["gate"][i], arrays["velocity"][i], arrays["note"][i] = f, g, v, n
    for _, args, (arrays, i) in _running(machine, "midipoly"):
        if int(args["channel"]) == ch:
            x = _poly_values(st, ch, int(args["voices"]), float(args["bend"]))
            for j, f in enumerate(("freq", "gate", "velocity", "note")):
                arrays[f][i] = x[j]
    return True


# ---- midiout ---------------------------------------------------------------------------------
def _out_check(args: dict) -> None:
    _check_channel("midiout", args["channel"])
    c = args["control"]
    if not (_int_in(c, 0, 127) or (_int_in(c, -1, -1))):
        raise BadArgument(f"midiout control (the CC number `cc` is sent as) must be a whole number "
                          f"from 0 to 127 (or -1: none), got {c!r}")


def _out_init(args) -> dict:
    return {"ch": int(args["channel"]), "control": int(args["control"]), "gate": False, "note": None,
            "cc": None, "events": [], "fired": 0}


@neuron_type("midiout", kind="audio",
             inputs={"note": ranged(60.0, 0, 127), "gate": 0.0, "velocity": ranged(1.0, 0, 1), "cc": ranged(0.0, 0, 1)},
             outputs={}, args={"channel": 1, "control": -1}, state=_out_init, check=_out_check)
def midiout(inputs, state):
    """Sends MIDI on `channel` (1-16) from streams (on `play --midi-out`): notes from `note` and `gate`, and `cc` as controller `control`.

    A note-on (note = round(note), velocity = velocity * 127) where gate rises above 0,
    at that sample; its note-off where gate falls to 0 or less; a new note-on (after the
    old one's note-off) where the rounded note changes while the gate is up. With
    `control` 0..127, `cc` (0..1 -> 0..127) is sent whenever its value at the end of a
    block differs from the last one sent. Each message goes out when its sample is
    heard. Has no outputs.

    Example: `m = midiout(note=seq(clock(div=2), values=[48, 55, 60]), gate=gate, channel=1)`
    """
    gate, note, vel = inputs["gate"], inputs["note"], inputs["velocity"]
    status = 0x90 + state["ch"] - 1
    events = []
    up = gate > 0.0
    nr = np.clip(np.rint(note), 0, 127)
    was, sounding = state["gate"], state["note"]
    prev_up = np.empty_like(up)
    prev_up[0], prev_up[1:] = was, up[:-1]
    prev_n = np.empty_like(nr)
    prev_n[0], prev_n[1:] = (sounding if sounding is not None else nr[0]), nr[:-1]
    for i in np.flatnonzero((up != prev_up) | (up & (nr != prev_n))).tolist():
        on, n = bool(up[i]), int(nr[i])
        if sounding is not None and (not on or n != sounding):
            events.append((i, (status - 0x10, sounding, 0)))
            sounding = None
        if on and sounding is None:
            v = int(min(127, max(1, round(float(vel[i]) * 127))))
            events.append((i, (status, n, v)))
            sounding = n
    state["gate"], state["note"] = bool(up[-1]), sounding
    c = state["control"]
    if c >= 0:
        x = int(min(127, max(0, round(float(inputs["cc"][-1]) * 127))))
        if x != state["cc"]:
            events.append((len(gate) - 1, (status + 0x20, c, x)))
            state["cc"] = x
    state["events"] = events
    state["fired"] += 1
    return {}
