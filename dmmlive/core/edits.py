"""Edits: the queue the `edits` neuron empties, Self taking what reaches it into W (the
queued edits one at a time, their declarations, crossfades and glides), and the checks an
edit passes before anything is queued. A mixin of Machine (core/machine.py)."""
from __future__ import annotations

import math

import numpy as np

from . import vv
from .errors import (BadArgument, DmmError, DuplicateName, KindMismatch, MalformedDelta,
                     UnknownNeuron, UnknownPort, did_you_mean, kind_hint)
from .declare import DECLARE, read as read_declarations
from .glides import _Fade
from .plan import BUILTIN, DENSE, Decl, entries, glide_mats
from .registry import compatible

EDITS = ("edits", "delta")
NOTHING: dict = {}  # what `edits` emits with nothing queued (V-values are never written in place)
FIXED = ("self", "delta", "edits", "delta")  # the entry no edit may change
LEAD = 3  # blocks ahead of its sample a quantised edit is emitted (Self takes it in 1-2 ticks later)
NET_DECLARE_PER_TICK = 16  # the most neurons the network's declarations install a tick (the rest wait)
RATE_ARGS = ("every", "hz")  # what any V-value or number neuron may be given: how often it fires

NAME_RULE = "a non-empty string without '.' or spaces, not starting with ':' (W's sections: ':declare')"


def good_name(name) -> bool:
    """Whether `name` may name a neuron (an edit's declaration, or the network's own)."""
    return isinstance(name, str) and bool(name) and name[0] != ":" and not any(c in name for c in ". \t\n")


def check_rate_args(t, own: dict, where: str) -> None:
    """BadArgument unless `own` ({"every": ticks} or {"hz": firings a second}) fits type
    `t`: one of them, a whole number of ticks >= 1 or a rate > 0, on a V-value or number
    neuron (an audio or image one runs every tick)."""
    if len(own) > 1:
        raise BadArgument(f"{where}: give every= or hz=, not both")
    if t.variadic is None and any(k in ("audio", "image") for k in t.outputs.values()):
        raise BadArgument(f"{where}: every= and hz= are for V-value and number neurons "
                          f"({t.name} outputs {'/'.join(sorted(set(t.outputs.values())))}: it runs every tick)")
    (k, v), = own.items()
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 \
            or (k == "every" and v != int(v)):
        raise BadArgument(f"{where}: {k} must be " + ("a whole number of ticks >= 1" if k == "every"
                          else "firings a second > 0") + f", got {v!r}")


