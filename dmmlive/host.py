"""The host: what the engine process runs around the machine, in one object.

`Host` owns the machine, the patch session that applies saves, the Controller that runs
OSC commands, the journal of the changes applied, the recording tap and the replies and
record requests waiting for the App. The engine ticks `host.machine`, tells the host
before each tick when that tick will be heard (`will_tick`), and runs the App's calls as
functions of the host (`AudioEngine.call(Host.apply_text, ...)`): nothing is hung on the
machine, and nobody wraps anybody's methods.

The journal: the patch session and the Controller say what they applied
(`PatchSession.on_applied`, `Controller.on_applied`); the host turns each into a record
stamped with its tick, the record `--log` writes (dmmlive/log.py), and publishes it to
every subscriber (the log writer). With no subscriber no record is made.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import commands
from .control import Controller
from .core.errors import BadArgument
from .patch.incremental import PatchChange

TAP_SECONDS = 30.0  # sound the recording tap keeps at most between two pulls (the rest is counted lost)


class Journal:
    """The changes applied to a machine, in order, each a record {"tick", "kind", ...}:
    `kind` "code" (a patch text: `path`, `text`, `shaders` {name: source} of the shader
    types it declares), "osc" (`op`, `args`), "knob" (`address`, `values`), "midi" (`bytes`,
    or `tempo` and/or `beat` from a MIDI clock) or "link" (`tempo` and/or `beat` from Ableton Link)."""

    def __init__(self):
        self.subscribers: list = []

    def subscribe(self, fn) -> None:
        """Call `fn(record)` for every record published from now on."""
        self.subscribers.append(fn)

    def publish(self, record: dict) -> None:
        for fn in self.subscribers:
            fn(record)


class Host:
    """The machine of a running set and what sits around it in the engine process.

    `session`: the PatchSession that applied the patch (`machine` was built by it).
    `load_root`, `allow_load_anywhere`: where `/dmm/load` and `/dmm/record` may reach.
    `ahead`: seconds until a tick is heard, until the engine says (`will_tick`).
    """

    def __init__(self, machine, session, *, load_root: str | None = None,
                 allow_load_anywhere: bool = False, ahead: float = 0.01):
        self.machine = machine
        self.session = session
        self.journal = Journal()
        self.root = load_root or (str(Path(session.path).resolve().parent) if session.path else ".")
        self.allow_load_anywhere = bool(allow_load_anywhere)
        self.controller = Controller(machine, session, load_root=self.root,
                                     allow_load_anywhere=allow_load_anywhere, on_record=self._on_record)
        self.replies: list = []           # replies of timed commands run since the last forward
        self.record_requests: list = []   # /dmm/record requests for the App: (cmd, path)
        self.heard_in = float(ahead)      # s from now until the next tick is heard
        self.log = None                   # the LogWriter, when logging (dmmlive.log.start_log)
        self.midi_link = None             # the MIDI ports (drivers.midi.MidiLink), when playing with them
        self.link = None                  # the Ableton Link session (drivers.link.LinkSync), with play --link
        self.write_pos = None             # the ring position of the next tick's first sample (the engine's)
        self._tap = None
        session.on_applied.append(self._code_applied)
        self.controller.on_applied.append(self._command_applied)
        self.controller.on_snapshot = self._on_snapshot

    # ---- the engine's side ---------------------------------------------------------------
    def will_tick(self, heard_in: float) -> None:
        """Before each tick: `heard_in` s until its sound is played (the timed commands'
        clock); commands due run now, the tap keeps the block the last tick played."""
        m, ctl = self.machine, self.controller
        self.heard_in = heard_in
        ctl.clock = (m.t + 1, time.time() + heard_in)
        self.replies.extend(ctl.run_due())
        tap = self._tap
        if tap is not None and m.t > tap["last"]:
            tap["last"] = m.t
            if len(tap["blocks"]) < tap["max"]:
                tap["blocks"].append(m.sound().copy())
            else:
                tap["lost"] += 1
        if self.midi_link is not None:
            self.midi_link.before_tick(self)
        if self.link is not None:  # after the commands due: a tempo they set reaches the session
            self.link.before_tick(self)
        if self.log is not None:
            self.log.poll()

    def ticked(self) -> None:
        """After each tick, before its sound is played: the MIDI it sends goes out."""
        if self.midi_link is not None:
            self.midi_link.after_tick(self)

    def tick(self, n: int = 1) -> None:
        """Tick the machine `n` times as the engine does, each heard `heard_in` s from now
        (offline use and tests)."""
        for _ in range(int(n)):
            self.will_tick(self.heard_in)
            self.machine.tick()
            self.ticked()

    # ---- the App's calls (run in the engine process between ticks) --------------------------
    def apply_text(self, text: str, path: str, parsed=None) -> str | None:
        """Apply a saved patch text (`parsed`: its Patch, if parsed already, or its
        PatchChange); returns a one-line summary (raises PatchError), or None for a
        PatchChange against a base the session does not hold (send the Patch then)."""
        if isinstance(parsed, PatchChange) and not parsed.fits(self.session.patch):
            return None
        patch = self.session.apply(text, path, parsed=parsed)
        return f"{Path(path).name}: applied ({len(patch.neurons)} neurons, fade {patch.settings['fade']:g} s)"

    def osc(self, cmds) -> list:
        """Run received OSC commands [(op, args, timetag, reply_addr)] (timed ones are kept
        for their tick); returns the replies to send, those of timed commands run since too."""
        out = []
        for op, args, timetag, reply_addr in cmds:
            out.extend(self.controller.submit(op, args, timetag, reply_addr))
        out.extend(self.replies)
        self.replies.clear()
        return out

    def forward_osc(self, cmds) -> tuple:
        """`osc`, and the `/dmm/record` requests since the last call: (replies, requests)."""
        replies = self.osc(cmds)
        reqs, self.record_requests = self.record_requests, []
        return replies, reqs

    def midi(self, data) -> None:
        """Apply a MIDI channel message (its bytes) now, between ticks (`neurons.midi.apply`),
        and journal it: a `midi` line with its `bytes`."""
        from .neurons.midi import apply
        if apply(self.machine, data) and self.journal.subscribers:
            self.journal.publish({"tick": self.machine.t, "kind": "midi", "bytes": [int(b) for b in data]})

    def midi_tempo(self, bpm: float) -> None:
        """Set the machine's tempo from an external MIDI clock, and journal it: a `midi` line
        with its `tempo`."""
        self.clock_steer("midi", bpm)

    def link_steer(self, tempo: float | None = None, beat: float | None = None) -> None:
        """Take the Link session's tempo and/or phase: `clock_steer("link", ...)`."""
        self.clock_steer("link", tempo, beat)

    def clock_steer(self, kind: str, tempo: float | None = None, beat: float | None = None) -> None:
        """Take an outside clock's tempo and/or phase before the next tick (`drivers.link.apply`)
        and journal it: a `kind` line ("link": Ableton Link, "midi": a MIDI clock in) with its
        `tempo` and/or `beat` (the grid's beat at the next tick's first sample)."""
        from .drivers.link import apply
        apply(self.machine, tempo, beat)
        if self.journal.subscribers:
            rec = {"tick": self.machine.t, "kind": kind}
            if tempo is not None:
                rec["tempo"] = float(tempo)
            if beat is not None:
                rec["beat"] = float(beat)
            self.journal.publish(rec)

    def knob_addresses(self) -> list:
        """The addresses the patch's knobs listen to (for the OSC listener)."""
        return sorted(a for a in self.controller.knob_addresses() if a)

    # ---- the recording tap: the blocks `out` played, kept for the App's pulls -------------------
    def tap_start(self) -> int:
        """Keep every block from the next tick on; returns the tick it starts after."""
        m = self.machine
        self._tap = {"blocks": [], "last": m.t, "max": int(TAP_SECONDS * m.rate / m.block), "lost": 0}
        return m.t

    def tap_drain(self, stop: bool = False):
        """The blocks kept since the last pull: ((n, 2) float32, blocks lost); `stop` ends the tap."""
        tap = self._tap
        if tap is None:
            return np.zeros((0, 2), np.float32), 0
        if stop:
            self._tap = None
        blocks, lost = tap["blocks"], tap["lost"]
        tap["blocks"], tap["lost"] = [], 0
        return (np.concatenate(blocks) if blocks else np.zeros((0, 2), np.float32)), lost

    def tap_stop(self):
        return self.tap_drain(stop=True)

    # ---- the journal --------------------------------------------------------------------------
    def _code_applied(self, path: str, text: str, patch) -> None:
        if not self.journal.subscribers:  # (a save's shader sources are looked up for a reader only)
            return
        self.journal.publish({"tick": self.machine.t, "kind": "code", "path": path, "text": text,
                              "shaders": shader_sources({d.type for d in patch.neurons.values()},
                                                        self.machine.types)})

    def _command_applied(self, op: str, args: list) -> None:
        cmd = commands.get(op)
        if not self.journal.subscribers or cmd is None or cmd.journal not in ("osc", "knob"):
            return  # (texts are journaled as the session applies them)
        if cmd.journal == "knob":
            self.journal.publish({"tick": self.machine.t, "kind": "knob", "address": args[0],
                                  "values": list(args[1:])})
            return
        rec = {"tick": self.machine.t, "kind": "osc", "op": op, "args": list(args)}
        if op in ("neuron", "replace") and len(args) > 1:  # (they declare a type)
            rec["shaders"] = shader_sources([args[1]], self.machine.types)
        self.journal.publish(rec)

    def _on_record(self, cmd, path) -> None:
        if path is not None:
            path = record_path(path, self.root, self.allow_load_anywhere)
        self.record_requests.append((cmd, path))


    def _on_snapshot(self, path) -> str:
        """/dmm/snapshot [path]: the machine's state taken now, written on a thread (dmmlive/snapshots.py)."""
        from . import snapshots
        stem = Path(self.session.path).stem if self.session.path else "set"
        path = snapshots.snapshot_path(path, self.root, stem, self.machine.t, self.allow_load_anywhere)
        snapshots.write(snapshots.session_snapshot(self.session), path,
                        on_error=lambda msg: self.machine.report(("snapshot", path), msg))
        return path


def shader_sources(type_names, types) -> dict:
    """{name: source} of the shader-file types among `type_names`, in the table `types`."""
    out = {}
    for name in type_names:
        t = types.get(name)
        d = getattr(getattr(t, "fn", None), "shader", None)
        if d is not None:
            out[name] = d.src.body
    return out


def record_path(path: str, root: str, anywhere: bool = False) -> str:
    """Where `/dmm/record start PATH` writes: PATH (relative to the patch's folder), an .mp4
    in that folder or under it unless --allow-load-anywhere, in a folder that exists."""
    if not str(path).lower().endswith(".mp4"):
        raise BadArgument(f"{path}: a recording is an .mp4 file")
    p = Path(root, path).resolve()
    if not anywhere and not p.is_relative_to(Path(root).resolve()):
        raise BadArgument(f"{path}: outside the patch's folder ({Path(root).resolve()}); "
                          "use --allow-load-anywhere to record elsewhere")
    if not p.parent.is_dir():
        raise BadArgument(f"{path}: no folder {p.parent}")
    return str(p)
