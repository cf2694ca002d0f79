"""Incremental parsing: a save costs the statements it changes, not the whole patch.

`parse(text, path, previous=old)` (parse.py) comes here. The text is cut into statements
without the `ast` module: a statement begins on a line whose first character is neither
a blank nor `#`, and runs to the next such line (its comments and blank lines included).
A piece that does not parse on its own (a bracket or a string left open, a line ending in
`\\`: the next line at column 0 continues it) is joined to the next one, as Python would.

Each statement's result is kept with what it read from the rest of the patch:
- the type of every name it reads or assigns to (that name's declaration, wherever it stands),
- which names are sinks, the neuron types it calls (the objects: a reloaded shader type
  with new ports is another object),
- the anonymous-neuron counts it starts from (`out:left/sine#2` is the second sine under
  `out:left`, counting earlier statements).
A statement of `previous` is reused when its text is the same and all of these still hold;
any other statement is parsed and checked alone (`_ChunkParser`, the same code as a full
parse, told the rest of the patch). Lines and columns are kept relative to the
statement, so a line inserted above shifts them without a re-parse. Then the pieces are
put together as `Parser.finish` does (rows in the same order; duplicate names, settings
and knob addresses across statements are found here).

Anything unusual, and every error, makes `parse` parse the whole text afresh: an error
is always the one a full parse gives (the first in source order, same file:line:col and
text), and a text this module cannot cut (a lone `\\r`, an indented first statement)
still parses. `tests/patch/test_incremental.py` checks incremental == fresh on generated
edit sequences.

A flat sum on one line (`out = 0.1*a + 0.2*b - c`) is read term by term (`_evaluate_sum`):
each term is kept with what it read, and a changed sum reads only the terms the last
parse's sum with the same target did not have.

The result also records, against `previous` (its `_base`), which rows of its W changed
(`_changes` {dst: W[dst] or None}), which entries of rows both have changed (`_entries`),
which neurons are new or changed (`decl_changes`) or dropped, computed here in the app's process;
`diff` (diff.py) uses it to build the new W and to diff only those entries. The app sends
the engine a `PatchChange` (`change_of`): the changes against the base the engine holds,
from which `PatchChange.patch(base)` rebuilds the Patch there.
"""
from __future__ import annotations

import ast
import bisect
import math
import re
import sys
import warnings
from itertools import accumulate

from ..core.registry import compatible
from .grammar import BUILTIN, ONE, SETTINGS, SINKS, Declared, Parser, Patch, stream_leaves, set_target

_START = re.compile(r"^(?=[^\s#])", re.M)        # where a statement may begin
_PREAMBLE = re.compile(r"(?:[ \t\f]*(?:#[^\n]*)?\r?\n)*")  # blank and comment lines only
_LONE_CR = re.compile(r"\r(?!\n)")
MERGE = 64  # pieces joined at most into one statement (a longer one: a full parse)

# A flat sum on one line: `target op term ± term ± ...` (comment and blank lines after it),
# each term a product of numbers and `name` / `name.port`, with unary signs. Python reads it
# as the left-leaning chain of its terms, each term exactly as it reads the term alone.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_FACTOR = rf"(?:[-+][ \t]*)*(?:{_NUM}|{_NAME}(?:\.{_NAME})?)(?![\w.])"
_TERM = rf"{_FACTOR}(?:[ \t]*[*/][ \t]*{_FACTOR})*"
_SUM = re.compile(rf"({_NAME}(?:\.{_NAME})?)[ \t]*(=|\+=|-=)[ \t]*({_TERM}(?:[ \t]*[-+][ \t]*{_TERM})*)"
                  rf"[ \t]*(?:#[^\r\n]*)?(?:\r?\n[ \t]*(?:#[^\r\n]*)?)*")
_TERMS = re.compile(rf"(?:^|[ \t]*([-+])[ \t]*)({_TERM})")
_SIGN = {"+": 1.0, "-": -1.0}


class _Fail(Exception):
    """This text is not for the incremental path: parse it afresh (and raise its error)."""


class _Stmt:
    """One statement's (or one line's `a; b`) result and what it read from the rest."""
    __slots__ = ("text", "line", "sites", "refs", "sinks", "types", "counts_in", "counts_out",
                 "neurons", "decl_rows", "ops", "settings", "knobs", "sum", "set_targets", "dflts")

    def shifted(self, line: int) -> "_Stmt":
        """The same result starting on `line` (new Declared objects: the old ones are shared)."""
        s = _Stmt()
        for k in _Stmt.__slots__:
            setattr(s, k, getattr(self, k))
        off = line - self.line
        s.line = line
        s.neurons = [(n, Declared(d.type, d.args, d.line + off, d.col)) for n, d in self.neurons]
        return s

    def defaults(self, types) -> list:
        """[((name, port), default weight)] of the neurons it declares, for the types table
        `types` (kept with the statement, which is reused from save to save)."""
        got = getattr(self, "dflts", None)
        if got is None or got[0] is not types:
            got = self.dflts = (types, [((name, port), w) for name, d in self.neurons
                                        for port, w in _type_defaults(types[d.type])])
        return got[1]


