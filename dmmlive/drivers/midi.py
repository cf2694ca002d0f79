"""MIDI ports for `dmmlive play` (python-rtmidi; ALSA, JACK or the system's own MIDI).

Everything here runs in the engine process, beside the machine (`Host.midi_link`):

- in: every message from the ports opened (`--midi-in`) waits in the port's queue and is
  applied to the machine between two ticks, before the next one (`neurons.midi.apply`: `midicc`,
  `midinote`, `midibend`), journaled with that tick (`play --log`; a `midi` line), as a
  knob's value is; the replay applies it before the same tick. With `--midi-clock-in` the
  machine's beat grid follows the clock of the ports (`ClockIn`): its tempo, and after a
  Start, Continue or Song Position Pointer its beat phase too.
- out (`--midi-out`): what the `midiout` neurons send, and a MIDI clock (Start, then 24
  pulses a beat at the machine's tempo, on the beat grid's 24ths: in phase with its
  `clock` neurons), each message stamped with the sample it belongs
  to and sent when that sample is played: the sound card's last period (the ring
  position and the monotonic time it began, drivers/audio.py) says when each sample is
  played. A message sent is delivered at the start of the sound server's next period,
  so it is sent half a period ahead: it lands within half a period of its sample (JACK at
  128-frame periods: within 64 frames, plus how late the sending thread woke).
  `/dmm/hush` silences it too: All Notes Off (CC 123) once on the channels the midiout
  neurons play on as the hush begins, then no midiout message until it ends; the clock
  runs on (a band's drum machine following it must not stop).

Which MIDI system: ALSA where its sequencer exists (/dev/snd/seq), else JACK where a JACK
server runs (the JACK MIDI ports of that server), else the platform's own (CoreMIDI,
Windows MM); DMMLIVE_MIDI_API=jack in the environment takes JACK's where both are. A port is named by its full name or a unique part of it (case ignored).
"""
from __future__ import annotations

import heapq
import itertools
import os
import sys
import threading
import time
from collections import deque

import mido
import numpy as np

from ..core.errors import BadArgument
from ..core.grid import MAX_TEMPO
from ..neurons.sinks import hushed
from .link import TOLERANCE, HeardClock, Lowest

__all__ = ["MidiLink", "ClockIn", "GraphMidiOut", "EventRing", "choose_api", "jack_graph", "port_names", "pick",
           "midi_ports", "notes_off", "CLOCK", "START", "CONTINUE", "STOP", "SPP", "EVENTS"]

CLOCK, START, CONTINUE, STOP, SPP = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
PPQN = 24
CLOCK_WINDOW = 4 * PPQN + 1   # clock pulses the tempo is fitted over (4 beats)
CLOCK_FIRST = 7               # pulses before a first tempo is fitted (a 16th note's 6 spans)
ARRIVAL_WINDOW = 2.0          # s of reads the lowest (read time - message time) is taken over
READ_EVERY = 0.001            # s between two reads of the ports, with --midi-clock-in
CLOCK_GAP = 1.0               # s without a pulse: the clock stopped (the fit starts again)
CLOCK_STEP = 0.1              # bpm the fitted tempo moves by before the machine's is set
CLIENT = "dmmlive"            # the MIDI client's name (JACK: dmmlive:midi_in, dmmlive:midi_out)
QUEUE = 4096                  # MIDI messages a port keeps between two ticks at most
EVENTS = 8192                 # MIDI messages waiting for their frame at most (engine -> audio process)


class _Quiet:
    """Silences this process's stderr (fd 2) for a probe that prints (JACK's client library)."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def choose_api():
    """The rtmidi API to use: ALSA where its sequencer exists, JACK where a server runs,
    else the platform's default; None where there is no MIDI system at all. The
    environment's DMMLIVE_MIDI_API=jack (or alsa) asks for that one (JACK's MIDI on a
    machine that has ALSA's too)."""
    import rtmidi
    compiled = rtmidi.get_compiled_api()
    want = os.environ.get("DMMLIVE_MIDI_API", "").strip().lower()
    if sys.platform.startswith("linux"):
        if rtmidi.API_LINUX_ALSA in compiled and os.path.exists("/dev/snd/seq") and want != "jack":
            return rtmidi.API_LINUX_ALSA
        if rtmidi.API_UNIX_JACK in compiled and want != "alsa":
            try:
                with _Quiet():
                    probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, CLIENT + "-probe")
                probe.delete()
                return rtmidi.API_UNIX_JACK
            except Exception:  # noqa: BLE001  (no JACK server)
                return None
        return None
    return rtmidi.API_UNSPECIFIED


