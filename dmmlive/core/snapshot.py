"""Snapshots: a machine's whole state as bytes, and a machine made again from them.

`snapshot(m, extra=None) -> bytes` and `restore(data) -> Machine` (`Machine.snapshot()`,
`Machine.restore(data)`): what restoring and ticking on gives is sample-identical to
the machine never having stopped. A snapshot holds everything a tick reads or writes:
W and the declarations (dormant ones too), every neuron's state (the batched groups'
arrays and the non-batched neurons' dicts), the dense output and input rows, the
V-value outputs and inputs, the frame neurons' rings, the glides in flight, the edit
queue and the edits in flight, the tick, the beat grid, the seeded noise state (it is
part of the neurons' state), the compiled plan (its matrices and weight slots as they
are, so a plan compiled by change is not compiled again from scratch), the flat V-value
program, and the image backend's textures, read back from the GPU and uploaded again
on restore (a feedback shader's previous frame included).

What it does not hold: the `before_tick` hooks and `on_report` (the caller's: a replay
attaches its own again, see `extra`), and the caches of views into the machine's arrays
(a level's steady views, the tick's steps), which the next tick makes again. Neuron
types are held by name and found again in the restoring machine's table (`types=`,
default the standard one): a machine with shader types of its own is restored with a
table holding them (`log.logged_types` for a replay).

`extra`: any picklable object kept in the same snapshot (`restore_with` gives it back);
references to the machine inside it come back as the restored machine (a replay's
session and Controller, whose `machine` is this one).

The format is pickle (a snapshot is trusted like a program: restore only your own).
"""
from __future__ import annotations

import copyreg
import io
import pickle
import types as pytypes

from .plan import Level
from .registry import BACKENDS, STANDARD, NeuronType, Types

MAGIC = b"DMMSNAP1"

_CACHES = {Level: ("steady", "dyn_np")}  # views of the machine's arrays: made again (Machine's: __getstate__)


def _dropped(fn) -> bool:
    """A function pickle cannot find again by its name (a lambda, a closure): dropped (None)."""
    q = getattr(fn, "__qualname__", "")
    return "<lambda>" in q or "<locals>" in q


class _Pickler(pickle.Pickler):
    def __init__(self, f, m):
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self.m = m
        self.gpu = m.gpu
        self.ids = {id(m.types): ("types",), id(m.before_tick): ("hooks",)}
        if m.on_report is not None:
            self.ids[id(m.on_report)] = ("none",)
        if m.gpu is not None:
            self.ids[id(m.gpu)] = ("gpu",)

    def persistent_id(self, obj):
        got = self.ids.get(id(obj))
        if got is not None:
            return got
        if isinstance(obj, NeuronType):
            return ("type", obj.name)
        if isinstance(obj, pytypes.FunctionType) and _dropped(obj):
            return ("none",)  # a frame neuron's audio(): made again when it fires
        if self.gpu is not None:
            pid = self.gpu.snapshot_id(obj)
            if pid is not None:
                return ("gpu",) + pid
        return None

    def reducer_override(self, obj):
        drop = _CACHES.get(type(obj))
        if drop is None:
            return NotImplemented
        state = dict(obj.__dict__)
        for k in drop:
            state[k] = None
        return copyreg.__newobj__, (type(obj),), state


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, types: Types, gpu_state):
        super().__init__(f)
        self.types = types
        self.gpu_state = gpu_state
        self.gpu = None
        self.machine = None

    def make_gpu(self, size):
        if self.gpu is None:
            factory = BACKENDS.get("image")
            if factory is None:
                raise RuntimeError("this snapshot holds images: import dmmlive.gfx before restoring it")
            self.gpu = factory(_Sized(size))
            self.gpu.restore_textures(self.gpu_state)
        return self.gpu

    def persistent_load(self, pid):
        what = pid[0]
        if what == "types":
            return self.types
        if what == "hooks":
            return []
        if what == "none":
            return None
        if what == "type":
            return self.types[pid[1]]
        if what == "gpu":
            gpu = self.make_gpu(self.gpu_state["size"])
            return gpu if len(pid) == 1 else gpu.snapshot_load(pid[1:])
        raise pickle.UnpicklingError(f"unknown reference {pid!r} in a snapshot")


class _Sized:
    """What an image backend's factory reads of a machine: its size."""

    def __init__(self, size):
        self.size = tuple(size)


def snapshot(m, extra=None) -> bytes:
    """The machine's whole state (and `extra`'s) as bytes: see the module's doc."""
    gpu_state = m.gpu.snapshot_textures() if m.gpu is not None else None
    f = io.BytesIO()
    f.write(MAGIC)
    pickle.dump(gpu_state, f, protocol=pickle.HIGHEST_PROTOCOL)
    _Pickler(f, m).dump((m, extra))
    return f.getvalue()


def restore_with(data: bytes, types: Types | None = None):
    """(the machine, the `extra` given to `snapshot`) made again from a snapshot."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:len(MAGIC)]) != MAGIC:
        raise ValueError("not a dmmlive snapshot")
    f = io.BytesIO(data)
    f.seek(len(MAGIC))
    gpu_state = pickle.load(f)
    u = _Unpickler(f, STANDARD if types is None else types, gpu_state)
    m, extra = u.load()
    if u.gpu is None and gpu_state is not None:
        u.make_gpu(gpu_state["size"])
    m.gpu = u.gpu
    return m, extra


def restore(data: bytes, types: Types | None = None):
    """The machine made again from `snapshot(m)`: ticking it on gives what `m` would have."""
    return restore_with(data, types)[0]
