"""Reading a patch: `parse(text, path, previous, types)`.

The grammar, the checks and the Patch are in grammar.py; reusing the statements of a
Patch parsed before is incremental.py's. This module chooses between the two, so that
neither imports the other's caller.
"""
from __future__ import annotations

from ..core.registry import STANDARD, Types
from .grammar import BUILTIN, ONE, SETTINGS, SINKS, Declared, Parser, Patch, check_ranges
from .incremental import parse_incremental

__all__ = ["parse", "Patch", "Declared", "BUILTIN", "ONE", "SETTINGS", "SINKS"]


def parse(text: str, path: str = "<patch>", previous: Patch | None = None,
          types: Types | None = None) -> Patch:
    """Read a patch. Raises PatchError (path, line, col, message) on the first problem.

    An input constant out of its port's range (a delay's time past its `max`, a negative
    cutoff) is a PatchError at the constant.

    `previous`: a Patch parsed before (an empty `Patch()` to start): statements whose text
    and context did not change are reused from it, so a one-statement change to a large
    patch costs that statement (dmmlive/patch/incremental.py). The result, and any error,
    are exactly those of a parse without it; the result remembers its statements for the
    next call. `types`: the neuron types the patch may declare (default: the standard
    table; a machine's own, `Machine.types`, for a machine with shaders of its own)."""
    types = STANDARD if types is None else types
    patch = parse_incremental(text, path, previous, types) if previous is not None else None
    keys = None
    if patch is None:
        patch = Parser(text, path, types).run()
    elif getattr(previous, "ranges_checked", None) is types and patch.record is not None:
        # the base passed this check with these types: only rows that changed can fail now
        # (a row's value changed, or its neuron's type or arguments: a delay's `max`)
        decl, _, _, set_rows, edits, _ = patch.record
        keys = set(set_rows).union(edits)
        for name, d in decl.items():
            t = types.get(d.type)
            if t is not None and not t.variadic:
                keys.update((name, port) for port in t.inputs)
    check_ranges(patch, text, path, types, keys)  # the values both readings give, checked alike
    patch.ranges_checked = types
    return patch