def api_name(api) -> str:
    import rtmidi
    return rtmidi.get_api_display_name(api).replace("Jack", "JACK") if api is not None else "none"


def port_names(api, output: bool) -> list[str]:
    """The MIDI destinations (`output`) or sources of the system `api`."""
    import rtmidi
    with _Quiet():
        rt = (rtmidi.MidiOut if output else rtmidi.MidiIn)(api, CLIENT + "-list")
    try:
        return list(rt.get_ports())
    finally:
        rt.delete()


def pick(name: str, names: list[str], what: str) -> int:
    """The index in `names` of the port called `name`: its full name, or a part of one name
    only (case ignored). BadArgument naming the port and listing them otherwise."""
    if name in names:
        return names.index(name)
    low = name.lower()
    found = [i for i, n in enumerate(names) if low in n.lower()]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    if found:
        raise BadArgument(f"MIDI {what} {name!r} is ambiguous: it is part of "
                          f"{', '.join(repr(names[i]) for i in found)}")
    raise BadArgument(f"no MIDI {what} {name!r}; the MIDI {what}s: {listed} (or 'virtual': a port "
                      f"of dmmlive's own that others connect to)")


class MidiLink:
    """The MIDI ports of a running set, in the engine process. `inputs`: port names to
    take messages from ("all": every source there is when it opens; "virtual": a port
    of dmmlive's own others connect to); `output`: a destination's name, "virtual" or
    None; `clock_in`: follow the tempo of the clock the inputs bring.
    `open()` opens them (BadArgument naming an unknown port); `Host.will_tick` calls
    `before_tick(host)` before each tick."""

    def __init__(self, inputs=("all",), output: str | None = None, clock_in: bool = False,
                 api="auto", graph: bool = False):
        self.specs = [str(s) for s in (inputs or ())]
        self.output_spec = None if graph else output
        self.graph = output if graph else None  # the output is the audio process's (GraphMidiOut)
        self.clock_in = bool(clock_in)
        self.api = api
        self.ins: list = []          # [rtmidi.MidiIn, the source's name, its clock (s, by the deltas),
                                     #  monotonic - its clock (link.Lowest)]
        self.out = None              # rtmidi.MidiOut
        self.out_name = None
        self.received = 0
        self.applied = 0
        self.malformed = 0
        self.clock = ClockIn() if self.clock_in else None  # --midi-clock-in
        self.sent = 0
        self._hushed = False         # /dmm/hush was on at the last tick (its All Notes Off sent)
        self._seen: dict = {}        # midiout neuron -> its state's 'fired' last read
        self._next_clock = None      # ring position (float) of the next clock pulse
        self._sender = None
        self._reader = None          # the thread reading the ports (--midi-clock-in), and its
        self._lock = threading.Lock()  # messages waiting for the engine
        self._waiting: list = []
        self._stopping = threading.Event()

    # ---- opening -------------------------------------------------------------------------------
    def open(self) -> "MidiLink":
        specs = [s for s in self.specs if s != "none"]
        if not specs and not self.output_spec:
            return self
        api = choose_api() if self.api == "auto" else self.api
        if api is None:
            if self.output_spec or any(s != "all" for s in specs):
                raise BadArgument("no MIDI system here: neither ALSA's sequencer (/dev/snd/seq) nor a "
                                  "running JACK server; play with --midi-in none")
            return self
        self.api = api
        import rtmidi
        if specs:
            names = port_names(api, output=False)
            chosen: list = []
            for s in specs:
                if s == "all":
                    chosen += [(i, n) for i, n in enumerate(names) if not n.startswith(CLIENT)]
                elif s == "virtual":
                    chosen.append((None, f"{CLIENT}:midi_in"))
                else:
                    i = pick(s, names, "source")
                    chosen.append((i, names[i]))
            seen = set()
            for i, n in chosen:
                if n in seen:
                    continue
                seen.add(n)
                mi = rtmidi.MidiIn(api, CLIENT, queue_size_limit=QUEUE)
                mi.ignore_types(sysex=True, timing=not self.clock_in, active_sense=True)
                try:
                    if i is None:
                        mi.open_virtual_port("midi_in")
                    else:
                        mi.open_port(i, "midi_in")
                except Exception as e:  # noqa: BLE001
                    mi.delete()
                    raise BadArgument(f"MIDI source {n!r} would not open: {e}") from None
                self.ins.append([mi, n, 0.0, Lowest()])
        if self.clock is not None and self.ins:
            self._reader = threading.Thread(target=self._read_often, name="dmmlive-midi-in", daemon=True)
            self._reader.start()
        if self.output_spec:
            mo = rtmidi.MidiOut(api, CLIENT)
            try:
                if self.output_spec == "virtual":
                    mo.open_virtual_port("midi_out")
                    self.out_name = f"{CLIENT}:midi_out"
                else:
                    names = port_names(api, output=True)
                    i = pick(self.output_spec, names, "destination")
                    mo.open_port(i, "midi_out")
                    self.out_name = names[i]
            except BadArgument:
                mo.delete()
                raise
            except Exception as e:  # noqa: BLE001
                mo.delete()
                raise BadArgument(f"MIDI destination {self.output_spec!r} would not open: {e}") from None
            self.out = mo
            self._sender = _Sender(mo)
            self._sender.start()
        return self

    def describe(self) -> str:
        """What is open: 'MIDI (JACK): in from 'a', 'b'; out to 'c' (clock)'."""
        if not self.ins and self.out is None and not self.graph:
            return ""
        parts = []
        if self.ins:
            parts.append("in from " + ", ".join(repr(n) for _, n, _, _ in self.ins)
                         + (" (following its clock)" if self.clock_in else ""))
        if self.out is not None:
            parts.append(f"out to {self.out_name!r} (notes, clock at the tempo)")
        if self.graph:
            parts.append(f"out to {self.graph!r} in the JACK graph, frame-exact (notes, clock at the tempo)")
        return f"MIDI ({api_name(self.api) if self.api != 'auto' else 'JACK'}): " + "; ".join(parts)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.stop()
            self._sender = None
        if self._reader is not None:
            self._stopping.set()
            self._reader.join(2.0)
            self._reader = None
        for mi, _, _, _ in self.ins:
            try:
                mi.close_port()
                mi.delete()
            except Exception:  # noqa: BLE001
                pass
        self.ins = []
        if self.out is not None:
            try:
                for data in all_notes_off():  # (no note left hanging on the synth)
                    self.out.send_message(list(data))
                self.out.close_port()
                self.out.delete()
            except Exception:  # noqa: BLE001
                pass
            self.out = None

    # ---- in -----------------------------------------------------------------------------------
    def _read(self) -> list:
        """The messages waiting in the ports' queues: [(time, bytes, port)], the time by the
        deltas rtmidi stamps them with (seconds, on that port's own clock). No Python runs in
        the MIDI system's thread (on JACK that is the real-time process thread, which must
        never wait for this process's GIL). Each read also keeps the port's clock against the
        monotonic one (`port[3]`): the lowest of (read time - the newest message's time) over
        the last ARRIVAL_WINDOW s; a message is only ever read after it came, so the lowest
        is the truest."""
        out = []
        for port in self.ins:
            mi, got = port[0], []
            while True:
                m = mi.get_message()
                if m is None:
                    break
                data, delta = m
                port[2] += delta
                got.append((port[2], data, port))
            if got:
                now = time.monotonic()  # (after the last message: never before one came)
                port[3].add(now, now - got[-1][0], ARRIVAL_WINDOW)
                out += got
        return out

    def _poll(self) -> list:
        """The messages received since the last poll (the engine's, before each tick)."""
        if self._reader is None:
            got = self._read()
        else:
            with self._lock:
                got, self._waiting = self._waiting, []
        self.received += len(got)
        return got

    def _read_often(self) -> None:
        """With --midi-clock-in, the ports are read every READ_EVERY s by a thread of their own:
        the engine polls at one phase of the sound card's period (it computes a block when
        the card's play position comes near), so the lowest (poll time - message time) would
        be late by that phase; a thread of its own reads at every phase."""
        while not self._stopping.wait(READ_EVERY):
            got = self._read()
            if got:
                with self._lock:
                    self._waiting += got

    # ---- each tick ------------------------------------------------------------------------------
    def after_tick(self, host) -> None:
        """After each tick, before its sound goes to the card: send what the tick's midiout
        neurons and the clock have for its samples."""
        if self.out is not None or self.graph:
            m = host.machine
            pos = getattr(host, "write_pos", None)  # (the ring position of the tick's first sample)
            try:
                self._send_tick(host, (m.t - 1) * m.block if pos is None else pos)
            except Exception as e:  # noqa: BLE001  (the sound never stops for MIDI)
                m.report("midi-out", f"MIDI out failed: {type(e).__name__}: {e} (the sound goes on)")

    def before_tick(self, host) -> None:
        """Before each tick: apply the messages received since the last tick."""
        try:
            self._take(host)
        except Exception as e:  # noqa: BLE001  (the sound never stops for MIDI)
            host.machine.report("midi-in", f"MIDI in failed: {type(e).__name__}: {e} (the sound goes on)")

    def _take(self, host) -> None:
        clock = self.clock
        for t, data, port in self._poll():
            if not data:
                continue
            if data[0] >= 0xF0:  # (the clock's, or nothing of dmmlive's)
                if clock is not None:
                    clock.take(data, t, port[3])
                continue
            try:  # (a malformed message from a device: dropped, counted)
                mido.Message.from_bytes(data)
            except (ValueError, TypeError):
                self.malformed += 1
                continue
            host.midi(data)
            self.applied += 1
        if clock is not None:
            clock.steer(host)

    def _send_tick(self, host, pos: int) -> None:
        """What the tick whose first sample is at ring position `pos` sends."""
        m = host.machine
        events = []  # (the clock's first: at the same sample, a synth hears Start before a note)
        if self._next_clock is None:
            self._next_clock = float(pos)
            events.append((pos, (START,)))
        grid = getattr(m, "grid", None)
        if grid is not None:  # on the beat grid's own 24ths of a beat: in phase with its clocks
            s0 = (m.t - 1) * m.block   # the tick's first sample, on the machine's count
            events += [(pos + int(i), (CLOCK,)) for i in grid_pulses(grid, s0, m.block, PPQN)]
        else:
            step = 60.0 * m.rate / (max(m.tempo, 1e-3) * PPQN)  # samples a pulse
            end = pos + m.block
            while self._next_clock < end:
                events.append((int(np.ceil(self._next_clock)), (CLOCK,)))
                self._next_clock += step
        quiet = hushed(m)  # /dmm/hush: no note goes out; those sounding end as it begins
        outs = [(name, m.state_of(name)) for name, t in m.neurons.items() if t == "midiout"]
        if quiet and not self._hushed:
            events += [(pos, data) for data in notes_off(sorted({st["ch"] for _, st in outs}))]
        self._hushed = quiet
        for name, st in outs:
            fired = st.get("fired", 0)
            if fired != self._seen.get(name):
                self._seen[name] = fired
                if not quiet:
                    events += [(pos + i, data) for i, data in st.get("events", ())]
        if not events:
            return
        ring = getattr(host, "midi_events", None)
        if ring is not None:  # the audio process writes them in the JACK graph, frame-exact
            events.sort(key=lambda e: e[0])
            ring.put(events)
        elif self._sender is not None:
            self._sender.schedule(events, host, pos, m.rate)
        self.sent += len(events)


