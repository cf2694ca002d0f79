"""The file watcher: calls back once per save of a patch or shader file, with its full new text.

Editors save in three ways, and each is seen through inotify (watchdog) on
the file's folder, filtered to the watched paths:

- in place (VS Code, nano): the file is truncated (`modified` while it is
  still empty), written in chunks (`modified`), then `closed`;
- atomically (JetBrains, Kate, `os.replace`): a temporary file is written
  and `moved` onto the target, whose `dest_path` is the watched path;
- vim (`backupcopy=no`, `writebackup`): the target is `moved` to `target~`,
  a new target is `created`, truncated, written, fsynced and `closed`, and
  `target~` is deleted.

A `modified`, `created` or moved-away event means the file is in flux; a
`closed` (after writing) or a move into place means a writer is done. Every
event restarts the path's timer (`debounce`); when it runs out and the last
event was a completion, the file is read and delivered if its hash differs
from the last version read. A file left in flux (a writer that never closes,
`os.truncate`) is read anyway once it has been quiet for `settle` seconds.
Opened, closed-without-writing and deleted events are not asked of inotify
(so our own reads make none), and attribute events are filtered out. A file that is absent for a
moment (vim's rename dance) is simply not read.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from watchdog.events import (FileClosedEvent, FileCreatedEvent, FileModifiedEvent,
                             FileMovedEvent, FileSystemEvent, FileSystemEventHandler)

try:  # Linux: inotify reports closes, and moves from outside as moves (full events)
    from watchdog.observers.inotify import InotifyObserver
except ImportError:  # pragma: no cover - other platforms
    InotifyObserver = None

_EVENTS = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileClosedEvent]


def print_error(path, exc: BaseException) -> None:
    """The default `on_error`: one line on stderr."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    print(f"dmmlive: {os.fspath(path)}: {type(exc).__name__}: {msg}", file=sys.stderr)


@dataclass
class _File:
    path: object                 # as the caller gave it; handed back to on_change
    digest: bytes | None         # hash of the last version read (None: absent)
    deadline: float | None = None
    last_event: float = 0.0
    in_flux: bool = False        # last event was not a close or a move into place
    seq: int = 0                 # events seen; a read is dropped if one came during it


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _key(path) -> str:
    """An absolute path whose folder is resolved, as watchdog will spell events in it."""
    p = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: PatchWatcher):
        self.watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        self.watcher.on_event(event)


