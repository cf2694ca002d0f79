"""Snapshots of a playing set: `/dmm/snapshot [path]` writes one (the engine's machine and
the patch its session applied last), `play --from SNAP` resumes from one (after a crash,
where the set was). The machine's part is core/snapshot.py."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from .core.errors import BadArgument

SUFFIX = ".dmmsnap"


def snapshot_path(path: str | None, root: str, stem: str, tick: int, anywhere: bool = False) -> str:
    """Where `/dmm/snapshot [PATH]` writes: PATH (relative to the patch's folder, a .dmmsnap
    in that folder or under it unless --allow-load-anywhere), or STEM-TICK.dmmsnap beside
    the patch."""
    if path is None:
        path = f"{stem}-{tick}{SUFFIX}"
    if not str(path).lower().endswith(SUFFIX):
        raise BadArgument(f"{path}: a snapshot is a {SUFFIX} file")
    p = Path(root, path).resolve()
    if not anywhere and not p.is_relative_to(Path(root).resolve()):
        raise BadArgument(f"{path}: outside the patch's folder ({Path(root).resolve()}); "
                          "use --allow-load-anywhere to write elsewhere")
    if not p.parent.is_dir():
        raise BadArgument(f"{path}: no folder {p.parent}")
    return str(p)


def session_snapshot(session) -> bytes:
    """The bytes of a snapshot of a PatchSession's machine, with the patch it applied last
    (the next save is diffed against it when resumed)."""
    return session.machine.snapshot(extra={"patch": session.patch, "quant": session.quant})


def write(data: bytes, path: str, on_error=None) -> threading.Thread:
    """Write `data` to `path` on a thread of its own (the engine does not wait for the
    disk), whole or not at all (a .part file renamed when complete)."""
    def run():
        part = path + ".part"
        try:
            with open(part, "wb") as f:
                f.write(data)
            os.replace(part, path)
        except OSError as e:
            if on_error is not None:
                on_error(f"snapshot {path}: cannot write ({e.strerror or e})")
    t = threading.Thread(target=run, name="dmmlive-snapshot", daemon=False)
    t.start()
    return t


def read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BadArgument(f"cannot read snapshot {path}: {e.strerror or e}") from None


def resume(session, path: str, rate: int | None = None, block: int | None = None, quant: float | None = None):
    """Put the machine of snapshot `path` in the session (and the patch it had applied, and
    its quant unless `quant` is given), in place of the one it holds; returns the machine.
    `rate`, `block`: what play was given (None: not given, the snapshot's are taken); a
    snapshot taken at another is refused, the message naming its own. Its neuron types
    are found in the session's machine's table."""
    from .core.snapshot import restore_with
    try:
        m, extra = restore_with(read(path), types=session.machine.types)
    except (ValueError, EOFError) as e:
        raise BadArgument(f"{path}: not a dmmlive snapshot ({e})") from None
    except KeyError as e:
        raise BadArgument(f"{path}: the snapshot uses neuron type {e.args[0]!r}, unknown here "
                          "(its shader folder: --shaders)") from None
    if rate is not None and rate != m.rate or block is not None and block != m.block:
        raise BadArgument(f"{path}: the snapshot was taken at {m.rate} Hz, {m.block} samples a tick: "
                          f"play --rate {m.rate} --block {m.block} (or leave both out: the snapshot's are taken)")
    session.machine = m
    if isinstance(extra, dict):
        session.patch = extra.get("patch")
        if quant is None:
            session.quant = float(extra.get("quant") or 0.0)
    return m
