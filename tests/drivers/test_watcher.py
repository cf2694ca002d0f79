"""The patch watcher, by real saves on real files (inotify), in the ways editors save.

No timing is asserted: a test waits (generously) for the calls it expects, and
shows that no extra call comes by a short quiet period or by a later save
whose call must be the next one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from dmmlive.drivers.watcher import PatchWatcher

WAIT = 10.0     # seconds to wait for a call that should come (a loaded machine is slow)
QUIET = 0.25    # seconds in which no further call may come


class Calls:
    """Records on_change (and on_error) calls; waits for them."""

    def __init__(self, fail=0):
        self.changes: list[tuple[object, str]] = []
        self.errors: list[tuple[object, BaseException]] = []
        self.threads: set[str] = set()
        self.fail = fail                 # raise in this many first on_change calls
        self.cond = threading.Condition()

    def on_change(self, path, text):
        with self.cond:
            self.changes.append((path, text))
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()
            if self.fail:
                self.fail -= 1
                raise RuntimeError("boom\nsecond line")

    def on_error(self, path, exc):
        with self.cond:
            self.errors.append((path, exc))
            self.cond.notify_all()

    def wait(self, n, errors=0):
        """Wait until at least n changes (and errors) came; return the changes' texts."""
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.changes) >= n and len(self.errors) >= errors,
                                    timeout=WAIT)
        assert ok, f"expected {n} calls (and {errors} errors), got {self.changes} {self.errors}"
        return self.texts()

    def texts(self):
        with self.cond:
            return [t for _, t in self.changes]


@pytest.fixture
def calls():
    return Calls()


@pytest.fixture
def watch(calls):
    made = []

    def make(*paths, **kw):
        kw.setdefault("on_error", calls.on_error)
        w = PatchWatcher(list(paths), calls.on_change, **kw)
        made.append(w)
        return w.start()

    yield make
    for w in made:
        w.stop()


def write(path, text):
    """Write a file before watching it (the baseline)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# The three ways editors save -------------------------------------------------------

def save_in_place(path, text):
    """VS Code, nano: truncate, write in chunks (the reader could see each), close."""
    half = len(text) // 2
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:half])
        f.flush()
        time.sleep(0.12)         # longer than the debounce: the half file is visible
        f.write(text[half:])
        f.flush()
        time.sleep(0.02)


def save_atomic(path, text):
    """JetBrains, Kate, most tools: a temporary file in the same folder replaces the target."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_vim(path, text):
    """vim with backupcopy=no + writebackup, as strace shows it (vim 9.0):

    unlink("p~"); rename("p", "p~"); open("p", O_WRONLY|O_CREAT, 0644);
    ftruncate(fd, 0); write; fsync; close; setxattr (an attrib event); unlink("p~").
    """
    backup = f"{path}~"
    try:
        os.unlink(backup)
    except FileNotFoundError:
        pass
    os.rename(path, backup)
    time.sleep(0.1)              # the file is absent for longer than the debounce
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o644)
    os.unlink(backup)


SAVES = {"in_place": save_in_place, "atomic": save_atomic, "vim": save_vim}
TEXTS = ["lfo = sine(freq=0.2)\nout = 0.3*lfo\n",
         "lfo = sine(freq=0.5)\nbass = saw(freq=55 + 3*lfo)\nout = 0.3*bass\n",
         "out = 0.1*saw(freq=110)\n" * 200]           # 4.8 kB: several writes in some editors


@pytest.mark.parametrize("style", SAVES)
def test_one_call_per_save_with_the_full_text(tmp_path, calls, watch, style):
    patch = tmp_path / "demo.dmm"
    write(patch, "out = 0\n")
    w = watch(patch)
    for i, text in enumerate(TEXTS):
        SAVES[style](patch, text)
        assert calls.wait(i + 1)[-1] == text
    time.sleep(QUIET)
    assert calls.changes == [(patch, t) for t in TEXTS]
    assert w.deliveries == 3 and w.errors == 0 and calls.errors == []
    assert calls.threads == {"dmmlive-watcher"}


def test_no_debounce_reacts_to_closes_and_moves_alone(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, "out = 0\n")
    watch(patch, debounce=0)
    for i, (save, text) in enumerate(zip(SAVES.values(), TEXTS)):
        save(patch, text)
        assert calls.wait(i + 1)[-1] == text
    time.sleep(QUIET)
    assert calls.texts() == TEXTS