class Edits:
    """Machine's edit path: `edit`, `apply`, what queued edits leave (`pending_*`), and
    Self's up movement."""

    def edit(self, delta: dict | None = None, declare: dict | None = None,
             fade: float = 0.0, replace: bool = False, defaults: bool = True, retire=(),
             at: int | None = None) -> None:
        """Queue ΔW (rank-4 V-value) and neuron declarations for the `edits` neuron.

        Synchronous schedule: queued before tick t, the edits neuron emits it at up
        movement t, Self adds it into W at up t+1, and a neuron it declares and links
        first fires at up t+2. Ordered: Self adds it at the end of tick t.
        `fade` (seconds): number and audio weights glide to their new values along a
        smoothstep (audio per sample), starting with the first tick that uses the new W.
        `replace`: a declaration may give an existing name a new type or arguments; the
        new neuron fades in while the old one fades out over `fade` and is retired.
        `defaults`: give declared neurons their default weights on ports the ΔW leaves out.
        `retire`: names to retire once this edit is in W if no weight touches them then
        (a patch that drops a neuron an earlier, still queued edit declared: it never ran).
        `at`: the sample (counted from the machine's start) the change is heard from, a
        quantised edit's beat (`grid.next_multiple`): the edit waits in the queue (and the
        edits after it, which keep their order) until a few blocks before, then its
        weights step (or start their glide) on that very sample. Neurons it declares start
        running when it comes in, silent until their links step in.
        Raises a DmmError and queues nothing when any part is wrong.
        """
        if at is not None and (isinstance(at, bool) or not isinstance(at, (int, np.integer)) or at < 0):
            raise BadArgument(f"at must be a sample number >= 0, got {at!r}")
        if not vv.is_number(fade) or not fade >= 0 or not np.isfinite(fade):
            raise BadArgument(f"fade must be a finite number of seconds >= 0, got {fade!r}")
        if isinstance(retire, str) or not all(isinstance(n, str) for n in retire):
            raise BadArgument(f"retire must be a list of neuron names, got {retire!r}")
        delta, decls = self._checked(delta, declare, True, replace, defaults)
        e = _Edit(delta, decls, float(fade), tuple(retire), None if at is None else int(at))
        p = self._pend
        if p is not None and p[0] is self._W and p[1] == self._queued():
            # what the queue leaves, one ΔW further (the next command builds on it: a burst of
            # commands between two ticks costs their size, not the queue's length each)
            self._pend = (p[0], p[1] + (e,), vv.add_into(p[2], delta) if delta else p[2])
        self._queue.append(e)
        self._pending_decls.update(decls)

    def _queued(self) -> tuple:
        """The edits Self has still to add, in order: emitted (in flight), then queued."""
        return (*self._inflight, *self._queue)

    def pending_decls(self) -> dict:
        """{name: declaration} as it will be once every queued edit is in (less the neurons
        an edit retires unless a weight keeps them: a text that follows declares them anew)."""
        hidden = self._idle.union(self._dormant, *(e.retire for e in self._queue), *(e.retire for e in self._inflight))
        if hidden:
            return {**{n: d for n, d in self._decls.items() if n not in hidden}, **self._pending_decls}
        return {**self._decls, **self._pending_decls}

    def pending_matrix(self) -> dict:
        """W as it will be once every queued edit is in (what a new edit builds on): their
        ΔW added one at a time, in order, as Self will add them."""
        p, queued = self._pend, self._queued()
        if p is not None and p[0] is self._W and p[1] == queued:
            return p[2]  # (W is lent already: see lend_w)
        W = w0 = self.lend_w()
        for e in queued:
            if e.delta:
                W = vv.add_into(W, e.delta)
        self._pend = (w0, queued, W)
        return W

    def apply(self, delta: dict | None = None, declare: dict | None = None, defaults: bool = True) -> None:
        """Declare and add ΔW into W now, not through `edits` (setting a machine up).
        Checked like `edit`; a declaration may not change an existing neuron."""
        delta, decls = self._checked(delta, declare, False, False, defaults)
        if decls:
            self._forget(self._dormant.intersection(decls))  # declared anew
            self._install(decls)
            self._restructure(names=decls)
        if delta:
            self._add_to_w(delta)

    def _checked(self, delta, declare, queued, replace, defaults):
        """The edit, checked against the network as queued edits leave it (`queued`) or as
        it is now."""
        delta = {} if delta is None else delta
        view = self.pending_decls() if queued else self._live_decls()
        decls = self._check_declare(declare or {}, view, replace=replace)
        self._check_delta(delta, {**view, **decls}, self.pending_matrix if queued else (lambda: self._W))
        delta = vv.prune(delta)
        if defaults:
            rows = {(dst, inp) for dst, inp, *_ in entries(delta)}
            for name, d in decls.items():
                extra = self._defaults(name, d, rows)
                if extra:
                    delta = vv.add(delta, extra)
        return delta, decls

    def _live_decls(self) -> dict:
        """The declarations less the dormant neurons (what an edit may build on)."""
        if not self._dormant:
            return self._decls
        return {n: d for n, d in self._decls.items() if n not in self._dormant}

    def _fire_self(self) -> None:
        # the edits whose ΔW arrives: emitted last tick (synchronous) or this tick (ordered)
        parts, self._self_parts = self._self_parts, None
        if not (self._inflight or self._self_read or self._net_backlog) \
                and all(src == EDITS or not y for src, _, y in parts or ()):
            self._Yv[("self", "matrix")] = self._W  # (the usual tick: nothing reaches Self)
            return
        due = [e for e in self._inflight if e.t < self.t or self.schedule == "ordered"]
        if self._self_read:  # the first synchronous tick after ordered ones: Self added
            self._self_read = False  # what it reads now at the end of the last
            self._take([], due)
            return
        # W += sum_w w * input, a term at a time, and the edits' one ΔW at a time: the same
        # additions whether the edits come in one tick or one tick apart (exactly, in floats).
        # The edits -> self link is fixed at 1 (the network cannot cut outside edits).
        deltas, glides = [], []
        last, t = self._net_last, self.t
        for src, w, y in parts or ():
            if src == EDITS:
                deltas.extend(e.delta for e in due if e.delta)
            elif y:
                d = vv.scale(y, w) if w != 1.0 else y
                if d.get("self") is not None:
                    d = self._without_fixed(d, src)
                if DECLARE in d:  # neurons the network declares: before the links to them
                    sec = d[DECLARE]
                    d = {k: v for k, v in d.items() if k != DECLARE}
                    extra = self._net_declare(sec, src, d)
                    if extra:
                        d = vv.add(d, extra)
                deltas.append(d)
                # a writer after a pause (a switch) glides where it is heard; one that wrote
                # last tick too (a modulation) goes in exactly, its steps its own resolution
                if self.netfade > 0 and last.get(src) != t - 1:
                    glides.append(d)
                last[src] = t
        if self._net_backlog:  # declared in an earlier tick, waiting their turn
            extra = self._net_install()
            if extra:
                deltas.append(extra)
        self._take(deltas, due)
        for d in glides:
            dense = self._dense_part(d)
            if dense:
                self._glide(dense, self.netfade)

    def _net_declare(self, section, src, rest) -> dict:
        """Take what a network-written ":declare" section declares (core/declare.py): a new
        name, or a dormant one declared again (afresh), waits its turn in the backlog
        (`_net_install`) while the live neurons and those waiting are under `max_neurons`;
        a name declared already as the same stays as it is; the rest is refused and
        reported (once). A section written again unchanged (a `const`, a `pulse`) costs a
        comparison while no declaration has changed since (no compile): its parse and its
        answer are kept per source. Returns the default weights of the neurons installed
        now (see `_net_install`)."""
        memo, state = self._net_memo.get(src), (self.compiles, self.max_neurons)
        if memo is not None and (memo[0] is section or memo[0] == section):
            if memo[2] == state:
                return self._net_install() if self._net_backlog else {}
            want, bad = memo[1]
        else:
            want, bad = read_declarations(section)
            for name, why in bad:
                self.report(("declare", src, name), f"{src[0]} declared {name!r}: refused, {why}")
        self._net_memo[src] = (section, (want, bad), state)
        decls, dormant, backlog = self._decls, self._dormant, self._net_backlog
        live = len(decls) - len(dormant) + len(backlog)
        made, given = {}, None  # (type, args key) -> Decl or the DmmError; the rows `rest` writes
        for name, (tname, a, args) in want.items():
            if name in backlog:
                continue  # waiting its turn
            old = decls.get(name)
            if old is not None and name not in dormant and old.type.name != tname:
                self.report(("declare", src, name), f"{src[0]} declared {name!r} as {tname}: "
                            f"refused, it is a {old.type.name}")
                continue
            if old is None and live >= self.max_neurons:  # (before any work on it)
                self.report(("declare", src, "max"), f"{src[0]} declared {name!r}: refused, "
                            f"max_neurons ({self.max_neurons}) reached")
                continue
            if not good_name(name):  # (the name's own: not kept with the type and arguments below)
                self.report(("declare", src, name), f"{src[0]} declared {name!r}: refused, "
                            f"bad neuron name {name!r}: {NAME_RULE}")
                continue
            d = made.get((tname, a))  # (one check for names declared alike)
            if d is None:
                d = made[tname, a] = self._net_decl(tname, args, name)
            if isinstance(d, DmmError):
                key = ("declare", src, name)
                if key not in self._reported:  # (the message names this neuron)
                    self.report(key, f"{src[0]} declared {name!r}: refused, {self._net_decl(tname, args, name)}")
                continue
            if old is not None and name not in dormant:
                if old.key != d.key:
                    self.report(("declare", src, name), f"{src[0]} declared {name!r} as {tname}: "
                                f"refused, it is a {tname} with other arguments")
                continue
            if old is not None and live >= self.max_neurons:  # a dormant one revived counts too
                self.report(("declare", src, "max"), f"{src[0]} declared {name!r}: refused, "
                            f"max_neurons ({self.max_neurons}) reached")
                continue
            if given is None:
                given = {(dst, inp) for dst, inp, *_ in entries(rest)}
            backlog[name] = (Decl(d.type, d.args, d.key, d.every), self._defaults(name, d, given))
            live += 1
        return self._net_install() if backlog else {}

    def _net_decl(self, tname, args, name):
        """The declaration of `name` (a good name) as `tname(**args)` the network asks for, or
        the DmmError that refuses it (naming `name`)."""
        try:
            t = self.types.get_type(tname)
            if t.pinned:
                raise BadArgument(f"type {tname!r} is built in")
            return self._decl(t, args, name)
        except DmmError as e:
            return e

    def _net_install(self) -> dict:
        """Install the neurons the network declared, in the order declared, at most
        NET_DECLARE_PER_TICK a tick (the rest the next ticks: a burst of thousands is spread
        over ticks, not installed and compiled in one); returns their default weights on the ports the ΔW that declared them
        left out (as an edit gives them), to add into W with this tick's ΔW."""
        backlog, extra = self._net_backlog, {}
        if self._net_budget[0] != self.t:
            self._net_budget = [self.t, NET_DECLARE_PER_TICK]
        while backlog and self._net_budget[1] > 0:
            name, (d, defaults) = backlog.popitem(last=False)
            old = self._decls.get(name)
            if old is not None and name not in self._dormant:
                continue  # declared meanwhile (an outside edit, a link reviving it)
            self._net_budget[1] -= 1
            if old is not None:
                self._forget({name})  # dormant: declared afresh
            self._decls[name] = d
            self._dormant.discard(name)
            self._born.add(name)
            self._restructure(names=(name,))
            if defaults:
                extra = vv.add_into(extra, defaults)
        return extra

    def _dense_part(self, delta) -> dict:
        """The entries of ΔW into number and audio inputs (what a glide can smooth)."""
        out, decls = {}, self._decls
        for dst, inp, src, o, w in entries(delta):
            d = decls.get(dst)
            if d is not None and vv.is_number(w) and w != 0 and d.type.input_kind(inp) in ("number", "audio"):
                out.setdefault(dst, {}).setdefault(inp, {}).setdefault(src, {})[o] = w  # (each path once)
        return out

    def _without_fixed(self, d, src) -> dict:
        """A network-written ΔW without the fixed edits -> self entry (reported once)."""
        if vv.path(d, "self", "delta", "edits", "delta") in (None, {}):
            return d
        self.report(("fixed", src), f"{src[0]}.{src[1]} wrote the edits -> self weight: ignored "
                    "(the link that brings outside edits in is fixed at 1)")
        return vv.add(d, {"self": {"delta": {"edits": {"delta": -vv.path(d, "self", "delta", "edits", "delta")}}}})

    def _take(self, deltas, due) -> None:
        """Self's up movement: W += each ΔW, and the `due` edits' declarations and glides."""
        w_prev = self.lend_w() if due else self._W  # kept as it was for the due edits
        for delta in deltas:
            self._add_to_w(delta)
        if due:
            self._inflight = self._inflight[len(due):]  # emitted in order: the due ones lead
            for e in due:
                if e.decls:  # neurons come or change: compiled at the next tick
                    self._restructure(names=e.decls)
                self._absorb(e, w_prev)
                for n, d in e.decls.items():
                    if self._pending_decls.get(n) is d:
                        del self._pending_decls[n]
            if not self._queue and not self._inflight:
                self._pending_decls = {}
        self._Yv[("self", "matrix")] = self._W

    def _add_to_w(self, delta) -> None:
        """W += ΔW. Where ΔW only changes the values of entries W has (none appears or
        vanishes), the running plan takes the new values in place; otherwise it is compiled
        again before the next tick."""
        if not self._dirty:
            r = self._wroute
            if r is not None and r[0] is delta and r[1] is self._W and r[2] == self.compiles \
                    and self._add_routed(r[3]):
                return
            fast = _add_values(self._W, delta)
            if fast is not None and self._flatv is not None:
                self._deflate()  # its weights are copies: the array program ends
            if fast is not None and self._plan.set_weights(self._decls, fast[1]):
                self._W = fast[0]
                # the entries read these again at the next compile
                rows = {}
                for c in fast[1]:
                    rows.setdefault((c[0], c[1]), set()).add(c[2])
                self._value_rows.update(rows)
                self._note_rows(rows)
                if not self._w_read:  # W is not lent out (no neuron reads self.matrix): the next time this
                    # ΔW comes (a network writing the same one every tick) it goes in in place
                    slots = self._plan.slots(fast[1])
                    self._wroute = (delta, self._W, self.compiles,
                                    [(b3, o, d, w) for (b3, o, d), w in zip(fast[2], slots)])
                return
        self._wroute = None
        self._W = vv.add_into(self._W, delta)
        rows = _rows_of(delta)
        if rows is None:  # ΔW writes above the rows: read W afresh
            self._restructure(fresh=True)
            return
        self._restructure(rows=rows)

    def _add_routed(self, leaves) -> bool:
        """W += the ΔW of `_wroute` in place: the weights on its paths, in the dicts only W
        holds (made when it last came in and lent to no one since: see `lend_w`), and in
        the plan's slots (`Plan.set_weights`). False, nothing written, where a weight
        would vanish or stop being finite (the plan's structure changes)."""
        new = []
        for b3, o, d, _ in leaves:
            y = b3[o] + d
            if y == 0 or not math.isfinite(y):
                return False
            new.append(y)
        if self._flatv is not None:
            self._deflate()
        for (b3, o, _, where), y in zip(leaves, new):
            b3[o] = y
            for store, i, lv, r in where:
                if lv is None:
                    store[i] = (store[i][0], y) + store[i][2:]
                else:
                    store[i] = y
                    if r is not None:
                        lv.stale.add(r)
        return True

    def lend_w(self) -> dict:
        """W, to be held by someone else: from now on it is not written in place."""
        self._wroute = None
        return self._W

    def _absorb(self, e, w_prev) -> None:
        """Install an edit's declarations (crossfading replaced neurons) and its glide."""
        if e.retire:
            self._idle.update(e.retire)
            self._restructure(active=True)
        self._idle.difference_update(e.decls)  # declared again since
        self._dormant.difference_update(e.decls)
        glide = e.delta
        for name, d in e.decls.items():
            old = self._decls.get(name)
            if old is not None and old.key != d.key:
                glide = self._crossfade(name, d, w_prev, glide, e.fade)
            else:
                self._decls[name] = d
            self._born.add(name)  # has not run yet
        skip = 0 if e.at is None else max(0, e.at - self.t * self.block)  # samples to its beat
        if (e.fade > 0 or skip) and glide:
            self._glide(glide, e.fade, skip)

    def _glide(self, glide, fade, skip=0) -> None:
        """Glide the ΔW `glide` (in W already) in over `fade` seconds from the first sample
        of the next tick plus `skip`: the plan subtracts what is not yet applied."""
        start = self.t + 1  # the first tick that computes with the new W
        length = max(1, round(fade * self.rate))
        last = self._fades[-1] if self._fades else None
        if last is not None and last.start == start and last.length == length and last.skip == skip:
            last.delta = vv.add_into(last.delta, glide)  # glides that start together run as one
        else:
            last = _Fade(glide, start, length, {}, skip)
            self._fades.append(last)
        idle = [n for d, _, s_, _, _ in entries(glide) for n in (d, s_) if n not in self._active]
        if idle:  # a glide keeps its neurons active: they join the plan
            self._restructure(active=True)
        if not self._dirty:  # the plan runs on: give it this glide's matrices
            mats = glide_mats(self._plan, self._decls, last.delta)
            for lv, m in zip(self._plan.levels, mats):
                if len(lv.fade_mats) == len(self._fades):
                    lv.fade_mats[-1] = m
                else:
                    lv.fade_mats.append(m)

    def _crossfade(self, name, decl, w_prev, glide, fade):
        """Rename the running `name` to `name~k` (state and outputs go with it), give `name`
        the new declaration, and glide name~k's outgoing weights to 0 while name's come in."""
        if self._flatv is not None:  # outputs move: the array program ends first
            self._deflate()
        if fade <= 0 or name not in self._active or name in self._born:  # no fade, or the old one never ran:
            # the new neuron replaces it at once
            self._forget({name})
            self._decls[name] = decl
            self._restructure(names=(name,))
            return glide
        self._xfade += 1
        old = f"{name}~{self._xfade}"
        self._restructure(names=(name, old))
        self._idle.add(old)  # retired at once if no weight or glide keeps it
        for f in self._fades:  # glides under way are the old neuron's
            f.delta = _renamed(f.delta, name, old)
        self._decls[old] = self._decls.pop(name)
        self._decls[name] = decl
        if name in self._state:
            self._state[old] = self._state.pop(name)
        od = self._decls[old]  # the old neuron's group state and output rows, by its declaration
        gs = self._gstate.get(od.key)
        if gs is not None:
            gs["names"] = [old if n == name else n for n in gs["names"]]
        for port, kind in (() if od.type.variadic else od.type.outputs.items()):
            if kind in DENSE:
                self._plan.out_index[kind].keys.rename((name, port), (old, port))
        for store in (self._Yv, self._Xv, self._Yi, self._Xi, self._rings):
            for key in [k for k in store if k[0] == name]:
                store[(old, key[1])] = store.pop(key)
        if name in self._vports:
            self._vports[old] = self._vports.pop(name)
        inputs = vv.path(w_prev, name)          # the old neuron keeps its inputs while it fades
        outgoing_prev = [(d, i, o, w) for d, i, s, o, w in entries(w_prev) if s == name]
        outgoing_new = [(d, i, o, w) for d, i, s, o, w in entries(self._W) if s == name]
        self._W = vv.add_into(self._W, {old: inputs} if inputs else {})
        # the glide: every other change of the edit, plus name~k fading out and name in
        g = {}
        for d, i, s, o, w in entries(glide):
            if s != name and d != name:
                g = vv.add_into(g, {d: {i: {s: {o: w}}}})
        for d, i, o, w in outgoing_prev:
            g = vv.add_into(g, {d: {i: {old: {o: -w}}}})
        for d, i, o, w in outgoing_new:
            g = vv.add_into(g, {d: {i: {name: {o: w}}}})
        self._cleanup_after_fade[old] = inputs
        return g

    def _forget(self, names) -> None:
        if self._flatv is not None:
            self._deflate()
        for n in names:
            self._decls.pop(n, None)
            self._state.pop(n, None)
            self._reported.discard(n)
            if self.gpu is not None:
                self.gpu.release(n)
        for store in (self._Yv, self._Xv, self._Yi, self._Xi, self._rings):
            for key in [k for k in store if k[0] in names]:
                del store[key]
        for n in names:
            self._vports.pop(n, None)
            self._fired.pop(n, None)
            self._kept.pop(n, None)
        if self._net_memo:  # (a source gone: its last section goes too)
            for key in [k for k in self._net_memo if k[0] in names]:
                del self._net_memo[key]

    def _sleep(self, names) -> None:
        """Retire `names` into dormancy: state, outputs and inputs freed, declarations kept."""
        decls = {n: self._decls[n] for n in names if n in self._decls}
        self._forget(names)
        self._decls.update(decls)
        self._dormant.update(decls)

    def _fire_edits(self) -> None:
        queue = self._queue
        if not queue:  # the usual tick: nothing to emit (the same empty V-value as last tick)
            self._Yv[EDITS] = NOTHING
            return
        # a quantised edit (and those after it) waits until its sample is at most LEAD
        # blocks after this one: in both schedules its ΔW is then in W before that block
        horizon = (self.t + LEAD) * self.block
        k = next((i for i, e in enumerate(queue) if e.at is not None and e.at >= horizon), len(queue))
        queue, self._queue = queue[:k], queue[k:]
        out = {}
        for e in queue:
            e.t = self.t
            out = vv.add_into(out, e.delta)
        self._inflight.extend(queue)
        self._Yv[("edits", "delta")] = out

    def _decl(self, t, args: dict, name: str) -> Decl:
        """The declaration of `name` as `t` with `args`: checked by the type, and the
        machine's own `every` (ticks) or `hz` (firings a second), kept in its args (they are
        part of its identity) and read into `Decl.every`."""
        own = {k: args[k] for k in RATE_ARGS if k in args}
        checked = t.check_args({k: v for k, v in args.items() if k not in own}, f"neuron {name!r}")
        every = 1
        if own:
            check_rate_args(t, own, f"neuron {name!r}")
            (k, v), = own.items()
            every = int(v) if k == "every" else max(1, round(self.rate / self.block / v))
            checked = {**checked, **own}
        return Decl.make(t, checked, every)

    def _install(self, decls: dict) -> None:
        for name, d in decls.items():
            self._decls[name] = d
            self._dormant.discard(name)

    def _defaults(self, name, decl, given_rows) -> dict:
        out = {}
        if decl.type.variadic:
            return out
        for port, p in decl.type.inputs.items():
            if p.default and (name, port) not in given_rows:
                out.setdefault(name, {})[port] = {"one": {"out": p.default}}
        return out

    def _check_declare(self, declare: dict, view: dict, replace: bool = False) -> dict:
        """Checked declarations against `view`, {name: Decl} of the network they join."""
        if not isinstance(declare, dict):
            raise BadArgument(f"declare must be a dict name -> type, got {type(declare).__name__}")
        out = {}
        for name, spec in declare.items():
            if not good_name(name):
                raise BadArgument(f"bad neuron name {name!r}: {NAME_RULE}")
            if isinstance(spec, str):
                tname, args = spec, {}
            elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], dict):
                tname, args = spec
            else:
                raise BadArgument(f"declaration of {name!r}: expected 'type' or ('type', {{args}}), got {spec!r}")
            t = self.types.get_type(tname)
            if t.pinned and name not in BUILTIN:
                raise BadArgument(f"{name!r}: type {tname!r} is built in and cannot be declared again")
            d = self._decl(t, args, name)
            prev = view.get(name)
            if prev is not None and replace:
                if prev.key == d.key:
                    continue  # unchanged: the running neuron is kept with its state
            elif prev is not None:
                if prev.key == d.key:
                    raise DuplicateName(f"neuron {name!r} is declared already (as {prev.type.name})")
                raise DuplicateName(f"neuron {name!r} is declared already as {prev.type.name}, "
                                    f"cannot declare it again as {tname}")
            out[name] = d
        return out

    def _check_delta(self, delta, decls, current=None) -> None:
        """Every leaf a weight between declared ports of matching kinds; or, given `current`
        (W as the edit finds it), the exact removal of a weight W holds (a replaced neuron's
        rows on ports its new type does not have)."""
        if not isinstance(delta, dict):
            raise MalformedDelta(f"ΔW must be a rank-4 dict W[dst][input][src][output] = weight, got {type(delta).__name__}")
        for path, x in _depth_leaves(delta):
            where = "][".join(map(repr, path))
            if len(path) != 4:
                raise MalformedDelta(f"ΔW leaf at [{where}] is at depth {len(path)}; "
                                     "a weight sits at W[dst][input][src][output]")
            if not all(isinstance(k, str) for k in path):
                raise MalformedDelta(f"ΔW key at [{where}] is not a string")
            if not vv.is_number(x) or not np.isfinite(x):
                raise MalformedDelta(f"ΔW weight at [{where}] is {x!r}, not a finite number")
            dst, inp, src, out = path
            if path == FIXED:
                raise BadArgument("the edits -> self weight is fixed at 1 (it brings every outside edit in)")
            try:
                self.check_link(dst, inp, src, out, decls)
            except DmmError:
                if current is None or vv.path(current(), dst, inp, src, out) != -x:
                    raise

    def check_link(self, dst, inp, src, out, decls) -> None:
        """Raise the DmmError a weight on this link would get (unknown neuron or port, kinds
        that cannot meet) against the declarations `decls`; nothing when it may exist."""
        for n in (dst, src):
            if n not in decls:
                raise UnknownNeuron(f"unknown neuron {n!r}{did_you_mean(n, decls)}")
        dt, st = decls[dst].type, decls[src].type
        dk, sk = dt.input_kind(inp), st.output_kind(out)
        if dk is None:
            raise UnknownPort(f"{dst!r} ({dt.name}) has no input port {inp!r}{did_you_mean(inp, dt.inputs)}; "
                              f"inputs: {', '.join(dt.inputs) or 'none'}")
        if sk is None:
            raise UnknownPort(f"{src!r} ({st.name}) has no output port {out!r}{did_you_mean(out, dt.outputs)}; "
                              f"outputs: {', '.join(st.outputs) or 'none'}")
        if not compatible(dk, sk):
            raise KindMismatch(f"kind mismatch: {dst}.{inp} is {dk} but {src}.{out} is {sk}{kind_hint(dk, sk)}")

    def _resolve_link(self, dst, src, decls):
        dn, dp = split_port(dst, "destination")
        sn, sp_ = split_port(src, "source")
        for n in (dn, sn):
            if n not in decls:
                raise UnknownNeuron(f"unknown neuron {n!r}{did_you_mean(n, decls)}")
        dp = dp or decls[dn].type.default_input
        sp_ = sp_ or decls[sn].type.default_output
        self.check_link(dn, dp, sn, sp_, decls)
        return dn, dp, sn, sp_


