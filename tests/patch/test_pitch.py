"""Pitch in the patch language: note names and MIDI numbers read as Hz when a patch is
parsed (so W holds plain numbers), and bad names reported at the string."""
import numpy as np
import pytest

import dmmlive  # noqa: F401  (fills the type table)
from dmmlive.patch import PatchError, parse
from dmmlive.patch.live import open_patch
from dmmlive.patch.pitch import NoteError, hz, midi_number, note_hz


def closed(n):
    """The closed form: MIDI number n in equal temperament, a4 (69) = 440 Hz."""
    return 440 * 2 ** ((n - 69) / 12)


@pytest.mark.parametrize("name,n", [
    ("a4", 69), ("c4", 60), ("C#4", 61), ("cs4", 61), ("Cs4", 61), ("db3", 49), ("eb3", 51),
    ("Eb3", 51), ("f#-1", 6), ("c-1", 0), ("b9", 131), ("bb3", 58), ("B3", 59), ("g9", 127),
    ("a2", 45), ("c3", 48), ("e4", 64), ("fb4", 64), ("e#4", 65), ("cb4", 59), ("b#3", 60),
])
def test_note_names_are_midi_numbers_and_hz(name, n):
    assert midi_number(name) == n
    assert note_hz(name) == closed(n)


def test_a4_is_440_and_octaves_double():
    assert note_hz("a4") == 440.0 and hz(69) == 440.0
    assert note_hz("a5") == 880.0 and note_hz("a3") == 220.0 and note_hz("a-1") == 440.0 / 32
    assert hz(69.5) == closed(69.5) and hz(60) == closed(60)


@pytest.mark.parametrize("bad", ["h4", "c", "x9", "", "a", "c#", "a4.5", "ab#4", "4a", "a 4", "c10", "c-2", "do4"])
def test_bad_note_names_are_refused(bad):
    with pytest.raises(NoteError):
        midi_number(bad)


def test_a_patch_reads_note_and_midi_as_hz():
    p = parse('a = sine(freq=note("a4"))\n'
              'b = sine(freq=midi(69))\n'
              'c = sine(freq=midi(60.5) + 2*a)\n'
              'd = sine(freq=note("C#4") * 2, amp=0.5)\n'
              'e = sine(freq=note("f#-1"))\n'
              'out = 0.1*a + 0.1*b + 0.1*c + 0.1*d + 0.1*e\n', "p.dmm")
    assert p.rows[("a", "freq")] == {("one", "out"): 440.0}
    assert p.rows[("b", "freq")] == {("one", "out"): 440.0}
    assert p.rows[("c", "freq")] == {("a", "out"): 2.0, ("one", "out"): closed(60.5)}
    assert p.rows[("d", "freq")] == {("one", "out"): closed(61) * 2}
    assert p.rows[("e", "freq")] == {("one", "out"): closed(6)}
    assert set(p.neurons) == {"a", "b", "c", "d", "e"}  # no neuron for a pitch function


def test_seq_values_take_note_names():
    p = parse('clk = clock(bpm=120)\n'
              'notes = seq(clk, values=["a2", "c3", "eb3", 110, midi(57), note("a4")])\n'
              'osc = saw(freq=notes)\nout = 0.1*osc\n', "p.dmm")
    assert p.neurons["notes"].args["values"] == [closed(45), closed(48), closed(51), 110, closed(57), 440.0]
    plain = parse('clk = clock(bpm=120)\nnotes = seq(clk, values=[110, 220.5])\nout = 0.1*saw(freq=notes)\n', "p.dmm")
    assert plain.neurons["notes"].args["values"] == [110, 220.5]  # numbers as before


def test_the_machine_plays_the_hz(tmp_path):
    f = tmp_path / "p.dmm"
    f.write_text('clk = clock(bpm=600)\n'
                 'notes = seq(clk, values=["a2", "c3"])\n'
                 'osc = sine(freq=note("a4"))\nout = 0.1*osc\n', encoding="utf-8")
    m = open_patch(f).machine
    m.tick(2)
    np.testing.assert_array_equal(m.input("osc", "freq"), np.float32(440.0))
    assert float(m.output("notes", "out")[0]) == np.float32(closed(45))


def test_a_save_with_note_names_is_parsed_incrementally_as_afresh():
    t1 = 'a = sine(freq=note("a4"))\nb = sine(freq=220)\nout = 0.1*a + 0.1*b\n'
    p = parse(t1, "p.dmm")
    t2 = t1.replace('"a4"', '"b4"').replace("220", "midi(60)") + "mix = 0.5*a + note('a3')\n"
    q, fresh = parse(t2, "p.dmm", previous=p), parse(t2, "p.dmm")
    assert q.rows == fresh.rows and q.neurons == fresh.neurons
    assert q.rows[("a", "freq")] == {("one", "out"): closed(71)}
    assert q.rows[("b", "freq")] == {("one", "out"): closed(60)}
    assert q.neurons["mix"].type == "sum" and q.rows[("mix", "in")][("one", "out")] == 220.0


HELP = "a letter a to g, then # or s (sharp) or b (flat) if any, then the octave: c4, C#4, eb3, f#-1"
CASES = [
    ('a = sine(freq=note("h4"))', 1, 20, f"'h4' is not a note name: {HELP}"),
    ('a = sine(freq=note("c"))', 1, 20,
     "note name 'c' has no octave: write c4 (the octave of middle C: c4 is MIDI 60, a4 is 440 Hz)"),
    ('clk = clock(bpm=120)\ns = seq(clk,\n        values=["a2", "x9"])', 3, 23, f"'x9' is not a note name: {HELP}"),
    ('clk = clock(bpm=120)\ns = seq(clk, values=["a2", "c12"])', 2, 28,
     "note name 'c12': the octave is from -1 to 9, got 12"),
    ('a = sine(freq=note(4))', 1, 20, 'note takes a note name (a string such as "a4"), not 4; midi(69) takes a MIDI number'),
    ('a = sine(freq=midi("a4"))', 1, 20, "midi takes a MIDI number, not the string 'a4': note('a4') takes a note name"),
    ('a = sine(freq=note("a4", "b4"))', 1, 26, 'note takes one argument, a note name (as in note("a4")), got 2'),
    ('a = sine(freq=midi())', 1, 15, "midi takes one argument, a MIDI number (as in midi(69)), got 0"),
    ('a = sine(freq=note(name="a4"))', 1, 20, 'note takes no keyword arguments: write note("a4")'),
    ('a = note("a4")', 1, 5,
     "note(...) is a number (Hz), not a neuron: use it where a number goes, as in sine(freq=note(...))"),
    ('a = sine(freq=midi(1e9))', 1, 20, "MIDI number 1000000000.0 has no finite frequency above 0 Hz"),
]


@pytest.mark.parametrize("text,line,col,message", CASES, ids=[c[3][:50] for c in CASES])
def test_a_bad_pitch_is_an_error_at_the_string(text, line, col, message):
    with pytest.raises(PatchError) as e:
        parse(text + "\n", "p.dmm")
    e = e.value
    assert (e.message, e.line, e.col) == (message, line, col)
    assert str(e).startswith(f"p.dmm:{line}:{col}: {message}")
    # the incremental parse reports it as the fresh one does
    with pytest.raises(PatchError) as e2:
        parse(text + "\n", "p.dmm", previous=parse("a = sine(freq=220)\nout = 0.1*a\n", "p.dmm"))
    assert (e2.value.message, e2.value.line, e2.value.col) == (message, line, col)