@pytest.mark.parametrize("style", SAVES)
def test_a_save_of_the_same_text_calls_nothing(tmp_path, calls, watch, style):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    watch(patch)
    SAVES[style](patch, TEXTS[0])
    time.sleep(QUIET)
    SAVES[style](patch, TEXTS[1])                    # the next call must be this one
    assert calls.wait(1) == [TEXTS[1]]
    time.sleep(QUIET)
    assert calls.texts() == [TEXTS[1]]


@pytest.mark.parametrize("backupcopy", ["no", "yes", "auto"])
def test_real_vim(tmp_path, calls, watch, backupcopy):
    if shutil.which("vim") is None:
        pytest.skip("vim is not installed")
    patch = tmp_path / "demo.dmm"
    write(patch, "out = 0\n")
    watch(patch)
    for i, text in enumerate(TEXTS[:2]):
        lines = "[" + ", ".join(repr(s) for s in text.splitlines()) + "]"
        # backupskip= : vim makes no backup for files under /tmp by default
        subprocess.run(["vim", "-u", "NONE", "-N", "-i", "NONE", "-n", "-es",
                        "-c", f"set backupcopy={backupcopy} writebackup nobackup backupskip=",
                        "-c", "%delete", "-c", f"call setline(1, {lines})", "-c", "wq", str(patch)],
                       check=True, timeout=WAIT, stdin=subprocess.DEVNULL)
        assert calls.wait(i + 1)[-1] == text
    time.sleep(QUIET)
    assert calls.texts() == TEXTS[:2]
    assert sorted(os.listdir(tmp_path)) == ["demo.dmm"]