def split_port(ref: str, what: str) -> tuple[str, str | None]:
    if not isinstance(ref, str) or not ref:
        raise BadArgument(f"{what}: expected 'neuron.port', got {ref!r}")
    name, _, port = ref.partition(".")
    return name, (port or None)

class _Edit:
    __slots__ = ("delta", "decls", "fade", "retire", "t", "at")

    def __init__(self, delta, decls, fade, retire=(), at=None):
        self.delta, self.decls, self.fade, self.retire, self.t, self.at = delta, decls, fade, retire, None, at

def _renamed(D, name, new):
    """The rank-4 ΔW D with neuron `name` called `new` (as destination and as source)."""
    out = {}
    for dst, inp, src, o, w in entries(D):
        out = vv.add_into(out, {new if dst == name else dst: {inp: {new if src == name else src: {o: w}}}})
    return out

def _rows_of(delta):
    """{(dst, inp): the source neurons it writes there (None: the whole row)} of the input
    rows a ΔW writes, or None where it writes above a row."""
    rows = {}
    for dst, ins in delta.items():
        if type(ins) is not dict:
            return None
        for inp, srcs in ins.items():
            rows[(dst, inp)] = set(srcs) if type(srcs) is dict else None
    return rows

def _add_values(W, delta):
    """(W + ΔW, [(dst, inp, src, out, new weight)], [(the new innermost dict, out, the
    increment)]) when ΔW only changes the values of weights W has, each staying a non-zero
    finite number: one walk over ΔW's paths, W copied along them only (the result equals
    `vv.add_into(W, delta)`). None when it adds
    or removes an entry or writes anywhere else (the plan's structure changes)."""
    out, where = [], []
    W2 = dict(W)
    for dst, ins in delta.items():
        a1 = W.get(dst)
        if type(ins) is not dict or type(a1) is not dict:
            return None
        b1 = W2[dst] = dict(a1)
        for inp, srcs in ins.items():
            a2 = a1.get(inp)
            if type(srcs) is not dict or type(a2) is not dict:
                return None
            b2 = b1[inp] = dict(a2)
            for src, outs in srcs.items():
                a3 = a2.get(src)
                if type(outs) is not dict or type(a3) is not dict:
                    return None
                b3 = b2[src] = dict(a3)
                for o, d in outs.items():
                    x = a3.get(o)
                    if not isinstance(x, float) or not vv.is_number(d):
                        return None
                    y = x + d
                    if y == 0 or not math.isfinite(y):
                        return None  # vanishes, or is not a plain weight
                    b3[o] = y
                    out.append((dst, inp, src, o, y))
                    where.append((b3, o, d))
    return W2, out, where


def _depth_leaves(v, prefix=()):
    if isinstance(v, dict):
        if not v and prefix:
            return
        for k, x in v.items():
            yield from _depth_leaves(x, prefix + (k,))
    else:
        yield prefix, v