class ClockIn:
    """An external MIDI clock steering the machine's beat grid (`--midi-clock-in`).

    Tempo: 24 pulses a beat; the median length of a beat over the last 4 beats (over the
    pulses there are, from the 7th, while fewer than 4 beats came), set when it moves by
    0.1 bpm or more or when something else (a save's `tempo()`, `/dmm/tempo`) set another:
    one clock rules the tempo, while it runs (one silent for CLOCK_GAP s no longer does).

    Phase: Start makes the next pulse song position 0 (beat 0), Song Position Pointer
    (sixteenths) sets the position the next pulse plays, Continue resumes from it, Stop
    holds it (the grid runs on, at the clock's tempo, and its phase is left alone until a
    Start or Continue). While running, every pulse is a 24th of a beat. When the last pulse
    came, by a line through the pulses of the last 4 beats (`_last_pulse`; on the monotonic
    clock by the port's `Lowest`), is where its song position / 24 is heard, so the grid's
    beat at the next tick's first sample, heard at `HeardClock.heard_at` (the device's
    latency compensated, as for Link), should be that plus the time since. The grid is set to that
    beat (`link.apply`, `Grid.set_beat`) on the first pulse after a Start, Continue or
    Pointer, and whenever it is more than link.TOLERANCE seconds' worth of beats off.
    Without a Start or Continue since dmmlive began, a clock's phase is unknown: the tempo
    alone is followed. What is set goes through `host.clock_steer("midi", ...)`: journaled,
    replayed sample for sample."""

    def __init__(self):
        self.times: deque = deque(maxlen=CLOCK_WINDOW)  # the port times of the last pulses
        self.run: deque = deque(maxlen=CLOCK_WINDOW)    # (port time, song position) of the last pulses while running
        self.arrival = None          # the pulses' port: its clock against the monotonic one (link.Lowest)
        self.fitted = None           # the clock's tempo fitted (bpm), unrounded
        self.tempo = None            # the tempo last set from the clock
        self.pos = None              # the song position (pulses) the next pulse plays; None: unknown
        self.running = False
        self.jump = False            # the next pulse sets the grid's beat, however near it is
        self.due = False             # a pulse came while running: the phase is checked
        self.corrections = 0
        self.heard = HeardClock()

    def take(self, data, t: float, arrival) -> None:
        """A system message `data` that came at port time `t` on the port whose clock `arrival` keeps."""
        s = data[0]
        if s == CLOCK:
            self.arrival = arrival
            self._pulse(t)
            if self.running and self.pos is not None:
                self.run.append((t, self.pos))
                self.pos += 1
                self.due = True
        elif s in (START, CONTINUE):
            if s == START or self.pos is None:
                self.pos = 0
            self.running = self.jump = True
            self.run.clear()
        elif s == STOP:
            self.running = False
            self.run.clear()
        elif s == SPP and len(data) == 3:
            self.pos = ((data[2] << 7) | data[1]) * 6  # (sixteenths: 6 pulses each)
            self.jump = True
            self.run.clear()

    def _pulse(self, t: float) -> None:
        """A clock pulse came at `t`: the tempo of the last pulses (the median of the spans of
        24 pulses in them: a pulse late on its way moves it little)."""
        ts = self.times
        if ts and t - ts[-1] > CLOCK_GAP:  # the clock stopped: start again
            ts.clear()
        ts.append(t)
        if len(ts) < CLOCK_FIRST:
            return
        y = np.fromiter(ts, np.float64)
        if len(ts) > PPQN:
            beat = float(np.median(y[PPQN:] - y[:-PPQN]))  # s a beat: the median of every beat's span
        else:
            beat = (y[-1] - y[0]) * PPQN / (len(y) - 1)
        if beat > 0 and 1.0 <= 60.0 / beat <= MAX_TEMPO:
            self.fitted = 60.0 / beat

    def _last_pulse(self) -> float:
        """When the last pulse of the run came (port time), by a line through the run's pulses:
        its slope the median of the slopes between pulses half the run apart, its offset the
        mean of the middle half of the pulses against it (a pulse late on its way moves
        neither; JACK delivers a message at a period's start, and a mean of those is steadier
        than their median, which jumps by a period)."""
        t = np.fromiter((r[0] for r in self.run), np.float64)
        p = np.fromiter((r[1] for r in self.run), np.float64)
        h = len(t) // 2
        if h == 0:
            return float(t[-1])
        slope = float(np.median((t[h:] - t[:-h]) / (p[h:] - p[:-h])))  # s a pulse
        r = np.sort(t - slope * (p - p[-1]))
        q = len(r) // 4
        return float(r[q:len(r) - q].mean())  # (the middle half's mean: steady where arrivals are quantised)

    def steer(self, host) -> None:
        """Before the next tick: the clock's tempo and phase, where they differ from the grid's."""
        m = host.machine
        heard = self.heard.heard_at(host)  # (every tick: the estimate keeps its periods)
        tempo = beat = None
        if self.times and time.monotonic() - (self.times[-1] + self.arrival.best) > CLOCK_GAP:
            self.times.clear()  # the clock stopped: its tempo no longer rules (a save's, /dmm/tempo's stand)
            self.fitted = None
        bpm = self.fitted
        if bpm is not None and (self.tempo is None or abs(bpm - self.tempo) >= CLOCK_STEP or m.tempo != self.tempo):
            self.tempo = tempo = round(bpm, 2)
        if self.due and self.run:
            self.due = False
            now = tempo or m.tempo
            when = self._last_pulse() + self.arrival.best  # on the monotonic clock
            s = m.t * m.block
            want = self.run[-1][1] / PPQN + (heard - when) * now / 60.0
            if self.jump or abs(want - m.grid.beat(s)) * 60.0 > TOLERANCE * now:
                beat = want
                self.corrections += 1
            self.jump = False
        if tempo is not None or beat is not None:
            host.clock_steer("midi", tempo, beat)


