"""Evolve a patch's weights toward a sound (`dmmlive evolve`): OpenAI-style evolution
strategies (antithetic pairs, rank-normalised fitness, Adam on the step), each candidate
an offline render (a Ray task, or this process with `workers=1`), its fitness a
log-spectrogram distance to the target.

The weights are named as `dst.port` (the port's constant, or its one term) or
`dst.port:src[.out]` (that term). Each is found in the patch's text: the number literal
that writes it (the one whose change changes that weight). A candidate is the text with
those literals changed, relatively: x·(1 + σ·ε), so weights of any scale evolve alike
(in the log of their size). The result is written as the input text with the new
numbers in place: the same layout and comments.

Determinism: the candidates come from a numpy Generator seeded with `seed`, renders are
deterministic, the update sums in a fixed order: the same job gives the same result on
one process or on Ray, with any number of workers."""
from __future__ import annotations

import ast
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.errors import BadArgument

EPS = 1e-3            # the floor under magnitudes before the log (-60 dB: leakage and side lobes do not rule)
BLURS = (1, 9, 65)    # widths (bins) of the spectrum blurs compared: the wide ones give a slope from afar
NPERSEG = 1024


# ---- where the weights are written ------------------------------------------------------------
@dataclass
class Site:
    """A weight the evolution changes: its entry (dst, port, src, out), and the number
    literal of the text that writes it (start and end character offsets, value)."""
    spec: str
    entry: tuple
    start: int
    end: int
    value: float


def literals(text: str) -> list:
    """[(start, end, value)] of the text's number literals, in order (character offsets)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    starts, pos = [], 0
    lines = text.splitlines(keepends=True)
    for line in lines:
        starts.append(pos)
        pos += len(line)

    def offset(lineno, col):  # ast's columns count UTF-8 bytes
        line = lines[lineno - 1]
        return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            out.append((offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset),
                        float(node.value)))
    return sorted(out)


def with_values(text: str, sites, values) -> str:
    """The text with each site's literal replaced by its new value (the rest as it is)."""
    out, last = [], 0
    for s, v in sorted(zip(sites, values), key=lambda sv: sv[0].start):
        out.append(text[last:s.start])
        out.append(number(v))
        last = s.end
    out.append(text[last:])
    return "".join(out)


def number(v: float) -> str:
    """A float as the text writes it: exact (repr), with no more digits than needed."""
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _rows(text, path, types):
    from .patch.parse import parse
    return parse(text, path, types=types).rows


def entry_of(spec: str, rows: dict) -> tuple:
    """The entry (dst, port, src, out) a weight's name means in a patch's rows."""
    from .patch.parse import ONE
    name, _, src = spec.partition(":")
    dst, dot, port = name.strip().partition(".")
    if not dot or not dst or not port:
        raise BadArgument(f"--weights: {spec!r}: name a weight as dst.port or dst.port:src")
    row = rows.get((dst, port))
    if row is None:
        raise BadArgument(f"--weights: {spec!r}: the patch writes no {dst}.{port}")
    if src:
        s, _, o = src.strip().partition(".")
        hits = [k for k in row if k[0] == s and (not o or k[1] == o)]
        if len(hits) != 1:
            raise BadArgument(f"--weights: {spec!r}: {dst}.{port} has no one term from {src}; its terms: "
                              + ", ".join(f"{a}.{b}" for a, b in row))
        return (dst, port) + hits[0]
    if ONE in row:
        return (dst, port) + ONE
    if len(row) == 1:
        return (dst, port) + next(iter(row))
    raise BadArgument(f"--weights: {spec!r}: {dst}.{port} has several terms ("
                      + ", ".join(f"{a}.{b}" for a, b in row) + f"): name one, as {dst}.{port}:{next(iter(row))[0]}")


