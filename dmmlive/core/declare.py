"""Declarations as V-values: how the network declares neurons through what it writes into
`self.delta`, and how Self shows the declarations (`self.decls`).

A ΔW may carry a section under the key ":declare" (not a neuron name: names cannot start
with ':'):

    {":declare": {name: {type: {args: count}}}, ...the rest of ΔW...}

`args` is the neuron's construction arguments as canonical JSON (keys sorted, no spaces;
"{}" for none), so the same declaration is the same path and a V-value is linear: two
writers declaring it add their counts, a declaration scaled by a weight w counts w. A name
is declared where exactly one (type, args) of it has a count > 0 (the rest is ignored and
reported). Self installs the section before it adds the rest into W (so the links the rest
writes to the new neuron resolve), up to the machine's `max_neurons`, at most
`edits.NET_DECLARE_PER_TICK` neurons a tick (the rest wait for the next ticks, in order);
a section a source writes again unchanged is not read again (core/edits.py, `_net_declare`).
`self.decls` is every live declaration in the same form, count 1."""
from __future__ import annotations

import json

DECLARE = ":declare"


def args_key(args: dict) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


def declaration(name: str, type_name: str, args: dict | None = None, count: float = 1.0) -> dict:
    """The ΔW section that declares `name` as `type_name(**args)`."""
    return {DECLARE: {name: {type_name: {args_key(args or {}): float(count)}}}}


_PIECES: dict = {}  # id(Decl) -> (the Decl, its {type: {args: 1.0}}): a declaration's piece, made once


def as_vvalue(decls: dict) -> dict:
    """{name: {type: {args: 1.0}}} of {name: Decl} (what `self.decls` outputs). Each
    declaration's piece is made once (its args as JSON) and shared by the V-values made
    after (V-values are never written in place): a network that reads `self.decls` while
    it grows pays for the declarations that are new, not for all at each compile."""
    out = {}
    for n, d in decls.items():
        hit = _PIECES.get(id(d))
        if hit is None or hit[0] is not d:
            if len(_PIECES) > 1 << 16:
                _PIECES.clear()
            hit = _PIECES[id(d)] = (d, {d.type.name: {args_key(d.args): 1.0}})
        out[n] = hit[1]
    return out


def read(section) -> tuple[dict, list]:
    """({name: (type name, args key, args)} declared by a ":declare" section, [(name, why)]
    refused as malformed). Each distinct args key is parsed once (thousands of names
    declared alike cost one json.loads), and its args dict is shared by them: read only."""
    out, bad, parsed = {}, [], {}
    if not isinstance(section, dict):
        return out, [("?", "the :declare section is not a V-value of names")]
    for name, types in section.items():
        if not isinstance(types, dict):
            bad.append((name, "not {type: {args: count}}"))
            continue
        on = [(t, a) for t, by in types.items() if isinstance(by, dict)
              for a, c in by.items() if isinstance(c, (int, float)) and c > 0]
        if len(on) != 1:
            if on:
                bad.append((name, f"{len(on)} declarations with a count > 0 (one at a time)"))
            continue
        t, a = on[0]
        args = parsed.get(a)
        if args is None:
            try:
                args = json.loads(a)
            except ValueError:
                args = f"arguments {a!r} are not JSON"
            else:
                if not isinstance(args, dict):
                    args = f"arguments {a!r} are not a JSON object"
            parsed[a] = args
        if isinstance(args, str):
            bad.append((name, args))
            continue
        out[name] = (t, a, args)
    return out, bad