def _is_sink(name: str, types) -> bool:
    t = types.get(name)
    if t is not None:
        return t.pinned and not t.outputs and name not in BUILTIN
    return name in SINKS


def _resolve(name: str, sites: dict, types, _seen=None):
    """The type `Parser.type_of_ref` gives `name` in a patch whose declarations are `sites`
    {name: type name, or "=" and the expression of a named sum}, or None where it raises."""
    tn = sites.get(name)
    if tn is not None and tn.startswith("="):
        return _sum_type(name, tn[1:], sites, types, _seen or set())
    if tn is not None:
        t = types.get(tn)
        return t if t is not None and not t.pinned else None
    if name in BUILTIN:
        return types.get(name)
    if _is_sink(name, types):
        return types.get(name)
    return None


_SUM_EXPR: dict = {}  # a named sum's expression text -> its AST (as Parser.sum_type walks it)


def _sum_type(name: str, expr: str, sites: dict, types, seen: set):
    """`Parser.sum_type` from the declarations alone: `sum` where a stream in it is audio,
    `sum_kr` where all are numbers; None where the parse raises (its error is the full
    parse's to word)."""
    if name in seen:
        return types.get("sum")
    node = _SUM_EXPR.get(expr)
    if node is None:
        tree = _ast(expr)
        if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
            return None
        if len(_SUM_EXPR) > 4096:
            _SUM_EXPR.clear()
        node = _SUM_EXPR[expr] = tree.body[0].value
    kinds = set()
    seen = seen | {name}
    for leaf in stream_leaves(node):
        if isinstance(leaf, ast.Call):
            if not isinstance(leaf.func, ast.Name):
                continue
            t = types.get(leaf.func.id)
            if t is None:
                return None
            out = t.default_output
        elif isinstance(leaf, ast.Name):
            if _is_sink(leaf.id, types):
                continue
            t = _resolve(leaf.id, sites, types, seen)
            if t is None:
                return None
            out = t.default_output
        elif isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name):
            if _is_sink(leaf.value.id, types):
                continue
            t = _resolve(leaf.value.id, sites, types, seen)
            if t is None:
                return None
            a = leaf.attr
            out = a if t.output_kind(a) else a[:-1] if a.endswith("_") else None
        else:
            continue
        k = t.output_kind(out) if out else None
        if k:
            kinds.add(k)
    if "audio" in kinds:
        return types.get("sum")
    return types.get("sum_kr") if kinds == {"number"} else None


def _ast(text: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeError):
        return None


def _final(row: dict) -> dict:
    return {k: float(w) for k, w in row.items() if w != 0.0}


class _ChunkParser(Parser):
    """Parses one statement with the whole patch's declarations (`sites`) and anonymous
    counts given, recording every answer it got from outside the statement."""

    def __init__(self, text: str, sites: dict, counters: dict, types):
        super().__init__(text, "<statement>", types)
        self.all_sites = sites
        self.all_counters = counters
        self.refs: dict = {}
        self.sinks: dict = {}
        self.types: dict = {}
        self.counts_in: dict = {}
        self.counts_out: dict = {}

    def error_at(self, message, line, col):
        raise _Fail(message)

    def is_sink_name(self, name: str) -> bool:
        r = super().is_sink_name(name)
        self.sinks[name] = r
        return r

    def call_type(self, call):
        t = super().call_type(call)
        self.types[call.func.id] = t
        return t

    def pitch_fn(self, node):
        fn = super().pitch_fn(node)
        if fn:
            self.types[fn] = None  # a pitch function while no type takes its name
        return fn

    def type_of_ref(self, name: str, node):
        t = _resolve(name, self.all_sites, self.registry)
        if t is None:
            raise _Fail(name)
        self.refs[name] = t
        return t

    def type_of_decl(self, name: str):
        raise _Fail(name)  # asked only for an error's hint

    def anonymous_name(self, t) -> str:
        key = (self.prefix, t.name)
        if key not in self.counts_in:
            self.counts_in[key] = self.all_counters.get(key, 0)
        self.counts_out[key] = k = self.counts_out.get(key, 0) + 1
        return f"{self.prefix}/{t.name}#{self.counts_in[key] + k}"