def find_sites(text: str, path: str, specs, types=None) -> list:
    """The Site of each weight named in `specs`: the first literal whose change changes it."""
    rows = _rows(text, path, types)
    lits = literals(text)
    sites = []
    for spec in specs:
        e = entry_of(spec, rows)
        w0 = rows[e[:2]][e[2:]]
        found = None
        for a, b, v in lits:
            probe = text[:a] + number(v * 1.25 + 0.5) + text[b:]
            try:
                w1 = _rows(probe, path, types).get(e[:2], {}).get(e[2:])
            except Exception:  # noqa: BLE001  (a literal the patch cannot take changed: not this one)
                continue
            if w1 != w0:
                found = Site(spec, e, a, b, v)
                break
        if found is None:
            raise BadArgument(f"--weights: {spec!r}: no number in the text writes {'.'.join(e[:2])}'s weight "
                              f"from {'.'.join(e[2:])} ({w0:g}): write it as a number")
        if found.value == 0:
            raise BadArgument(f"--weights: {spec!r} is written as 0: a relative change cannot move it")
        if any(s.start == found.start for s in sites):
            raise BadArgument(f"--weights: {spec!r} is written by the same number as another weight named")
        sites.append(found)
    return sites


# ---- fitness ----------------------------------------------------------------------------------------
def features(sound: np.ndarray, rate: int) -> list:
    """Log-magnitude spectrograms of a (n, 2) sound, sharp and blurred along frequency."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import stft
    x = np.asarray(sound, np.float64).reshape(len(sound), -1).T
    _, _, z = stft(x, fs=rate, nperseg=NPERSEG, noverlap=NPERSEG // 2, boundary=None, padded=False)
    mag = np.abs(z)
    return [np.log(EPS + (mag if w == 1 else uniform_filter1d(mag, w, axis=-2, mode="constant"))) for w in BLURS]


def distance(a: list, b: list) -> float:
    """The log-spectrogram distance: mean absolute difference, summed over the blurs."""
    return float(sum(np.mean(np.abs(x - y)) for x, y in zip(a, b)))


def render_text(text: str, path: str, rate: int, samples: int) -> np.ndarray:
    """`samples` frames of a patch text's sound, rendered offline (no pictures)."""
    from .log import machine_from_text
    m = machine_from_text(text, path, rate=rate, images=False)
    out = np.zeros((samples, 2), np.float32)
    done = 0
    while done < samples:
        m.tick()
        s = m.sound()[:samples - done]
        out[done:done + len(s)] = s
        done += len(s)
    return out


def evaluate(text: str, path: str, sites: list, candidates: list, rate: int, samples: int, target: list) -> list:
    """A task: the distance to the target of each candidate (values of the sites)."""
    import dmmlive  # noqa: F401  (the type table)
    out = []
    for values in candidates:
        try:
            sound = render_text(with_values(text, sites, values), path, rate, samples)
            d = distance(features(sound, rate), target)
        except Exception:  # noqa: BLE001  (a candidate the patch refuses, e.g. out of a port's range)
            d = math.inf
        out.append(d if math.isfinite(d) else math.inf)
    return out