class _Sender:
    """Sends messages stamped with ring positions when those samples are played."""

    def __init__(self, port):
        self.port = port
        self.heap: list = []
        self.seq = itertools.count()
        self.cv = threading.Condition()
        self.stopping = False
        self.log: deque = deque(maxlen=4096)  # (due, sent, bytes) of the last messages sent
        self.thread = threading.Thread(target=self._run, name="dmmlive-midi-out", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.cv:
            self.stopping = True
            self.cv.notify()
        self.thread.join(2.0)

    def schedule(self, events, host, pos: int, rate: int) -> None:
        """`events` [(ring position, bytes)]; `pos`: the ring position of the tick's first sample."""
        clock = getattr(host, "device_clock", None)
        anchor = clock() if clock is not None else None
        now = time.monotonic()
        if anchor is None:  # no device yet (or offline): the tick is heard `heard_in` from now
            base, t0, lead = pos, now + host.heard_in, 0.0
        else:
            base, t0, period = anchor
            lead = 0.5 * period / rate  # delivered at the next period's start: half a period ahead
        with self.cv:
            for p, data in events:
                heapq.heappush(self.heap, (t0 + (p - base) / rate - lead, next(self.seq), data))
            self.cv.notify()

    def _run(self) -> None:
        port = self.port
        while True:
            with self.cv:
                while not self.stopping and (not self.heap or self.heap[0][0] > time.monotonic()):
                    wait = None if not self.heap else self.heap[0][0] - time.monotonic()
                    self.cv.wait(wait)
                if self.stopping:
                    return
                due = []
                now = time.monotonic()
                while self.heap and self.heap[0][0] <= now:
                    due.append(heapq.heappop(self.heap))
            for t, _, data in due:
                try:
                    port.send_message(list(data))
                except Exception:  # noqa: BLE001  (a port gone: the sound goes on)
                    pass
                self.log.append((t, time.monotonic(), data))


def grid_pulses(grid, s0: int, n: int, per_beat: int) -> np.ndarray:
    """The offsets in samples s0 .. s0+n-1 where the beat grid (core/grid.py) starts a
    1/per_beat of a beat: where floor(beat · per_beat) steps up, as its clocks pulse."""
    from ..core.grid import P0, P0P, S0, S0P, TEMPO, TEMPOP, UNIT
    a = grid.arr
    s = np.arange(s0 - 1, s0 + n, dtype=np.float64)
    ph = np.where(s >= a[S0], a[P0] + (s - a[S0]) * a[TEMPO], a[P0P] + (s - a[S0P]) * a[TEMPOP])
    k = np.floor(ph * per_beat / a[UNIT])
    return np.flatnonzero(k[1:] > k[:-1])


def notes_off(channels) -> list:
    """All Notes Off (CC 123) on each of `channels` (1-16)."""
    return [(0xB0 + ch - 1, 123, 0) for ch in channels]


def all_notes_off() -> list:
    """What a stop sends: the clock's Stop, then All Notes Off (CC 123) on every channel."""
    return [(STOP,)] + notes_off(range(1, 17))


def jack_graph() -> bool:
    """Whether MIDI out can go in the JACK graph: MIDI here is JACK's (no ALSA sequencer) and
    JACK-Client is there."""
    try:
        import rtmidi
        import jack  # noqa: F401
    except (ImportError, OSError):
        return False
    return choose_api() == rtmidi.API_UNIX_JACK


class EventRing:
    """MIDI messages stamped with ring positions, from the engine process to the audio
    process, in shared memory: one writer, one reader, no lock (as the sound's ring).
    Each entry: position, length, the bytes packed little-endian, spare."""

    def __init__(self, data, pos):
        self.ev = np.frombuffer(data, np.int64).reshape(-1, 4)
        self.cap = len(self.ev)
        self.pos = np.frombuffer(pos, np.int64)  # [written, read]
        self.dropped = 0

    def put(self, events) -> None:
        """Append [(ring position, bytes)] (positions not decreasing)."""
        w = int(self.pos[0])
        for p, data in events:
            if w - int(self.pos[1]) >= self.cap:
                self.dropped += 1
                continue
            b = bytes(data)[:3]
            self.ev[w % self.cap] = (int(p), len(b), int.from_bytes(b, "little"), 0)
            w += 1
        self.pos[0] = w

    def take(self, end: int):
        """Remove and yield (position, bytes) of the messages before ring position `end`."""
        r, w = int(self.pos[1]), int(self.pos[0])
        while r < w:
            p, n, packed, _ = self.ev[r % self.cap]
            if p >= end:
                break
            r += 1
            self.pos[1] = r
            yield int(p), int(packed).to_bytes(8, "little")[:int(n)]


class GraphMidiOut:
    """MIDI out in the JACK graph, in the audio process: a JACK client (`dmmlive-midi`) whose
    MIDI port writes each message at the very frame its sample is played.

    Its audio input `sync` is fed by the sound's first output port, so JACK runs it after
    the sound's callback in each period: by then the callback has written which ring
    position this period plays (the status `cb_pos`, `cb_frames`, drivers/audio.py), and a
    message for ring position p goes out at offset p - cb_pos of this period. Made before
    the sound's stream opens (the stream's JACK client is the one that appears after);
    `attach()` once it plays."""

    def __init__(self, dest: str, events: EventRing, status, index: dict):
        import jack
        self.events, self.S, self.I = events, status, index
        self.client = jack.Client(CLIENT + "-midi", no_start_server=True)
        self.port = self.client.midi_outports.register("midi_out")
        self.sync = self.client.inports.register("sync")
        if dest == "virtual":
            self.dest = self.port.name
            self.target = None
        else:
            names = [p.name for p in self.client.get_ports(is_midi=True, is_input=True)
                     if not p.name.startswith(self.client.name + ":")]
            self.target = self.dest = names[pick(dest, names, "destination")]
        self.before = set(self._sound_ports())
        self.last_n = 0
        self.closing = None  # the messages to write in the next period before closing
        self.client.set_process_callback(self._process)

    def _sound_ports(self) -> list:
        return [p.name for p in self.client.get_ports(is_audio=True, is_output=True)
                if not p.name.startswith(("system:", self.client.name + ":"))]

    def attach(self) -> None:
        self.client.activate()
        new = [p for p in self._sound_ports() if p not in self.before]
        if new:
            self.client.connect(sorted(new)[0], self.sync)
        if self.target is not None:
            self.client.connect(self.port, self.target)

    def _process(self, frames) -> None:  # JACK's thread, after the sound's callback of this period
        port = self.port
        port.clear_buffer()
        if self.closing is not None:
            for i, data in enumerate(self.closing[:frames]):
                port.write_midi_event(i, bytes(data))
            self.closing = []
            return
        S, ix = self.S, self.I
        n = S[ix["callbacks"]]
        if n == self.last_n:  # the sound's callback did not run this period (JACK skipped it):
            return            # nothing of the ring is played, so no message is due
        self.last_n = n
        start = int(S[ix["cb_pos"]])
        last = 0
        for p, data in self.events.take(start + frames):
            off = min(frames - 1, max(last, p - start))  # (late ones at once, in order)
            try:
                port.write_midi_event(off, data)
            except Exception:  # noqa: BLE001  (the buffer full: dropped, the sound goes on)
                pass
            last = off

    def close(self) -> None:
        self.closing = all_notes_off()  # (written in the next period: no note left hanging)
        deadline = time.monotonic() + 0.1
        while self.closing and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def midi_ports(host) -> str:
    """What MIDI ports the host has open, for the App's start message (run in the engine)."""
    link = getattr(host, "midi_link", None)
    return link.describe() if link is not None else ""