def _sites_of(tree) -> list:
    out = []
    for st in tree.body:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            v = st.value
            if not isinstance(v, ast.Call):  # a named sum: its expression, its type found on use
                out.append((st.targets[0].id, "=" + ast.unparse(v)))
            elif isinstance(v.func, ast.Name):
                out.append((st.targets[0].id, v.func.id))
    return out


def _evaluate(text: str, line: int, tree, site_list: list, sites: dict, counters: dict, types) -> _Stmt:
    p = _ChunkParser(text, sites, counters, types)
    for st in tree.body:
        p.statement(st)
    s = _Stmt()
    s.text, s.line, s.sites = text, line, site_list
    s.refs, s.sinks, s.types = p.refs, p.sinks, p.types
    s.counts_in, s.counts_out = p.counts_in, p.counts_out
    s.neurons = sorted(p.patch.neurons.items(), key=lambda kv: (kv[1].line, kv[1].col))
    for _, d in s.neurons:
        d.line += line - 1
    s.decl_rows = []
    for key, (lin, _) in p.decl_rows.items():
        row = lin.row()
        s.decl_rows.append((key, row, _final(row)))
    s.ops = []
    s.set_targets = []  # what its `=` statements set (Parser.finish: twice is an error)
    for dst, port, op, lin, st in p.ops:
        row = lin.row()
        s.ops.append(((dst, port), op, row, _final(row) if op == "=" else None))
        if op == "=" and set_target(st) not in s.set_targets:
            s.set_targets.append(set_target(st))
    s.settings = [(k, p.patch.settings[k]) for k in p.setting_lines]
    s.knobs = list(p.patch.knobs.items())
    s.sum = None
    return s


_SUM_UNIT = object()  # a unit's tree, for a statement that _SUM matched (read term by term)


def _sum_unit(t: str):
    """(target, op, [(sign, term text)]) when `t` is a flat sum `_evaluate_sum` may read term
    by term; None otherwise. Python builds the AST of a sum as deep as its chain of terms and
    fails past 3x the recursion limit less 3x the stack's depth (3.11): a sum deeper than 1.5x
    the limit is left to the whole-statement path, where the fresh parse's outcome decides."""
    m = _SUM.fullmatch(t)
    if m is None:
        return None
    if "." not in m.group(1) and m.group(1) not in SINKS:
        return None  # `mix = a + b`: a named sum declares a neuron (the whole-statement path)
    pairs = _TERMS.findall(m.group(3))
    if len(pairs) + max(len(tt) for _, tt in pairs) > 1.5 * sys.getrecursionlimit():
        return None
    return m.group(1), m.group(2), pairs


def _evaluate_sum(text: str, line: int, unit, sites: dict, old, types, same: bool = False,
                  changed: set | None = None) -> _Stmt:
    """A flat sum statement, each term reused from `old` (the previous patch's sum with the
    same target, its terms checked unless `same`; with `changed`, the names whose
    declarations changed, only the terms naming one) or read alone by the same code as a
    full parse; the terms are then added up exactly as `Parser.linear` adds up the chain
    (same order, same overflow checks)."""
    target, op, pairs = unit
    p = _ChunkParser(text, sites, {}, types)
    tree = _ast(target)
    if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        raise _Fail("target")
    tnode = tree.body[0].value
    if isinstance(tnode, ast.Name):
        name = tnode.id
        if not p.is_sink_name(name):
            raise _Fail("not a sink")  # `name = sum` is an error: the full parse words it
        t = p.sink_type(name, tnode)
        dsts = [(name, port, t.inputs[port].kind) for port in t.inputs]
    elif isinstance(tnode, ast.Attribute) and isinstance(tnode.value, ast.Name):
        dsts = [p.destination(tnode)]
    else:
        raise _Fail("target")
    refs, sinks = p.refs, p.sinks
    cache = old[2] if old is not None and old[1] == dsts else {}
    terms: dict = {}
    results = []
    for sign, tt in pairs:
        r = cache.get(tt)
        if r is not None and not same and (changed is None or not changed.isdisjoint(r[3])):
            for n, ty in r[3].items():
                if _resolve(n, sites, types) is not ty:
                    r = None
                    break
            else:
                for n, b in r[4].items():
                    if _is_sink(n, types) != b:
                        r = None
                        break
        if r is None:
            try:
                node = ast.parse(tt, mode="eval").body
            except (SyntaxError, ValueError):
                raise _Fail("syntax") from None
            p.refs, p.sinks = {}, {}
            lin = p.linear(node, dsts)
            r = (lin.terms, lin.const, lin.const_node is not None, p.refs, p.sinks)
        terms[tt] = r
        results.append((sign, r))
        refs.update(r[3])
        sinks.update(r[4])
    # the chain, added up as Parser.linear adds it
    first = results[0][1]
    acc, const, has_const = dict(first[0]), first[1], first[2]
    for sign, r in results[1:]:
        sg = _SIGN[sign]
        for k, w in r[0].items():
            acc[k] = v = acc.get(k, 0.0) + sg * w
            if not math.isfinite(v):
                raise _Fail("overflow")
        const += sg * r[1]
        has_const = has_const or r[2]
        if not math.isfinite(const):
            raise _Fail("overflow")
    if has_const:  # Parser.expr: a constant feeds every destination as a number
        for dst, port, dk in dsts:
            if not compatible(dk, "number"):
                raise _Fail("kind")
    s = _Stmt()
    s.text, s.line, s.sites = text, line, []
    s.refs, s.sinks, s.types = refs, sinks, {}
    s.counts_in, s.counts_out = {}, {}
    s.neurons, s.decl_rows, s.settings, s.knobs = [], [], [], []
    if has_const:
        acc[ONE] = acc.get(ONE, 0.0) + const
    fin = _final(acc) if op == "=" else None  # one row for every port of a sink (rows are not
    s.ops = [((dst, port), op, acc, fin) for dst, port, _ in dsts]  # changed in place)
    s.set_targets = [] if op != "=" else [tnode.id if isinstance(tnode, ast.Name) else dsts[0][:2]]
    s.sum = (target, dsts, terms)
    return s


