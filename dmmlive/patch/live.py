"""A running patch: texts in, edits to a machine out; a bad text changes nothing."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..core.errors import BadArgument
from ..core.machine import Machine
from ..neurons.sinks import unhush
from .diff import Seen, diff
from .incremental import PatchChange
from .parse import Patch, parse


class _Running(Mapping):
    """{name: (type name, args)} over the machine's declarations, each pair made when asked."""
    __slots__ = ("_decls",)

    def __init__(self, decls: dict):
        self._decls = decls

    def __getitem__(self, name):
        d = self._decls[name]
        return (d.type.name, d.args)

    def get(self, name, default=None):
        d = self._decls.get(name)
        return default if d is None else (d.type.name, d.args)

    def __iter__(self):
        return iter(self._decls)

    def __len__(self):
        return len(self._decls)


def running_decls(m: Machine) -> Mapping:
    """{name: (type name, args)} of the machine, counting edits not yet absorbed (a view:
    a save asks it only about the patch's neurons)."""
    return _Running(m.pending_decls())


EMPTY_PATCH = Patch()  # `previous` for a first text: its statements are kept for the next


class PatchSession:
    """Applies patch texts to one machine: parse, diff against the running network,
    send one edit (with the patch's fade) through `edits` to `self`.

    `apply(text)` raises PatchError (file, line, column) or another DmmError and then
    leaves the machine exactly as it was; the old network goes on playing. A text applied
    is told to each `on_applied` listener: `fn(path, text, patch)` (the journal's source).
    """

    def __init__(self, machine: Machine, path: str | None = None, quant: float = 0.0):
        self.machine = machine
        self.path = path
        self.quant = float(quant)  # beats a save lands on when the patch sets no quant()
        self.patch = None
        self.applied = 0
        self._seen = None  # diff.Seen: the network as the last apply left it
        self.on_applied: list = []  # fn(path, text, patch) for each text applied

    def apply(self, text: str, path: str | None = None, now: bool = False, parsed=None):
        """Apply `text`; `parsed`: its Patch, when it was parsed already (the App parses a save
        in its own process, off the engine's, and sends both; parsed against the Patch this
        session applied last, its diff costs what changed), or the PatchChange of such a Patch
        (its changes against the Patch this session applied last; against another, `text` is
        parsed here). A text is parsed reusing the statements of the last one."""
        path = path or self.path or "<patch>"
        if isinstance(parsed, PatchChange):  # the changes against a base: ours, or parse here
            parsed = parsed.patch(self.patch)
        m = self.machine
        new = parsed if parsed is not None else parse(text, path, previous=self.patch or EMPTY_PATCH,
                                                      types=m.types)
        # against W as it will be once every queued edit is in: two applies between the same
        # two ticks compose (the second does not count the first's change again)
        decls = m.pending_decls()
        delta, declare = diff(m.pending_matrix(), _Running(decls), self.patch, new, self._seen)
        s = new.settings
        self._seen = None
        if now:
            m.apply(delta, declare, defaults=False)
        else:  # neurons the last text declared and this one drops retire, even if never landed
            old = self.patch
            if old is None:
                dropped = ()
            elif new.base_serial == old.serial and new.dropped is not None:
                dropped = new.dropped
            else:
                dropped = [n for n in old.neurons if n not in new.neurons]
            m.edit(delta, declare, fade=s["fade"], replace=True, defaults=False, retire=dropped,
                   at=self.landing(new))
        old = self.patch
        if old is None or old.settings["tempo"] != s["tempo"]:  # a tempo set since (OSC, Link)
            m.tempo = s["tempo"]                                 # stays until the text changes it
        m.grid.meter = s["meter"]
        m.netfade = s["netfade"]
        m.max_neurons = s["max_neurons"]
        m.set_schedule(s["schedule"])
        if not now:  # a save brings a hushed set back (OSC /dmm/hush), over its fade
            unhush(m, s["fade"])
        self.patch = new
        self.applied += 1
        # what this save left running: the next one walks only what changes since (diff.Seen)
        self._seen = Seen(new.serial, m.pending_matrix(), m.pending_decls(), set(delta), set(declare))
        for fn in self.on_applied:
            fn(path, text, new)
        return new


    def quant_of(self, patch=None) -> float:
        """The beats an edit is quantised to: the patch's `quant(beats)`, else the session's
        (`play --quant`); 0: at once."""
        patch = self.patch if patch is None else patch
        q = patch.settings.get("quant") if patch is not None else None
        return self.quant if q is None else q

    def landing(self, patch=None) -> int | None:
        """The sample an edit made now lands on: the next multiple of `quant_of(patch)`
        beats on the machine's grid (`Machine.quant_at`), None (at once) without one."""
        q = self.quant_of(patch)
        return self.machine.quant_at(q) if q > 0 else None


def open_patch(path, rate: int = 48000, block: int = 128, size=None, fps=None, **machine_args) -> PatchSession:
    """The PatchSession of a patch file: a Machine built from it (`session.machine`), its
    network in place before the first tick, and the session that applies its next texts.
    `size` (w, h) and `fps` override the patch's settings; `types` (among `machine_args`):
    the machine's table of neuron types (default: the standard one)."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgument(f"cannot read patch {path}: {getattr(e, 'strerror', None) or e}") from None
    patch = parse(text, path, previous=EMPTY_PATCH, types=machine_args.get("types"))
    s = patch.settings
    m = Machine(schedule=s["schedule"], rate=rate, block=block, fps=s["fps"] if fps is None else fps, seed=s["seed"],
                size=tuple(size or s["size"]), **machine_args)
    session = PatchSession(m, path)
    session.apply(text, path, now=True, parsed=patch)
    return session


def load(path, rate: int = 48000, block: int = 128, size=None, fps=None, **machine_args) -> Machine:
    """A Machine built from a patch file, its network in place before the first tick
    (`open_patch(...).machine`; `open_patch` keeps the session that applies later texts)."""
    return open_patch(path, rate, block, size, fps, **machine_args).machine