class PatchWatcher:
    """Watch files and call `on_change(path, text)` once per save, from the watcher's thread.

    `path` is handed back as it was given; `text` is the whole new file, as
    `Path(path).read_text(encoding="utf-8")` gives it. `debounce` (seconds) is
    the quiet time after a save's last event before the file is read (0 reacts
    to the close or move that ends a save at once); `settle` (seconds) the quiet
    time after which a file that was modified but never closed is read anyway. An exception in `on_change`, a file that is not
    UTF-8 or cannot be read goes to `on_error(path, exc)` (default: one line
    on stderr) and the watcher goes on. A save that leaves the content as it
    was delivers nothing; the content when a file is added is the baseline.

    `deliveries` counts calls of `on_change`, `errors` calls of `on_error`.
    """

    def __init__(self, paths: Iterable | str | os.PathLike, on_change: Callable[[object, str], None],
                 debounce: float = 0.05, *, on_error: Callable[[object, BaseException], None] | None = None,
                 settle: float = 1.0):
        if debounce < 0 or settle < 0:
            raise ValueError("debounce and settle are seconds >= 0")
        self.on_change = on_change
        self.on_error = on_error if on_error is not None else print_error
        self.debounce = float(debounce)
        self.settle = max(float(settle), float(debounce))
        self.deliveries = 0
        self.errors = 0
        self._files: dict[str, _File] = {}
        self._dirs: set[str] = set()
        self._cond = threading.Condition()
        self._life = threading.RLock()       # start/stop/add
        self._observer = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._run_id = 0                     # a worker left over from a stop in on_change quits
        self._handler = _Handler(self)
        self._closes = InotifyObserver is not None
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        for p in paths:
            self.add(p)

    # -- life cycle -------------------------------------------------------------------

    @property
    def paths(self) -> list:
        """The watched paths, as given."""
        with self._cond:
            return [f.path for f in self._files.values()]

    @property
    def running(self) -> bool:
        return self._thread is not None

    def add(self, path) -> None:
        """Watch one more file (also while running). Its folder must exist; the file need not."""
        key = _key(path)
        folder = os.path.dirname(key)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{os.fspath(path)}: no folder {folder!r} to watch")
        with self._life:
            with self._cond:
                if key in self._files:
                    return
            if self._observer is not None and folder not in self._dirs:
                self._schedule(folder)
            self._dirs.add(folder)
            digest = self._read(key)[0]
            with self._cond:
                self._files[key] = _File(path, digest)

    def start(self) -> PatchWatcher:
        """Start watching (a no-op if running). Returns self."""
        with self._life:
            if self._thread is not None:
                return self
            if InotifyObserver is not None:
                observer = InotifyObserver(generate_full_events=True)
            else:  # pragma: no cover
                from watchdog.observers import Observer
                observer = Observer()
            try:
                for folder in self._dirs:
                    self._schedule(folder, observer)
                observer.start()                   # a folder that is gone raises here
            except BaseException:
                observer.stop()
                raise
            with self._cond:
                self._stopping = False
                self._run_id += 1
            self._observer = observer
            self._thread = threading.Thread(target=self._run, args=(self._run_id,),
                                            name="dmmlive-watcher", daemon=True)
            self._thread.start()
            return self

    def stop(self) -> None:
        """Stop and join the threads; no callback comes after this returns. Idempotent.

        Called from `on_change` itself, it returns without waiting for that call.
        """
        with self._life:
            observer, thread = self._observer, self._thread
            self._observer = self._thread = None
            with self._cond:
                self._stopping = True
                for f in self._files.values():
                    f.deadline = None
                self._cond.notify_all()
            if observer is not None:
                observer.stop()
                observer.join()
            if thread is not None and thread is not threading.current_thread():
                thread.join()

    def __enter__(self) -> PatchWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _schedule(self, folder: str, observer=None) -> None:
        (observer or self._observer).schedule(self._handler, folder, recursive=False,
                                              event_filter=_EVENTS)

    # -- events (watchdog's thread) ---------------------------------------------------

    def on_event(self, event: FileSystemEvent) -> None:
        """A file event from watchdog (its thread)."""
        if event.is_directory:
            return
        kind = event.event_type
        src = os.fsdecode(event.src_path) if event.src_path else ""
        with self._cond:
            if self._stopping:
                return
            if kind == "moved":
                dest = os.fsdecode(event.dest_path) if event.dest_path else ""
                self._mark(dest, done=True)           # moved into place: complete
                if src != dest:
                    self._mark(src, done=False)       # moved away: a new one may come
            elif kind in ("modified", "created"):
                self._mark(src, done=False)
            elif kind == "closed":
                self._mark(src, done=True)

    def _mark(self, key: str, done: bool) -> None:
        f = self._files.get(key)
        if f is None:
            return
        now = time.monotonic()
        f.seq += 1
        f.last_event = now
        f.in_flux = not done
        f.deadline = now + self.debounce
        self._cond.notify_all()

    # -- reading and delivering (our thread) ------------------------------------------

    def _run(self, run_id: int) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping or self._run_id != run_id:
                        return
                    now = time.monotonic()
                    due, wait = [], None
                    for key, f in self._files.items():
                        if f.deadline is None:
                            continue
                        if f.deadline <= now:
                            due.append(key)
                        elif wait is None or f.deadline - now < wait:
                            wait = f.deadline - now
                    if due:
                        break
                    self._cond.wait(wait)
            for key in due:
                self._check(key, run_id)

    def _check(self, key: str, run_id: int) -> None:
        with self._cond:
            f = self._files[key]
            if f.deadline is None or f.deadline > time.monotonic():
                return                                 # an event came in the meantime
            f.deadline = None
            if f.in_flux and self._closes and time.monotonic() < f.last_event + self.settle:
                f.deadline = f.last_event + self.settle  # wait for the close
                return
            seq = f.seq
        digest, data, exc = self._read(key)
        with self._cond:
            if self._stopping or self._run_id != run_id or f.seq != seq:
                return                                 # changed while read: the new events decide
            if digest is None and exc is None:
                return                                 # absent for now (vim's rename dance)
            if data == b"" and f.in_flux and not self._closes \
                    and time.monotonic() < f.last_event + self.settle:
                f.deadline = f.last_event + self.settle  # likely truncated before a write
                return
            if digest == f.digest and exc is None:
                return
            f.in_flux = False
            if digest is not None:
                f.digest = digest
            path = f.path
        if exc is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                exc = e
            else:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
        if exc is not None:
            self._error(path, exc)
            return
        self.deliveries += 1
        try:
            self.on_change(path, text)
        except Exception as e:  # noqa: BLE001 - a bad callback must not stop the watcher
            self._error(path, e)

    def _read(self, key: str) -> tuple[bytes | None, bytes | None, BaseException | None]:
        """(hash, bytes, None), or (None, None, None) if absent, or (None, None, error)."""
        try:
            with open(key, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None, None, None
        except OSError as e:
            return None, None, e
        return _digest(data), data, None

    def _error(self, path, exc: BaseException) -> None:
        self.errors += 1
        try:
            self.on_error(path, exc)
        except Exception as e:  # noqa: BLE001
            print_error(path, e)
