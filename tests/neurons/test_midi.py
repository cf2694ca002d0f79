"""The MIDI neuron types (`midicc`, `midinote`, `midibend`, `midiout`), MIDI messages applied to a
machine and journaled, their replay, and the MIDI clock out, offline (no MIDI system needed;
tests/drivers/test_midi.py runs them through real JACK MIDI ports)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.core.errors import BadArgument
from dmmlive.drivers.midi import CLOCK, START, EventRing, MidiLink
from dmmlive.host import Host
from dmmlive.log import check_log, machine_from_log, session_from_text, start_log
from dmmlive.neurons.midi import note_freq
from dmmlive.patch.errors import PatchError
from dmmlive.patch.parse import parse

RATE, B = 48000, 128


def host_of(text: str) -> Host:
    s = session_from_text(text, "midi.dmm")
    return Host(s.machine, s)


def out(h, ref):
    name, port = ref.split(".")
    return float(h.machine.output(name, port))


def test_midinote_last_note_priority_velocity_and_bend():
    h = host_of("n = midinote(channel=3)\nn2 = midinote(channel=4, bend=12)\nout = 0.1*sine(freq=n.freq + n2.freq)\n")
    h.tick(2)
    assert (out(h, "n.gate"), out(h, "n.freq")) == (0.0, 440.0)  # nothing played yet: A4, silent
    h.midi([0x92, 60, 127])            # channel 3 is status nibble 2
    h.tick(1)
    assert out(h, "n.note") == 60 and out(h, "n.gate") == 1 and out(h, "n.velocity") == 1.0
    assert out(h, "n.freq") == pytest.approx(261.6256, abs=1e-3)
    assert out(h, "n2.gate") == 0       # another channel
    h.midi([0x92, 64, 64])
    h.midi([0x92, 67, 32])
    h.tick(1)
    assert out(h, "n.note") == 67 and out(h, "n.velocity") == pytest.approx(32 / 127)
    h.midi([0x82, 64, 0])               # a note not sounding released: nothing changes
    h.tick(1)
    assert out(h, "n.note") == 67 and out(h, "n.gate") == 1
    h.midi([0x82, 67, 0])               # the sounding one: back to the last still held (60)
    h.tick(1)
    assert out(h, "n.note") == 60 and out(h, "n.gate") == 1 and out(h, "n.velocity") == 1.0
    h.midi([0xE2, 0x7F, 0x7F])          # pitch bend full up: +2 semitones
    h.tick(1)
    assert out(h, "n.freq") == pytest.approx(note_freq(62), abs=1e-6)
    h.midi([0xE2, 0x00, 0x40])          # at rest
    h.midi([0x92, 60, 0])               # note-on at velocity 0: off; nothing held
    h.tick(1)
    assert out(h, "n.gate") == 0 and out(h, "n.note") == 60  # the release keeps its pitch
    assert out(h, "n.freq") == pytest.approx(note_freq(60))
    h.midi([0xE3, 0, 0])                # channel 4, full down, 12 semitones a full bend
    h.midi([0x93, 69, 100])
    h.tick(1)
    assert out(h, "n2.freq") == pytest.approx(220.0)


def test_a_midinote_declared_later_starts_with_the_notes_held():
    h = host_of("out = 0.1*sine(freq=220)\n")
    h.midi([0x90, 72, 100])
    h.midi([0xB0, 74, 127])
    h.tick(1)
    h.session.apply("n = midinote(channel=1)\nc = midicc(74, default=0)\nout = 0.1*sine(freq=n.freq + c)\n", "midi.dmm")
    h.tick(4)
    assert out(h, "n.note") == 72 and out(h, "n.gate") == 1
    assert out(h, "c.out") == pytest.approx(1.0)


def test_midicc_maps_0_127_to_0_1_on_its_controller_and_channel_with_a_lag():
    h = host_of("a = midicc(74, channel=2, default=0.25, lag=0)\nb = midicc(74, lag=0.05)\n"
                "out = 0.1*sine(freq=100 + 100*a + 100*b)\n")
    h.tick(1)
    assert out(h, "a.out") == 0.25 and out(h, "b.out") == 0.5
    h.midi([0xB1, 74, 127])             # channel 2: a, at once (lag 0)
    h.midi([0xB1, 75, 0])               # another controller
    h.tick(1)
    assert out(h, "a.out") == 1.0 and out(h, "b.out") == 0.5
    h.midi([0xB0, 74, 0])               # channel 1: b, gliding over 50 ms
    h.tick(1)
    k = 1.0 - np.exp(-B / (RATE * 0.05))
    assert out(h, "b.out") == pytest.approx(0.5 - 0.5 * k)
    h.tick(400)
    assert out(h, "b.out") == pytest.approx(0.0, abs=1e-6) and out(h, "a.out") == 1.0


def test_midibend_is_minus_one_to_one():
    h = host_of("b = midibend(channel=1)\nout = 0.1*sine(freq=440 + 10*b)\n")
    for data, want in (([0xE0, 0, 0x40], 0.0), ([0xE0, 0x7F, 0x7F], 1.0), ([0xE0, 0, 0], -1.0)):
        h.midi(data)
        h.tick(1)
        assert out(h, "b.out") == want


@pytest.mark.parametrize("text, message", [
    ("a = midicc(128)\n", "midicc controller number must be a whole number from 0 to 127, got 128"),
    ("a = midicc(-3)\n", "midicc controller number must be a whole number from 0 to 127, got -3"),
    ("a = midicc(7.5)\n", "midicc must be a whole number, got 7.5"),
    ("a = midicc()\n", "midicc needs its controller number, 0 to 127: midicc(74)"),
    ("a = midicc(7, channel=0)\n", "midicc channel must be a whole number from 1 to 16, got 0"),
    ("a = midinote(channel=17)\n", "midinote channel must be a whole number from 1 to 16, got 17"),
    ("a = midibend(channel=99)\n", "midibend channel must be a whole number from 1 to 16, got 99"),
    ("a = midiout(note=60, channel=0)\n", "midiout channel must be a whole number from 1 to 16, got 0"),
    ("a = midiout(gate=1, control=200)\n", "midiout control"),
    ("a = midicc(7, lag=-1)\n", "midicc lag must be a number of seconds >= 0, got -1"),
])
def test_bad_midi_arguments_name_the_file_line_and_column(text, message):
    with pytest.raises(PatchError) as e:
        parse("out = 0.1*sine(freq=220)\n" + text, "keys.dmm")
    said = str(e.value)
    assert message in said and re.match(r"keys\.dmm:2:\d+: ", said), said
    assert said.splitlines()[1].strip() == text.strip() and said.splitlines()[2].strip() == "^"


def test_non_channel_messages_change_nothing():
    h = host_of("c = midicc(7)\nout = 0.1*sine(freq=220 + c)\n")
    recs = []
    h.journal.subscribe(recs.append)
    for data in ([0xF8], [0xFA], [0xF0, 1, 0xF7], []):
        h.midi(data)
    h.tick(1)
    assert recs == [] and out(h, "c.out") == 0.5


MIDIOUT = """\
fade(0)
c = clock(bpm=120, div=4)
gate = seq(c, values=[1, 0])
notes = seq(c, values=[60, 62])
m = midiout(note=notes, gate=gate, velocity=0.5, channel=5, control=74, cc=0.25)
out = 0.1*gate
"""


def test_midiout_sends_notes_at_their_samples_and_the_cc_when_it_changes():
    h = host_of(MIDIOUT)
    m = h.machine
    got = []
    for _ in range(400):
        h.tick(1)
        st = m.state_of("m")
        got += [((m.t - 1) * B + i, d) for i, d in st["events"]]
    # the clock's pulses fall every 6000 samples from sample 0: on at 0, 12000..., off at 6000...
    ons = [(p, d) for p, d in got if d[0] == 0x94]
    offs = [(p, d) for p, d in got if d[0] == 0x84]
    assert [p for p, _ in ons] == [0, 12000, 24000, 36000, 48000]
    assert [d[1] for _, d in ons] == [60, 60, 60, 60, 60]  # (the notes step on the same pulses as the gate)
    assert all(d[2] == 64 for _, d in ons)
    assert [p for p, _ in offs] == [6000, 18000, 30000, 42000]
    assert [d for _, d in got if d[0] == 0xB4] == [(0xB4, 74, 32)]  # once: it never changes


def test_midiout_a_new_note_while_the_gate_is_up_ends_the_old_one_first():
    h = host_of("fade(0)\nc = clock(bpm=120, div=8)\nn = seq(c, values=[60, 67])\n"
                "m = midiout(note=n, gate=1, channel=1)\nout = 0.1*n\n")
    m, got = h.machine, []
    for _ in range(100):
        h.tick(1)
        got += [((m.t - 1) * B + i, d) for i, d in m.state_of("m")["events"]]
    assert got[:5] == [(0, (0x90, 60, 127)), (3000, (0x80, 60, 0)), (3000, (0x90, 67, 127)),
                       (6000, (0x80, 67, 0)), (6000, (0x90, 60, 127))]


def test_the_clock_out_is_24_pulses_a_beat_at_the_machine_tempo_with_the_notes_in_order():
    h = host_of("tempo(150)\n" + MIDIOUT)
    ring = EventRing(bytearray(8 * 4 * 4096), bytearray(16))
    h.midi_events = ring
    h.midi_link = MidiLink(inputs=(), output="x", graph=True)
    h.tick(1500)  # 4 s
    events = list(ring.take(10 ** 9))
    assert events[0] == (0, bytes([START]))
    pos = [p for p, d in events]
    assert pos == sorted(pos)
    clocks = np.array([p for p, d in events if d == bytes([CLOCK])])
    assert np.array_equal(clocks, np.ceil(np.arange(len(clocks)) * 800.0).astype(int))  # 150 bpm: 800
    assert len(clocks) == 1500 * B // 800
    h.machine.tempo = 120.0  # and at a new tempo from the next pulse on
    h.tick(375)
    more = np.array([p for p, d in ring.take(10 ** 9) if d == bytes([CLOCK])])
    assert np.all(np.diff(more) >= 999) and np.all(np.diff(more) <= 1001)
    notes = [(p, d) for p, d in events if d[0] == 0x94]
    assert [p for p, _ in notes][:3] == [0, 12000, 24000]


def test_midi_messages_are_logged_and_replay_sample_for_sample(tmp_path):
    text = ("fade(0)\ng = midicc(7, default=0, lag=0.01)\nn = midinote()\n"
            "v = saw(freq=n.freq)\nout = 0.3*mul(mul(v, g), n.gate)\n")
    s = session_from_text(text, str(tmp_path / "k.dmm"))
    h = Host(s.machine, s)
    path = tmp_path / "k.dmmlog"
    log = start_log(h, path, str(tmp_path / "k.dmm"), text, at_exit=False)
    m = h.machine
    blocks = []
    script = {10: [[0xB0, 7, 100]], 20: [[0x90, 57, 90]], 35: [[0xE0, 0, 0x60]], 50: [[0x90, 64, 100]],
              70: [[0x80, 64, 0]], 90: [[0x80, 57, 0], [0xB0, 7, 20]]}
    for t in range(120):
        for data in script.get(t, ()):
            h.midi(data)
        if t == 60:
            h.midi_tempo(133.5)
        h.tick(1)
        blocks.append(m.sound().copy())
    log.close(m.t)
    played = np.concatenate(blocks)
    lines = [json.loads(x) for x in open(path, encoding="utf-8")][1:]
    midi = [e for e in lines if e["kind"] == "midi"]
    assert [e["tick"] for e in midi] == [10, 20, 35, 50, 60, 70, 90, 90]
    assert midi[4] == {"tick": 60, "kind": "midi", "tempo": 133.5}
    assert midi[0]["bytes"] == [0xB0, 7, 100]
    r = machine_from_log(path)
    again = []
    for _ in range(120):
        r.tick()
        again.append(r.sound().copy())
    np.testing.assert_array_equal(np.concatenate(again), played)
    assert r.tempo == 133.5 and np.abs(played).max() > 0.1
    assert "7 MIDI messages" in check_log(path) or "8 MIDI messages" in check_log(path)


def test_a_bad_midi_log_line_is_named(tmp_path):
    s = session_from_text("out = 0.1*sine(freq=220)\n", "p.dmm")
    h = Host(s.machine, s)
    path = tmp_path / "bad.dmmlog"
    log = start_log(h, path, "p.dmm", "out = 0.1*sine(freq=220)\n", at_exit=False)
    log.event(3, "midi", bytes=[0xF8])
    log.close(10)
    with pytest.raises(BadArgument, match=r"line 2: a midi line needs 'bytes'"):
        check_log(path)


def test_midipoly_gives_each_note_a_voice_and_steals_the_oldest():
    h = host_of("p = midipoly(voices=2, channel=1)\nv1 = saw(freq=p.freq1)\nv2 = saw(freq=p.freq2)\n"
                "out = 0.1*mul(v1, p.gate1) + 0.1*mul(v2, p.gate2)\n")

    def voices():
        return [(out(h, f"p.note{k}"), out(h, f"p.gate{k}")) for k in (1, 2)]

    h.tick(1)
    assert voices() == [(69, 0), (69, 0)]
    steps = [([0x90, 60, 100], [(60, 1), (69, 0)]),
             ([0x90, 64, 50], [(60, 1), (64, 1)]),
             ([0x90, 67, 100], [(67, 1), (64, 1)]),   # no voice free: the oldest (60) is taken
             ([0x80, 64, 0], [(67, 1), (64, 0)]),     # released, its pitch kept
             ([0x90, 72, 127], [(67, 1), (72, 1)]),   # the released voice
             ([0x90, 67, 0], [(67, 0), (72, 1)])]     # velocity 0: off
    for data, want in steps:
        h.midi(data)
        h.tick(1)
        assert voices() == want, data
    assert out(h, "p.freq2") == pytest.approx(note_freq(72)) and out(h, "p.velocity2") == 1.0
    assert out(h, "p.gate3") == 0 and out(h, "p.freq8") == 440.0  # beyond `voices`: silent
    with pytest.raises(PatchError, match=r"midipoly voices must be a whole number from 1 to 8, got 9"):
        parse("p = midipoly(voices=9)\nout = 0.1*sine(freq=p.freq1)\n", "poly.dmm")


def test_the_clock_out_pulses_on_the_samples_a_clock_of_24_a_beat_pulses_on_through_tempo_changes():
    h = host_of("fade(0)\ntempo(133)\nc = clock(div=24)\nout = 0.5*c\n")
    ring = EventRing(bytearray(8 * 4 * 8192), bytearray(16))
    h.midi_events = ring
    h.midi_link = MidiLink(inputs=(), output="x", graph=True)
    m, pulses = h.machine, []
    for t in range(1200):
        if t == 400:
            m.tempo = 97.5
        if t == 800:
            h.midi_tempo(171.25)
        h.tick(1)
        pulses += ((m.t - 1) * B + np.flatnonzero(m.output("c") > 0.5)).tolist()
    clocks = [p for p, d in ring.take(10 ** 9) if d == bytes([CLOCK])]
    assert len(clocks) > 150 and clocks == pulses


def test_a_hush_sends_all_notes_off_once_and_no_note_until_it_ends_and_the_clock_runs_on():
    h = host_of(MIDIOUT)  # (its note-ons every 12000 samples, on channel 5)
    ring = EventRing(bytearray(8 * 4 * 8192), bytearray(16))
    h.midi_events = ring
    h.midi_link = MidiLink(inputs=(), output="x", graph=True)
    h.tick(100)
    before = list(ring.take(10 ** 9))
    assert [p for p, d in before if d[0] == 0x94] == [0, 12000]
    h.controller.execute("hush", [1])
    h.tick(400)  # to sample 64000: note-ons at 24000, 36000, 48000 and 60000 were due
    hushed = list(ring.take(10 ** 9))
    assert [(p, d) for p, d in hushed if d[0] != CLOCK] == [(100 * B, bytes([0xB4, 123, 0]))]
    clocks = [p for p, d in hushed if d == bytes([CLOCK])]  # the clock out runs on: 24 a beat at 120
    assert len(clocks) == 400 * B // 1000 and clocks[0] == 13000
    h.controller.execute("hush", [0])
    h.tick(200)  # to sample 89600
    after = list(ring.take(10 ** 9))
    assert [p for p, d in after if d[0] == 0x94 and d[2] > 0] == [72000, 84000]
    assert not [d for _, d in after if d[0] == 0xB4 and d[1] == 123]


def test_a_clock_in_puts_beat_0_on_the_pulse_after_start_and_a_song_position_pointer_moves_it():
    """ClockIn against a simulated card whose ring position p is heard at T0 + p/RATE s (monotonic)
    and a port whose clock reads T0 s less: a pulse at port time τ is heard at sample τ·RATE. A
    clock at 100 bpm (a pulse every 1200 samples), Start at 0.01 s: beat 0 on the first pulse
    (0.02 s: sample 960), every 24th pulse a beat, heard on its sample by a clock(); then Stop,
    Song Position Pointer 32 (beat 8), Continue: the next pulse is beat 8. While the clock runs
    it rules the tempo; silent, a /dmm/tempo stands."""
    from dmmlive.drivers.link import Lowest
    from dmmlive.drivers.midi import CONTINUE, SPP, STOP
    h = host_of("fade(0)\nc = clock()\nout = 0.5*c\n")
    h.midi_link = MidiLink(inputs=(), clock_in=True)
    import time
    t0 = time.monotonic() + 1000.0  # (the clock runs: its pulses are not older than a second)
    h.device_clock, h.device_delay = (lambda: (0, t0, 128)), (lambda: 0.0)
    arrival = Lowest()
    arrival.add(0.0, t0, 2.0)
    clock, m = h.midi_link.clock, h.machine
    msgs = [(0.01, [START])] + [(0.02 + k * 0.025, [CLOCK]) for k in range(200)]  # pulses 0..199: 0.02 .. 4.995 s
    msgs += [(5.0, [STOP]), (5.005, [SPP, 32, 0]), (5.01, [CONTINUE])]
    msgs += [(5.02 + k * 0.025, [CLOCK]) for k in range(120)]
    msgs.sort(key=lambda x: x[0])
    clicks, i, fixes = [], 0, {}
    while m.t * B < 8.0 * RATE:
        fixes.setdefault(int(m.t * B / RATE), clock.corrections)  # (at each second)
        while i < len(msgs) and msgs[i][0] * RATE < m.t * B:  # each told once its sample is played
            clock.take(msgs[i][1], msgs[i][0], arrival)
            i += 1
        h.write_pos = m.t * B
        clock.steer(h)
        h.tick(1)
        clicks += ((m.t - 1) * B + np.flatnonzero(m.output("c") > 0.5)).tolist()
    assert m.tempo == 100.0
    beats = [round((0.02 + 24 * k * 0.025) * RATE) for k in range(1, 9)]      # beats 1 .. 8 of the first run
    again = [round((5.02 + 24 * k * 0.025) * RATE) for k in range(0, 5)]      # beats 8 .. 12 after the pointer
    first = np.array([c for c in clicks if 960 < c < 5.0 * RATE])
    assert len(first) == 8 and np.abs(first - beats).max() <= 1   # (beat 0 is told once it is played)
    later = np.array([c for c in clicks if c > 5.02 * RATE])
    assert len(later) == 4 and np.abs(later - again[1:]).max() <= 1  # beat 8 is told once played
    # the Start's, and while the tempo is not fitted yet (the grid at 120 bpm: 5 ms off a pulse),
    # then none until the Continue's: nothing drifts
    assert 1 < fixes[1] == fixes[5] and clock.corrections == fixes[5] + 1
    s = m.t * B  # beat 8 at 5.02 s, a beat every 0.6 s
    assert m.grid.beat(s) == pytest.approx(8.0 + (s / RATE - 5.02) / 0.6, abs=1e-6)
    # while the clock runs it rules the tempo; once silent for a second, /dmm/tempo stands
    h.controller.execute("tempo", [140])
    clock.steer(h)
    assert m.tempo == 100.0
    clock.arrival = Lowest()
    clock.arrival.add(0.0, time.monotonic() - 100.0, 2.0)  # (its last pulse: 92 s ago)
    h.controller.execute("tempo", [140])
    clock.steer(h)
    assert m.tempo == 140.0
