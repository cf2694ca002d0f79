"""Ableton Link for `dmmlive play --link` (LinkPython-extern: `import link`).

Everything here runs in the engine process, beside the machine (`Host.link`). Before
each tick the host calls `LinkSync.before_tick`, which

- works out when that tick's first sample will be *heard*, on Link's clock: the sound
  card's last period (the ring position and the monotonic time it began, drivers/audio.py)
  and its output delay (PortAudio's outputBufferDacTime - currentTime: the time from the
  period's start to its first sample leaving the converter) say when every ring position
  is heard; the tick's first sample is the ring's write position. The estimate
  `heard(0)` (when ring position 0 would have been heard) is the lowest of the periods of
  the last WINDOW seconds: a callback woken late only makes it later, so the lowest is the
  truest, and the jitter of waking does not move the beat. A real shift (periods the
  sound server skipped, a card drifting from the system clock) makes every period later:
  when all those of the last RECENT seconds (4 periods at least) are SHIFT or more later
  than the lowest, the older ones are dropped. Before the card's first period: now + the
  sound computed ahead.
- takes the session's tempo: when it differs from what Link last gave, the machine's
  tempo is set to it (from this tick on, the beat continuous: core/grid.py);
- takes the session's phase: the session's beat at that heard time, with quantum =
  the grid's meter, against the grid's beat at the tick's first sample, modulo the
  quantum; off by more than TOLERANCE seconds' worth of beats (1 ms: smaller drifts are
  the estimate's noise and are left alone), the grid is set to the session's phase at
  that sample (`Grid.set_beat`), keeping its bar count;
- gives dmmlive's own tempo changes to the session: when the machine's tempo differs
  from what Link last gave (a patch's `tempo()` changed, `/dmm/tempo`),
  the session's tempo is set to it at that same heard time (`setTempo`, commit).

Both what is taken (tempo, beat) are applied through `apply` and journaled by the host
as a `link` record with the tick (`{"tick": t, "kind": "link", "tempo": bpm, "beat": b}`,
either field alone); the replay (dmmlive/log.py) calls the same `apply` before the same
tick, so a `--log` of a Link set renders sample for sample without Link.

Link's calls are cheap (the audio-thread session state: no lock, no allocation) and
never stop the sound: an exception is reported once and that tick goes on unsynced.
"""
from __future__ import annotations

import time
from collections import deque

__all__ = ["LinkSync", "HeardClock", "Lowest", "apply", "snap_tempo", "phase_error", "TOLERANCE", "link_status"]

TOLERANCE = 0.001   # s: a phase error under this many seconds' worth of beats is left alone
WINDOW = 0.5        # s of periods whose heard-time estimates the lowest is taken of
RECENT = 0.1        # s (4 periods at least) all later by SHIFT: the sound is heard later now
SHIFT = 0.0005      # s
SNAP = 0.002        # bpm: a session tempo this close to a multiple of 1/64 bpm is taken as that


def snap_tempo(bpm: float) -> float:
    """Link carries a tempo as whole microseconds a beat (140 bpm arrives as 140.0000327):
    one within SNAP of a multiple of 1/64 bpm is taken as that multiple (the grid's phase
    is exact for tempos of few binary digits), any other as it is."""
    n = round(bpm * 64.0) / 64.0
    return n if abs(n - bpm) <= SNAP else float(bpm)


def phase_error(session_beat: float, grid_beat: float, quantum: float) -> float:
    """How many beats the grid must move to agree with the session modulo `quantum`, in
    [-quantum/2, quantum/2)."""
    q = float(quantum)
    return (session_beat - grid_beat + 0.5 * q) % q - 0.5 * q


def apply(m, tempo: float | None = None, beat: float | None = None) -> None:
    """What Link steers, applied before the next tick (live and in a replay alike): the
    tempo from the next tick's first sample on, then that sample set on beat `beat`."""
    if tempo is not None:
        m.tempo = float(tempo)
    if beat is not None:
        m.grid.set_beat(float(beat), at=m.t * m.block)


class Lowest:
    """The lowest of the estimates of one fixed time that noise only makes later (a callback
    woken late, a message polled late), over the last `window` (in the keys' units: when each
    estimate was made). With `recent`: when every estimate of the last `recent` is `shift` or
    more above the lowest, the time itself moved (periods the sound server skipped, a card
    drifting from the system clock): the older estimates are dropped."""

    def __init__(self, shift: float = SHIFT):
        self.shift = shift
        self.low: deque = deque()         # (key, estimate) of the last `window`, the estimates rising
        self.low_recent: deque = deque()  # ... of the last `recent`

    @property
    def best(self) -> float:
        """The lowest estimate taken (the truest)."""
        return self.low[0][1]

    def add(self, key: float, est: float, window: float, recent: float | None = None) -> float:
        """Take the estimate `est` made at `key` (one a key, the keys rising); the lowest now."""
        low, low_recent = self.low, self.low_recent  # sliding minima
        if not low or low[-1][0] < key:
            for q, span in ((low, window), (low_recent, recent)):
                if span is None:
                    continue
                while q and q[-1][1] >= est:
                    q.pop()
                q.append((key, est))
                while q[0][0] < key - span:
                    q.popleft()
        best = low[0][1]
        if recent is not None and low_recent[0][1] - best >= self.shift:  # every recent one later: a shift
            self.low = deque(low_recent)
            best = low_recent[0][1]
        return best