def _valid(s: _Stmt, sites: dict, counters: dict, types, same: bool = False,
           changed: set | None = None) -> bool:
    """Whether `s` holds here (`same`: its names resolve as they did: only counts can differ;
    `changed`: the types are the same and only these names may resolve otherwise)."""
    for key, n in s.counts_in.items():
        if counters.get(key, 0) != n:
            return False
    if same or (changed is not None and changed.isdisjoint(s.refs)):
        return True
    return _holds(s, sites, types)


def _holds(s: _Stmt, sites: dict, types) -> bool:
    """Whether what `s` read still resolves as it did: its names, sinks and types."""
    for name, t in s.refs.items():
        if _resolve(name, sites, types) is not t:
            return False
    for name, b in s.sinks.items():
        if _is_sink(name, types) != b:
            return False
    for tn, t in s.types.items():
        if types.get(tn) is not t:
            return False
    return True


def _cuttable(text: str) -> bool:
    """Whether the text may be cut into statements here (no lone carriage return, NUL or lone
    surrogate: those go to the full parse)."""
    if "\r" in text and _LONE_CR.search(text) or "\0" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")  # a lone surrogate (even in a comment) is Python's error
        except UnicodeEncodeError:
            return False
    return True


def _pieces(text: str, a: int = 0, b: int | None = None, line: int | None = None):
    """[(line, piece)]: the text (or text[a:b], starting on `line`) cut where statements may
    begin; None if it cannot be cut (the whole text: the part before the first statement
    must be blank and comment lines only)."""
    b = len(text) if b is None else b
    starts = [m.start() for m in _START.finditer(text, a, b)]
    if not starts:
        return None
    if line is None:
        if starts[0] and not _PREAMBLE.fullmatch(text, 0, starts[0]):
            return None
        line = 1 + text.count("\n", 0, starts[0])
    elif starts[0] != a:
        return None
    out = []
    for s, e in zip(starts, starts[1:] + [b]):
        piece = text[s:e]
        out.append((line, piece))
        line += piece.count("\n")
    return out


def parse_incremental(text, path, previous: Patch, types) -> Patch | None:
    """`text` parsed reusing `previous`'s statements; None where a full parse must decide."""
    if not isinstance(text, str) or not isinstance(previous, Patch):
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return _parse(text, str(path), previous, types)
    except (_Fail, RecursionError, MemoryError):
        return None
    except Exception:  # a type's own code raised: the full parse reports it
        return None


def _units(pieces, cache, trees: dict) -> list | None:
    """The statements of `pieces` [(line, piece)]: a piece, or pieces joined until they parse
    (a flat sum on one line is a statement of its own): [(line, text, cached results or
    None, tree: an ast, _sum_unit's parts, or None)]; None where pieces run out first.
    `trees`: the trees read so far in this parse, by text (read once though asked twice)."""
    units = []
    i, n = 0, len(pieces)
    while i < n:
        line, t = pieces[i]
        cands = cache.get(t)
        tree = None
        j = i
        while cands is None:
            tree = trees.get(t, trees)
            if tree is trees:
                tree = trees[t] = _sum_unit(t) or _ast(t)
            if tree is not None:
                break
            j += 1
            if j >= n or j - i >= MERGE:
                return None
            t += pieces[j][1]
            cands = cache.get(t)
        units.append((line, t, cands, tree))
        i = j + 1
    return units