def read_target(path, rate: int) -> np.ndarray:
    """A WAV file as (n, 2) float at `rate` (mono doubled, resampled if need be)."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly
    try:
        r, x = wavfile.read(str(path))
    except (OSError, ValueError) as e:
        raise BadArgument(f"--target {path}: cannot read it as a WAV file ({e})") from None
    if x.dtype.kind == "i":
        x = x / float(np.iinfo(x.dtype).max)
    elif x.dtype.kind == "u":
        x = (x - 128.0) / 128.0
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
    if r != rate:
        g = math.gcd(int(r), int(rate))
        x = resample_poly(x, rate // g, r // g, axis=0)
    return x


def ranks(f: np.ndarray) -> np.ndarray:
    """Centred ranks in [-0.5, 0.5] (the best, the smallest distance: 0.5); ties by order."""
    r = np.empty(len(f))
    r[np.argsort(-f, kind="stable")] = np.arange(len(f))
    return r / max(1, len(f) - 1) - 0.5


@dataclass
class Result:
    text: str          # the patch text with the best weights
    values: list       # the best literal values
    distance: float    # its distance
    history: list      # the best distance after each generation


def evolve(patch, target, weights, *, population: int = 32, sigma: float = 0.05, generations: int = 50,
           seconds: float | None = None, seed: int = 0, lr: float = 0.1, workers: int | None = 1,
           address: str | None = None, rate: int = 48000, say=None, types=None) -> Result:
    """Evolve the weights named in `weights` (a list, or a comma-separated string) of the patch
    file `patch` toward the sound of `target` (a WAV file, or an (n, 2) array at `rate`).
    `workers`: 1 without `address`, this process (no Ray); N, N Ray workers here; None, Ray
    on all this machine's cores (`dmmlive evolve`'s default), or on the cluster at `address`."""
    from .distributed import check_workers
    if isinstance(weights, str):
        weights = [w.strip() for w in weights.split(",") if w.strip()]
    if not weights:
        raise BadArgument("--weights: name at least one weight (dst.port, dst.port:src)")
    if isinstance(population, bool) or not isinstance(population, int) or population < 2 or population % 2:
        raise BadArgument(f"--population must be an even number >= 2 (antithetic pairs), got {population!r}")
    if not (isinstance(sigma, (int, float)) and 0 < sigma < 1):
        raise BadArgument(f"--sigma must be between 0 and 1 (a relative change), got {sigma!r}")
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise BadArgument(f"--generations must be a whole number >= 1, got {generations!r}")
    check_workers(workers, address, "evolve")  # Ray's absence told before any work
    path = str(patch)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgument(f"cannot read patch {path}: {getattr(e, 'strerror', None) or e}") from None
    sites = find_sites(text, path, weights, types)
    tgt = read_target(target, rate) if not isinstance(target, np.ndarray) else np.asarray(target, np.float64)
    samples = len(tgt) if seconds is None else min(len(tgt), int(round(seconds * rate)))
    if samples < NPERSEG:
        raise BadArgument(f"the target holds {samples} samples to compare: {NPERSEG} at least")
    tfeat = features(tgt[:samples], rate)

    rng = np.random.default_rng(seed)
    x0 = np.array([s.value for s in sites])
    u = np.zeros(len(sites))          # log of each value's factor from the start
    m1, m2 = np.zeros_like(u), np.zeros_like(u)
    b1, b2 = 0.9, 0.999
    n_tasks = max(1, min(population + 1, workers or (8 if address else os.cpu_count() or 1)))
    best = (math.inf, x0.copy())
    history = []
    with _pool(workers, address) as run:
        for g in range(generations):
            half = rng.standard_normal((population // 2, len(sites)))
            eps = np.concatenate([half, -half])
            center = x0 * np.exp(u)
            # the search narrows as it goes (cosine, to a tenth of sigma): the last steps are fine ones
            sg = sigma * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * g / generations)))
            cands = [center] + [x0 * np.exp(u + sg * e) for e in eps]
            chunks = [list(range(i, len(cands), n_tasks)) for i in range(n_tasks)]
            jobs = [(text, path, sites, [cands[i].tolist() for i in ch], rate, samples, tfeat) for ch in chunks]
            dist = np.empty(len(cands))
            for ch, got in zip(chunks, run(evaluate, jobs)):
                dist[ch] = got
            for d, c in zip(dist, cands):
                if d < best[0]:
                    best = (float(d), c.copy())
            history.append(best[0])
            if say is not None:
                say(f"generation {g + 1}/{generations}: best distance {best[0]:.5f} "
                    f"(this one: {dist.min():.5f}; " + ", ".join(f"{s.spec}={number(v)}" for s, v in
                                                               zip(sites, best[1])) + ")")
            f = dist[1:].copy()
            f[~np.isfinite(f)] = np.nanmax(np.where(np.isfinite(f), f, np.nan), initial=0.0) + 1.0
            grad = ranks(f) @ eps / (population * sg)   # the ascent direction of -distance, in u
            m1 = b1 * m1 + (1 - b1) * grad
            m2 = b2 * m2 + (1 - b2) * grad * grad
            step = lr * (0.5 + 0.5 * math.cos(math.pi * g / generations))  # cosine-decayed
            u = u + step * (m1 / (1 - b1 ** (g + 1))) / (np.sqrt(m2 / (1 - b2 ** (g + 1))) + 1e-8)
    values = best[1].tolist()
    return Result(with_values(text, sites, values), values, best[0], history)


class _pool:
    """run(fn, jobs) -> results: in this process (workers 1) or on Ray, kept up across generations."""

    def __init__(self, workers, address):
        self.workers, self.address, self.ctx = workers, address, None

    def __enter__(self):
        from .distributed import ray_session, run_tasks
        if self.workers == 1 and not self.address:
            return lambda fn, jobs: [fn(*j) for j in jobs]
        self.ctx = ray_session(self.workers, self.address, "evolve")
        self.ctx.__enter__()
        return lambda fn, jobs: run_tasks(fn, jobs, self.workers or 0, self.address or "", "evolve")

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