class HeardClock:
    """When the next tick's first sample is heard, from the sound card's periods (the
    module's doc): for Link's phase here, and for a MIDI clock's (drivers/midi.py)."""

    def __init__(self):
        self.low = Lowest()  # heard(0): when ring position 0 would have been heard

    def heard_at(self, host) -> float:
        """The monotonic time the next tick's first sample is heard."""
        now = time.monotonic()
        clock = getattr(host, "device_clock", None)
        pos = getattr(host, "write_pos", None)
        anchor = clock() if clock is not None and pos is not None else None
        if anchor is None:
            return now + host.heard_in
        rate = host.machine.rate
        cpos, ctime, frames = anchor
        delay_of = getattr(host, "device_delay", None)
        delay = delay_of() if delay_of is not None else 0.0
        best = self.low.add(cpos, ctime - cpos / rate + delay, WINDOW * rate, max(RECENT * rate, 4 * frames))
        return best + pos / rate


class LinkSync:
    """dmmlive in the local Link session: follows its tempo and phase, gives it its own tempo.

    `bpm`: the tempo to start a session with when there is none yet. `link_module`: the
    `link` module (tests pass a stand-in); by default LinkPython-extern's."""

    def __init__(self, bpm: float = 120.0, link_module=None):
        from ..core.errors import BadArgument
        if link_module is None:
            try:
                import link as link_module
            except ImportError as e:
                raise BadArgument("--link needs LinkPython-extern (pip install LinkPython-extern): "
                                  f"{e}") from None
        try:
            self.link = link_module.Link(float(bpm))
            self.link.enabled = True
        except Exception as e:  # noqa: BLE001  (said at start, before any sound)
            raise BadArgument(f"--link: cannot join the Link session: {type(e).__name__}: {e}") from None
        self.tempo = None          # the session tempo last taken or given (bpm), None before the first tick
        self.heard = HeardClock()  # when the next tick is heard
        self.taken = self.corrections = self.given = 0
        self.last_error = 0.0      # the last phase error measured (beats), for tests and the status
        self.failed = False

    # ---- each tick -------------------------------------------------------------------------------
    def before_tick(self, host) -> None:
        """Steer the machine's grid by the session (and the session by the machine's tempo)
        before the next tick; never raises."""
        try:
            self._sync(host)
        except Exception as e:  # noqa: BLE001  (Link must never stop the sound)
            if not self.failed:
                self.failed = True
                host.machine.report("link", f"Link: {type(e).__name__}: {e} (the set goes on; the grid "
                                            "may drift from the session)")

    def _sync(self, host) -> None:
        m = host.machine
        heard = self.heard_at(host)
        at = int(round(heard * 1e6 + self.clock_offset()))  # on Link's clock (µs)
        state = self.link.captureSessionState()
        mine, tempo, beat = m.tempo, None, None
        if self.tempo is not None and mine != self.tempo and mine > 0:
            state.setTempo(mine, at)               # dmmlive's own change: the session's too
            self.link.commitSessionState(state)
            self.tempo = mine
            self.given += 1
        else:
            session = snap_tempo(state.tempo())
            if session != self.tempo:
                self.tempo = session
                if session != mine:
                    tempo = session
        q = max(1, m.grid.meter)
        s = m.t * m.block
        grid_beat = m.grid.beat(s)
        err = phase_error(state.beatAtTime(at, q), grid_beat, q)
        self.last_error = err
        if abs(err) * 60.0 > TOLERANCE * (tempo or self.tempo or mine):
            beat = grid_beat + err
        if tempo is not None or beat is not None:
            host.link_steer(tempo, beat)
            self.taken += tempo is not None
            self.corrections += beat is not None

    def clock_offset(self) -> float:
        """Link's clock minus `time.monotonic()`, in µs: read between two monotonic reads, again
        (3 tries at most) when they are more than 50 µs apart (the thread was preempted)."""
        clock, best = self.link.clock(), None
        for _ in range(3):
            a = time.monotonic()
            c = clock.micros()
            b = time.monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, c - 0.5e6 * (a + b))
            if b - a <= 50e-6:
                break
        return best[1]

    def heard_at(self, host) -> float:
        """The monotonic time the next tick's first sample is heard (see the module's doc)."""
        return self.heard.heard_at(host)

    # ---- the App's questions, and the end ----------------------------------------------------
    def status(self) -> dict:
        return {"peers": int(self.link.numPeers()), "tempo": self.tempo, "taken": self.taken,
                "corrections": self.corrections, "given": self.given, "error": self.last_error}

    def close(self) -> None:
        try:
            self.link.enabled = False
        except Exception:  # noqa: BLE001
            pass


def link_status(host) -> str:
    """One line on the Link session, for the App's start message (run in the engine)."""
    sync = getattr(host, "link", None)
    if sync is None:
        return ""
    s = sync.status()
    peers = s["peers"]
    return (f"Link: in the local session, {peers} peer{'s' if peers != 1 else ''}, tempo "
            f"{host.machine.tempo:g}, quantum {host.machine.grid.meter}")