def _read(units, site_lists, sites, counters, table, sums, same, changed) -> list | None:
    """Each unit's result, in source order: a cached one that still holds, else read (the
    counts of anonymous neurons carried along in `counters`); None where a unit no longer
    parses alone."""
    out = []
    for (line, t, cands, tree), sl in zip(units, site_lists):
        s = None
        for c in cands or ():
            if _valid(c, sites, counters, table, same, changed):
                s = c if c.line == line else c.shifted(line)
                break
        if s is None:
            if tree is None:
                tree = _sum_unit(t) or _ast(t)
                if tree is None:
                    return None
            if type(tree) is tuple:
                s = _evaluate_sum(t, line, tree, sites, sums.get(tree[0]), table, same, changed)
            else:
                s = _evaluate(t, line, tree, sl, sites, counters, table)
        for key, k in s.counts_out.items():
            counters[key] = counters.get(key, 0) + k
        out.append(s)
    return out


def _parse(text: str, path: str, prev: Patch, table) -> Patch | None:
    if not _cuttable(text):
        return None
    trees: dict = {}
    patch = _parse_region(text, path, prev, table, trees)
    if patch is not None:
        return patch
    pieces = _pieces(text)
    if pieces is None:
        return None
    cache = prev.stmt_cache or {}
    sums = prev.sums or {}
    # 1. statements: a piece, or pieces joined until they parse
    units = _units(pieces, cache, trees)
    if units is None:
        return None
    # 2. the declarations, as Parser.find_site finds them
    sites: dict = {}
    site_lists = []
    for line, t, cands, tree in units:
        sl = cands[0].sites if cands else [] if type(tree) is tuple else _sites_of(tree)
        site_lists.append(sl)
        for name, tn in sl:
            if name not in sites and name not in BUILTIN and not _is_sink(name, table):
                sites[name] = tn
    # what a statement's names resolve to is a function of the declarations and the types
    # loaded: where both are prev's, every result prev kept resolves as it did there
    types = dict(table)
    pctx = prev.context
    same_types = (pctx is not None and len(pctx[1]) == len(types)
                  and all(pctx[1].get(k) is v for k, v in types.items()))
    same = same_types and pctx[0] == sites
    # with the same types, a name resolves as it did unless its declaration changed (or a
    # named sum's, whose type follows its terms': then every name is checked, as before)
    changed = None
    if same_types and not same:
        ps = pctx[0]
        changed = {n for n, tn in sites.items() if ps.get(n) != tn}
        changed.update(n for n in ps if n not in sites)
        if any(tn.startswith("=") for tn in sites.values()) or any(tn.startswith("=") for tn in ps.values()):
            changed = None
    # 3. each statement reused or parsed, in source order
    counters: dict = {}
    stmts = _read(units, site_lists, sites, counters, table, sums, same, changed)
    if stmts is None:
        return None
    patch = _assemble(stmts, path, table)
    new_cache: dict = {}
    new_sums: dict = {}
    for s in stmts:
        new_cache.setdefault(s.text, []).append(s)
        if s.sum is not None:
            new_sums.setdefault(s.sum[0], s.sum)
    patch.stmts, patch.stmt_cache, patch.sums, patch.context = stmts, new_cache, new_sums, (sites, types)
    starts = list(accumulate((len(s.text) for s in stmts), initial=len(text) - sum(len(t) for _, t in pieces)))
    patch.spans = (text, starts)
    _record_changes(patch, prev)
    return patch


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of a and b (bisection on slices: C speed)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, most: int) -> int:
    """The length of the longest common suffix of a and b, at most `most`."""
    lo, hi = 0, most
    na, nb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[na - mid:na - lo] == b[nb - mid:nb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _parse_region(text: str, path: str, prev: Patch, table, trees: dict) -> Patch | None:
    """`text` read again only where it differs from the text `prev` was read from: the
    statements before and after the changed region are prev's (moved by the lines the
    region gained or lost), the region's statements are found and read as `_parse` does.
    Declarations the region adds, drops or changes are applied to prev's by change, and
    the statements outside it that read a changed name are checked again. None where the
    general path must decide: prev was not read by statements, the change reaches the text
    before the first statement, the types changed, a named sum is in the patch, a name is
    declared in the region and outside it, a statement outside reads a changed name
    otherwise, or the counts of anonymous neurons before the statements after the region
    change (the trees read for the region are left in `trees` for that path)."""
    spans, stmts0, pctx = prev.spans, prev.stmts, prev.context
    if spans is None or stmts0 is None or pctx is None or not stmts0:
        return None
    src, offs = spans
    if text == src:
        return None
    types = dict(table)
    if len(pctx[1]) != len(types) or any(pctx[1].get(k) is not v for k, v in types.items()):
        return None
    n0, n1 = len(src), len(text)
    p = _common_prefix(src, text)
    if p < offs[0]:
        return None
    q = _common_suffix(src, text, min(n0, n1) - p)
    last = len(stmts0) - 1
    # the statements the change reaches, and one on each side (a change at a statement's
    # first character may join it to the one before; at its last, to the one after)
    i0 = max(0, min(bisect.bisect_right(offs, p) - 1, last) - 1)
    i1 = min(last, max(bisect.bisect_right(offs, n0 - q - 1) - 1, i0) + 1)
    a, b = offs[i0], offs[i1 + 1] + n1 - n0  # the region in `text`
    if b < a:
        return None
    pieces = _pieces(text, a, b, stmts0[i0].line)
    if pieces is None:
        return None
    delta = text.count("\n", a, b) - src.count("\n", offs[i0], offs[i1 + 1])  # lines gained
    cache = prev.stmt_cache or {}
    sums = prev.sums or {}
    units = _units(pieces, cache, trees)
    if units is None:
        return None  # (a statement that runs on past the region: the general path)
    old = stmts0[i0:i1 + 1]
    site_lists = [cands[0].sites if cands else [] if type(tree) is tuple else _sites_of(tree)
                  for _, _, cands, tree in units]
    sites, same, changed = pctx[0], True, None
    got = _region_sites(site_lists, old, pctx[0], table)
    if got is None:
        return None  # a named sum, or a name declared in the region and elsewhere
    if got is not True:  # declarations came, went or changed in the region
        sites, changed = got
        same = False
        for st in stmts0[:i0] + stmts0[i1 + 1:]:  # the others must read them as they did
            if not changed.isdisjoint(st.refs) and not _holds(st, sites, table):
                return None
    counters: dict = {}
    for st in stmts0[:i0]:
        for key, k in st.counts_out.items():
            counters[key] = counters.get(key, 0) + k
    after = dict(counters)
    for st in old:
        for key, k in st.counts_out.items():
            after[key] = after.get(key, 0) + k
    mid = _read(units, site_lists, sites, counters, table, sums, same, changed)
    if mid is None:
        return None
    if {k: v for k, v in counters.items() if v} != {k: v for k, v in after.items() if v}:
        return None  # the statements after would name their anonymous neurons otherwise
    tail = stmts0[i1 + 1:]
    if delta:
        tail = [st.shifted(st.line + delta) for st in tail]
    stmts = stmts0[:i0] + mid + tail
    patch = _assemble(stmts, path, table)
    new_cache = dict(cache)  # (as many results per text as statements with it)
    for st in old:
        got = new_cache.get(st.text)
        if got:
            k = next((k for k, c in enumerate(got) if c is st), 0)
            got = got[:k] + got[k + 1:]
            if got:
                new_cache[st.text] = got
            else:
                del new_cache[st.text]
    for st in mid:
        new_cache[st.text] = [st] + new_cache.get(st.text, [])
    new_sums: dict = {}
    for st in stmts:  # (few statements are sums; those that are, first come first kept)
        if st.sum is not None:
            new_sums.setdefault(st.sum[0], st.sum)
    patch.stmts, patch.stmt_cache, patch.sums, patch.context = stmts, new_cache, new_sums, (sites, pctx[1])
    patch.spans = (text, offs[:i0] + list(accumulate((len(st.text) for st in mid), initial=a))
                   + [o + n1 - n0 for o in offs[i1 + 2:]])
    _record_changes(patch, prev)
    return patch


def _region_sites(site_lists, old, ps: dict, table):
    """The declarations after the region's statements (`site_lists`) replaced `old`: True
    where they declare what those did; else (declarations, the names whose declaration
    changed); None where the general path must find them: a named sum (its type follows
    its terms', so every name is checked), or a name the region declares that is declared
    outside it too (an error the full parse words)."""
    new_sites = [x for sl in site_lists for x in sl]
    old_sites = [x for st in old for x in st.sites]
    if new_sites == old_sites:
        return True
    if any(tn.startswith("=") for _, tn in new_sites) or any(tn.startswith("=") for tn in ps.values()):
        return None
    gone = {n: tn for n, tn in old_sites if n not in BUILTIN and not _is_sink(n, table)}
    came: dict = {}
    for n, tn in new_sites:
        if n not in came and n not in BUILTIN and not _is_sink(n, table):
            came[n] = tn
    sites = dict(ps)
    for n, tn in gone.items():
        if sites.get(n) != tn:
            return None
        del sites[n]
    for n, tn in came.items():
        if n in sites:
            return None
        sites[n] = tn
    return sites, {n for n in gone.keys() | came.keys() if ps.get(n) != sites.get(n)}


def _assemble(stmts: list, path: str, types) -> Patch:
    """The Patch, as Parser.finish builds it from the statements' results."""
    neurons: dict = {}
    rows: dict = {}   # (dst, port) -> (row, final row or None)
    settings = dict(SETTINGS)
    set_seen: set = set()
    knobs: dict = {}
    for s in stmts:
        for name, d in s.neurons:
            if name in neurons:
                raise _Fail("duplicate name")
            neurons[name] = d
        for key, row, fin in s.decl_rows:
            rows[key] = (row, fin)
        for k, v in s.settings:
            if k in set_seen:
                raise _Fail("setting twice")
            set_seen.add(k)
            settings[k] = v
        for a, name in s.knobs:
            if a in knobs:
                raise _Fail("knob address twice")
            knobs[a] = name
    targets_seen: set = set()
    for s in stmts:
        for target in s.set_targets:
            if target in targets_seen:
                raise _Fail("set twice")  # an error: the full parse words it
            targets_seen.add(target)
        for key, op, row, fin in s.ops:
            if op == "=":
                rows[key] = (row, fin)
                continue
            cur = rows.get(key)
            acc = dict(cur[0]) if cur is not None else {}
            sign = 1.0 if op == "+=" else -1.0
            for k, w in row.items():
                acc[k] = v = acc.get(k, 0.0) + sign * w
                if not math.isfinite(v):
                    raise _Fail("overflow")
            rows[key] = (acc, None)
    final = {key: fin if fin is not None else _final(row) for key, (row, fin) in rows.items()}
    defaults: dict = {}
    for s in stmts:
        for key, w in s.defaults(types):
            if key not in rows:
                defaults[key] = w
    return Patch(neurons=neurons, rows=final, settings=settings, knobs=knobs, path=path,
                 defaults=defaults)


_DEFAULTS: dict = {}  # id(type) -> (type, [(port, default weight)])


def _type_defaults(t) -> list:
    got = _DEFAULTS.get(id(t))
    if got is None or got[0] is not t:
        ports = [] if t.variadic else [(p, float(x.default)) for p, x in t.inputs.items() if x.default]
        got = _DEFAULTS[id(t)] = (t, ports)
    return got[1]


def _wrow(row: dict | None, default) -> dict | None:
    """A row of W {src: {out: w}} from a patch row {(src, out): w} or a default weight."""
    if row:
        out: dict = {}
        for (src, o), w in row.items():
            out.setdefault(src, {})[o] = w
        return out
    if default is not None:
        return {"one": {"out": default}}
    return None


def _record_changes(patch: Patch, prev: Patch) -> None:
    """What changed against prev (found by identity where a statement was reused, by value
    elsewhere): rows set whole or removed, rows whose entries changed (`edits` {key: {(src,
    out): w or None}}, for rows both patches have), defaults, declarations; patch's W from
    prev's with those rows (`_build_w`). Kept as patch.record, for `PatchChange`."""
    rows, dflt = patch.rows, patch.defaults
    prows, pdflt = prev.rows, prev.defaults
    if not prows and not pdflt:  # a first parse (previous=Patch()): no base worth sending
        patch.matrix()
        return
    set_rows: dict = {}
    edits: dict = {}
    set_dflt: dict = {}
    born = 0  # rows prev did not have
    for key, r in rows.items():
        o = prows.get(key)
        if o is r:
            continue
        if o is None:
            set_rows[key] = r
            born += 1
        elif o != r:
            if o and r:
                edits[key] = {k: r.get(k) for k, _ in r.items() ^ o.items()}
            else:
                set_rows[key] = r
    if len(prows) != len(rows) - born:
        for key in prows:  # (every row of prev is here when the counts say so)
            if key not in rows:
                set_rows[key] = None
    if dflt != pdflt:
        for key, w in dflt.items():
            if pdflt.get(key) != w:
                set_dflt[key] = w
        for key in pdflt:
            if key not in dflt:
                set_dflt[key] = None
    nn, pn = patch.neurons, prev.neurons
    decl: dict = {}
    moved: dict = {}
    for name, d in nn.items():
        o = pn.get(name)
        if o is d:
            continue
        if o is None or o.type != d.type or not _same_args(o.args, d.args):
            decl[name] = d
        elif o.line != d.line or o.col != d.col:
            moved[name] = (d.line, d.col)
    if len(nn) == len(pn) and list(nn) == list(pn):
        order, dropped = None, []
    else:
        order, dropped = list(nn), [n for n in pn if n not in nn]
    _build_w(patch, prev, set_rows, edits, set_dflt)
    patch.decl_changes = decl
    patch.dropped = dropped
    patch.record = (decl, moved, order, set_rows, edits, set_dflt)


def _same_args(a: dict, b: dict) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # noqa: BLE001  (arrays or such: count it as a change)
        return False


def _build_w(patch: Patch, prev: Patch, set_rows: dict, edits: dict, set_dflt: dict) -> None:
    """patch's W, _changes {dst: W[dst] or None} and _entries {(dst, port): edits} from
    prev's W and the rows that changed (an edited row: prev's W row with those entries set)."""
    rows, dflt = patch.rows, patch.defaults
    pw = prev.matrix()
    w = dict(pw)
    copied: dict = {}
    entries: dict = {}
    for key in (*set_rows, *edits, *set_dflt):
        d, p = key
        sub = copied.get(d)
        if sub is None:
            sub = copied[d] = dict(pw.get(d, {}))
        e = edits.get(key)
        if e is not None:
            wr = dict(sub[p])
            for (src, out), x in e.items():
                inner = wr.get(src)
                inner = dict(inner) if inner is not None else {}
                if x is None:
                    inner.pop(out, None)
                else:
                    inner[out] = x
                if inner:
                    wr[src] = inner
                else:
                    wr.pop(src, None)
            sub[p] = wr
            entries[key] = e
            continue
        r = _wrow(rows.get(key), dflt.get(key))
        if r is None:
            sub.pop(p, None)
        else:
            sub[p] = r
    changes = {}
    for d, sub in copied.items():
        if sub:
            w[d] = changes[d] = sub
        else:
            w.pop(d, None)
            changes[d] = None
    patch.w_built = w
    patch.changes = changes
    patch.entry_changes = entries
    patch.base_serial = prev.serial


class PatchChange:
    """A Patch told by what changed against the Patch it was parsed against (its base): what
    the app sends the engine, whose session holds that base (so the engine unpickles the
    change, not the patch). `patch(base)` rebuilds the Patch there, its W and change record
    included (as `_record_changes` made them), or gives None when `base` is another Patch."""
    __slots__ = ("base", "serial", "path", "settings", "knobs", "decl", "moved", "order",
                 "dropped", "set_rows", "edits", "set_dflt")

    def __init__(self, patch: Patch):
        self.base, self.serial = patch.base_serial, patch.serial
        self.path, self.settings, self.knobs = patch.path, patch.settings, patch.knobs
        self.decl, self.moved, self.order, self.set_rows, self.edits, self.set_dflt = patch.record
        self.dropped = patch.dropped

    def __getstate__(self):
        return tuple(getattr(self, k) for k in PatchChange.__slots__)

    def __setstate__(self, state):
        for k, v in zip(PatchChange.__slots__, state):
            setattr(self, k, v)

    def fits(self, base) -> bool:
        return isinstance(base, Patch) and base.serial == self.base

    @property
    def call_size(self) -> int:
        """How much there is to apply, in changes: the engine's guess of what the call
        costs scales with it (dmmlive/drivers/audio.py, `_size`)."""
        return (len(self.decl) + len(self.set_rows) + len(self.edits) + len(self.set_dflt)
                + len(self.dropped or ()) + len(self.moved))

    @property
    def declares(self) -> bool:
        """Whether neurons come, go or change type: the plan is compiled again after it."""
        return bool(self.decl or self.dropped)

    def patch(self, base: Patch) -> Patch | None:
        if not self.fits(base):
            return None
        bn, decl = base.neurons, self.decl
        if self.order is None:
            neurons = dict(bn)
            neurons.update(decl)
        else:
            neurons = {n: decl[n] if n in decl else bn[n] for n in self.order}
        for n, (line, col) in self.moved.items():
            d = neurons[n]
            neurons[n] = Declared(d.type, d.args, line, col)
        rows = dict(base.rows)
        for key, r in self.set_rows.items():
            if r is None:
                del rows[key]
            else:
                rows[key] = r
        for key, e in self.edits.items():
            r = rows[key] = dict(rows[key])
            for k, x in e.items():
                if x is None:
                    del r[k]
                else:
                    r[k] = x
        defaults = dict(base.defaults)
        for key, x in self.set_dflt.items():
            if x is None:
                del defaults[key]
            else:
                defaults[key] = x
        p = Patch(neurons=neurons, rows=rows, settings=dict(self.settings), knobs=dict(self.knobs),
                  path=self.path, defaults=defaults)
        p.serial = self.serial
        _build_w(p, base, self.set_rows, self.edits, self.set_dflt)
        p.decl_changes, p.dropped = decl, self.dropped
        return p


def change_of(patch: Patch):
    """What to send the engine for `patch`: its PatchChange when it was parsed against a base
    (the engine's session holds it when it applied the base last), else the Patch itself."""
    return PatchChange(patch) if patch.record is not None else patch