def test_an_emptied_file_is_an_edit(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    watch(patch)
    with open(patch, "w"):
        pass
    assert calls.wait(1) == [""]
    time.sleep(QUIET)
    assert calls.texts() == [""]


def test_a_file_truncated_without_a_close_is_read_once_quiet(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    watch(patch, settle=0.2)
    os.truncate(patch, 0)                            # a modified event, and no close
    assert calls.wait(1) == [""]
    time.sleep(QUIET)
    assert calls.texts() == [""]


def test_other_files_in_the_folder_call_nothing(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    watch(patch)
    other = tmp_path / "other.dmm"
    write(other, "x")
    save_in_place(other, TEXTS[1])
    save_atomic(other, TEXTS[2])
    save_vim(other, TEXTS[0])
    write(tmp_path / "demo.dmm.swp", "vim swap")
    write(tmp_path / "demo.dmm~", "backup")
    os.unlink(tmp_path / "demo.dmm~")
    (tmp_path / "demo.dmm.d").mkdir()
    time.sleep(QUIET)
    save_atomic(patch, TEXTS[1])
    assert calls.wait(1) == [TEXTS[1]]
    time.sleep(QUIET)
    assert calls.changes == [(patch, TEXTS[1])]


def test_two_files_each_deliver_their_own(tmp_path, calls, watch):
    (tmp_path / "shaders").mkdir()
    patch = tmp_path / "demo.dmm"
    shader = tmp_path / "shaders" / "warp.frag"
    write(patch, TEXTS[0])
    write(shader, "// warp\n")
    watch(patch, str(shader))
    save_in_place(patch, TEXTS[1])
    calls.wait(1)
    save_atomic(shader, "uniform float amount;\n")
    calls.wait(2)
    save_vim(patch, TEXTS[2])
    calls.wait(3)
    time.sleep(QUIET)
    assert calls.changes == [(patch, TEXTS[1]), (str(shader), "uniform float amount;\n"),
                             (patch, TEXTS[2])]


def test_add_while_running(tmp_path, calls, watch):
    (tmp_path / "shaders").mkdir()
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    w = watch(patch)
    shader = tmp_path / "shaders" / "plasma.frag"    # not there yet
    w.add(shader)
    w.add(shader)                                    # twice is once
    assert w.paths == [patch, shader]
    save_atomic(shader, "uniform float speed;\n")
    assert calls.wait(1) == ["uniform float speed;\n"]
    save_in_place(patch, TEXTS[1])
    calls.wait(2)
    time.sleep(QUIET)
    assert calls.changes == [(shader, "uniform float speed;\n"), (patch, TEXTS[1])]
    with pytest.raises(FileNotFoundError, match="no folder"):
        w.add(tmp_path / "nowhere" / "x.frag")


def test_an_error_in_on_change_goes_to_on_error_and_the_watcher_goes_on(tmp_path, watch):
    calls = Calls(fail=1)
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    w = PatchWatcher(patch, calls.on_change, on_error=calls.on_error).start()
    try:
        save_in_place(patch, TEXTS[1])
        calls.wait(1, errors=1)
        save_atomic(patch, TEXTS[2])
        assert calls.wait(2) == [TEXTS[1], TEXTS[2]]
        time.sleep(QUIET)
        assert [(p, str(e)) for p, e in calls.errors] == [(patch, "boom\nsecond line")]
        assert (w.deliveries, w.errors) == (2, 1)
    finally:
        w.stop()


def test_text_that_is_not_utf8_goes_to_on_error_with_the_path(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    w = watch(patch)
    save_atomic_bytes = b"out = 0.5 # caf\xe9\n"                 # latin-1
    with open(f"{patch}.tmp", "wb") as f:
        f.write(save_atomic_bytes)
    os.replace(f"{patch}.tmp", patch)
    calls.wait(0, errors=1)
    (path, exc), = calls.errors
    assert path == patch and isinstance(exc, UnicodeDecodeError)
    save_in_place(patch, "out = 0.5 # café\r\n")                 # CRLF reads as \n
    assert calls.wait(1) == ["out = 0.5 # café\n"]
    assert w.errors == 1


def test_the_default_on_error_prints_one_line(tmp_path, capsys):
    calls = Calls(fail=1)
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    with PatchWatcher([patch], calls.on_change) as w:
        save_atomic(patch, TEXTS[1])
        calls.wait(1)
        deadline = time.monotonic() + WAIT
        while w.errors == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert capsys.readouterr().err == f"dmmlive: {patch}: RuntimeError: boom second line\n"


def test_stop_is_idempotent_and_no_call_comes_after_it(tmp_path, calls, watch):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    w = watch(patch)
    save_in_place(patch, TEXTS[1])
    calls.wait(1)
    save_atomic(patch, TEXTS[2])                     # pending when stopped, or just delivered
    w.stop()
    seen = len(calls.changes)
    w.stop()
    assert not w.running
    save_vim(patch, TEXTS[0])
    save_in_place(patch, TEXTS[1])
    time.sleep(QUIET)
    assert len(calls.changes) == seen
    assert not [t for t in threading.enumerate() if t.name == "dmmlive-watcher"]


def test_context_manager_and_restart(tmp_path, calls):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])
    w = PatchWatcher(patch, calls.on_change, on_error=calls.on_error)
    with w:
        assert w.running
        save_atomic(patch, TEXTS[1])
        calls.wait(1)
    assert not w.running
    with w:                                          # a stopped watcher starts again
        save_in_place(patch, TEXTS[2])
        assert calls.wait(2) == [TEXTS[1], TEXTS[2]]


def test_stop_from_on_change(tmp_path, calls):
    patch = tmp_path / "demo.dmm"
    write(patch, TEXTS[0])

    def stop_once(path, text):
        if not calls.changes:
            w.stop()
        calls.on_change(path, text)

    w = PatchWatcher(patch, stop_once).start()
    save_atomic(patch, TEXTS[1])
    assert calls.wait(1) == [TEXTS[1]]
    assert not w.running
    with w:                                          # and it starts again, with one worker
        save_in_place(patch, TEXTS[2])
        calls.wait(2)
        assert [t.name for t in threading.enumerate()].count("dmmlive-watcher") == 1


def test_start_fails_cleanly_when_a_folder_is_gone(tmp_path, calls):
    (tmp_path / "gone").mkdir()
    w = PatchWatcher(tmp_path / "gone" / "a.dmm", calls.on_change)
    (tmp_path / "gone").rmdir()
    threads = threading.active_count()
    with pytest.raises(OSError):
        w.start()
    assert not w.running and threading.active_count() == threads
    w.stop()
    (tmp_path / "gone").mkdir()                      # back: it can start now
    with w:
        save_atomic(tmp_path / "gone" / "a.dmm", TEXTS[0])
        assert calls.wait(1) == [TEXTS[0]]
