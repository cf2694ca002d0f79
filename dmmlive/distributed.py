"""Work past one machine, on Ray: a set's video rendered in segments by parallel workers
(`dmmlive render set.dmmlog -o set.mp4 --workers N [--ray ADDRESS]`), and the helpers
`dmmlive evolve` shares (dmmlive/evolve.py): Ray started and stopped, its absence told.

The split render:
1. one fast pass replays the log with no pictures (the sound alone is cheap): its sound
   goes to a temporary file, and at the start of each segment less a warm-up it takes
   a snapshot of the machine and the replay (core/snapshot.py);
2. each segment is a task (a Ray worker, or this process with `workers=1`): it restores
   its snapshot, turns pictures on (its own GL context: EGL, llvmpipe without a GPU),
   draws the warm-up unwritten (the feedback loops and the sound rings a picture reads
   fill up), then encodes its frames to H.264;
3. the segments are joined into one mp4 without encoding the pictures again, with the
   fast pass's sound encoded beside them (AAC).

The segments (`segment` seconds each, the last shorter) do not depend on the number of
workers, so the file's decoded pictures and sound are the same for any `workers` and
`--ray`. A picture whose feedback remembers more than the warm-up (a loop of gain near
1) may differ at a segment's start from a render in one piece (`dmmlive render` without
--workers); the sound never does. A worker that dies is retried by Ray (`RETRIES`)."""
from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .core.errors import BadArgument

RAY_HINT = ("Ray is an optional extra: pip install 'dmmlive[ray]' (or pip install 'ray>=2'); "
            "from a checkout, make test installs it")
RETRIES = 3          # a task whose worker dies is run again (Ray's max_retries)
SEGMENT = 10.0       # s of video a task renders
WARMUP = 1.0         # s drawn before a segment and not written
TELL_EVERY = 5      # frames between a segment's progress reports
SOUND_SHARE = 0.05  # of the progress bar: the fast pass (under 1% of the work at 1280x720, but it shows the start)
DIE_ONCE = "DMMLIVE_TEST_DIE_ONCE"  # tests: a file path; the first task to find it absent makes it and dies


def need_ray(what: str):
    """The `ray` module, or a BadArgument saying how to get it."""
    try:
        import ray
    except ImportError:
        raise BadArgument(f"{what} needs Ray, which is not installed. {RAY_HINT}") from None
    return ray


def check_workers(workers, address: str | None, what: str) -> None:
    """`workers`: None (Ray: all this machine's cores, or the cluster's) or a whole number
    >= 1 (1 without an address: this process, no Ray); Ray is needed, and its absence told
    with how to get it, before any work, unless it is 1 without an address."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise BadArgument(f"--workers must be a whole number >= 1, got {workers!r}")
    if workers != 1 or address:
        need_ray(what)


@contextlib.contextmanager
def ray_session(workers: int | None, address: str | None, what: str):
    """Ray for the length of a job: the cluster at `address`, else a local instance of
    `workers` CPUs (an instance already running in this process is used and left up)."""
    ray = need_ray(what)
    if ray.is_initialized():
        yield ray
        return
    if address:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as e:  # (a cluster that asks for a token: RAY_AUTH_MODE=token, Ray's docs)
            why = [line for line in str(e.__cause__ or e).splitlines() if line.strip()] or [repr(e)]
            raise BadArgument(f"--ray {address}: cannot connect to the Ray cluster: {why[-1]}") from None
    else:
        # a Ray of its own on this machine ("local"), not one a `ray start` left running here
        ray.init(address="local", num_cpus=max(1, int(workers or os.cpu_count() or 1)),
                 include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(fn, jobs, workers: int | None, address: str | None, what: str, on_done=None, poll=None) -> list:
    """`[fn(*job) for job in jobs]`: in this process, in order, for `workers == 1` without an
    address; else as Ray tasks (a worker that dies: retried). `on_done(i, result)` as each
    ends (in the order they end); `poll()` as each ends and every half second between (Ray)."""
    if workers == 1 and not address:
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(*job))
            if on_done is not None:
                on_done(i, out[-1])
        return out
    with ray_session(workers, address, what) as ray:
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(fn)
        if os.environ.get(DIE_ONCE):  # tests: the workers see it too
            task = task.options(runtime_env={"env_vars": {DIE_ONCE: os.environ[DIE_ONCE]}})
        futures = [task.remote(*job) for job in jobs]
        index = {f: i for i, f in enumerate(futures)}
        out = [None] * len(futures)
        pending = list(futures)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            if poll is not None:
                poll()
            for f in ready:
                i = index[f]
                out[i] = ray.get(f)
                if on_done is not None:
                    on_done(i, out[i])
        return out


# ---- the split render -----------------------------------------------------------------------
class Tally:
    """The frames each segment has written (a Ray actor the tasks tell, or an object in this
    process): one progress over all segments. A segment run again (its worker died) counts
    from where it had come, not twice."""

    def __init__(self, on_change=None):
        self.done: dict = {}
        self.on_change = on_change

    def set(self, seg: int, frames: int) -> None:
        if frames > self.done.get(seg, 0):
            self.done[seg] = frames
            if self.on_change is not None:
                self.on_change(self.total())

    def total(self) -> int:
        return sum(self.done.values())


def _tell(tally, seg: int, frames: int) -> None:
    if tally is None:
        return
    remote = getattr(tally, "set", None)
    if hasattr(remote, "remote"):
        remote.remote(seg, frames)  # (an actor: not waited for)
    else:
        tally.set(seg, frames)


def frame_tick(k: int, fps: Fraction, rate: int, block: int) -> int:
    """The tick that computes frame k (frame k falls in tick t when (t-1)·B/rate <= k/fps < t·B/rate)."""
    return (k * rate * fps.denominator) // (fps.numerator * block) + 1


def plan(n_frames: int, fps: Fraction, rate: int, block: int, segment: float = SEGMENT,
         warmup: float = WARMUP) -> list:
    """The segments: [(first frame, end frame, the tick its snapshot is taken at)]."""
    per = max(1, int(round(segment * fps)))
    warm = int(math.ceil(warmup * rate / block))
    out = []
    for f0 in range(0, n_frames, per):
        snap = max(0, frame_tick(f0, fps, rate, block) - 1 - warm)
        out.append((f0, min(n_frames, f0 + per), snap))
    return out


def sound_pass(log, size, fps, ticks: int, snap_ticks: dict, pcm, progress=None) -> dict:
    """Replay the log without pictures for `ticks` ticks, writing each block's sound to the
    file `pcm` (float32 stereo) and taking a snapshot (with the replay) before the ticks in
    `snap_ticks` ({tick: the last tick its segment runs to}): {tick: snapshot bytes}. A
    snapshot's replay holds the log's changes up to its segment's end only (a long set's
    knob moves are not copied into every snapshot)."""
    from .log import Replayer, logged_types, session_from_text
    h = log.header
    session = session_from_text(h["text"], h["patch"], rate=h["rate"], block=h["block"], seed=h["seed"],
                                size=size or h["size"], fps=fps or h["fps"], limiter=h["limiter"],
                                types=logged_types(log.shaders), images=False)
    m = session.machine
    m.set_schedule(h["schedule"])
    replay = Replayer(session, log)
    m.before_tick.append(replay)
    snaps = {}
    every = max(1, ticks // 100)
    while m.t < ticks:
        if m.t in snap_ticks:
            snaps[m.t] = _snap(m, replay, snap_ticks[m.t])
        m.tick()
        pcm.write(np.ascontiguousarray(m.sound(), "<f4").tobytes())
        if progress is not None and m.t % every == 0:
            progress(m.t, ticks)
    for t in set(snap_ticks) - set(snaps):
        snaps[t] = _snap(m, replay, snap_ticks[t])
    return snaps


def _snap(m, replay, until: int) -> bytes:
    """A snapshot of the machine and its replay, the replay's log cut to the changes it will
    apply up to tick `until`."""
    import copy
    log, i = replay.log, replay.i
    part = copy.copy(log)
    part.events = [e for e in log.events[i:] if e[1]["tick"] <= until]
    replay.log, replay.i = part, 0
    try:
        return m.snapshot(extra=replay)
    finally:
        replay.log, replay.i = log, i


def render_segment(snap: bytes, shaders: dict, f0: int, f1: int, driver: int = 0, tally=None, seg: int = 0) -> bytes:
    """A task: frames f0..f1-1 of the set, from a snapshot of the fast pass taken before
    them, as an mp4 of H.264 pictures alone (its bytes). `driver`: the pid of the process
    that asked (tests: only a worker elsewhere dies, see DIE_ONCE). `tally`: told the
    frames written (`Tally.set(seg, n)`) every few frames."""
    if os.environ.get(DIE_ONCE) and os.getpid() != driver and not os.path.exists(os.environ[DIE_ONCE]):
        Path(os.environ[DIE_ONCE]).write_text("died once\n")
        os._exit(1)  # a worker lost mid-task (tests): Ray runs the task again elsewhere
    import dmmlive.gfx  # noqa: F401  (the image backend)
    from .core.snapshot import restore_with
    from .drivers.recorder import Recorder
    from .log import logged_types
    m, replay = restore_with(snap, types=logged_types(shaders))
    m.before_tick.append(replay)
    m.images = True
    w, h = m.size
    black = np.zeros((h, w, 3), np.uint8)
    with tempfile.TemporaryDirectory(prefix="dmmlive-seg-") as d:
        path = Path(d, "seg.mp4")
        rec = Recorder(path, (w, h), m.fps, m.rate, audio=False, fragmented=False)
        try:
            k = f0
            while k < f1:
                m.tick()
                if m.frame_tick and m.frame >= f0:
                    img = m.image()
                    rec.add_frame(m.gpu.read_rgb8(img) if img is not None else black)
                    k += 1
                    if (k - f0) % TELL_EVERY == 0 or k == f1:
                        _tell(tally, seg, k - f0)
        finally:
            rec.close()
            if m.gpu is not None:
                m.gpu.close()
                m.gpu = None
        return path.read_bytes()


def join(segments: list, pcm_path, samples: int, rate: int, out_path) -> None:
    """One mp4 of the segments' pictures (packets copied, pts moved along) and the sound
    of `pcm_path` (float32 stereo, `samples` frames) encoded to AAC, interleaved by time."""
    import av
    from .drivers.recorder import AAC_FRAME
    # fragmented as `render` writes its mp4 (drivers/recorder.py): the same file layout
    out = av.open(str(out_path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    out.flags |= av.container.Flags.bitexact.value
    first = av.open(io.BytesIO(segments[0]))
    vout = out.add_stream_from_template(first.streams.video[0])
    first.close()
    a = out.add_stream("aac", rate=rate)
    a.codec_context.layout = "stereo"
    a.codec_context.format = "fltp"
    a.codec_context.bit_rate = 192000
    a.codec_context.flags |= av.codec.context.Flags.bitexact.value
    state = {"done": 0}

    with open(pcm_path, "rb") as pcm:
        def audio_until(t: float) -> None:
            want = samples if t == math.inf else min(samples, int(math.ceil(t * rate)))
            while state["done"] < want:
                raw = pcm.read(8 * max(0, min(AAC_FRAME, samples - state["done"])))  # float32 stereo
                chunk = np.frombuffer(raw, "<f4").reshape(-1, 2)
                if len(chunk) < AAC_FRAME:
                    pad = np.zeros((AAC_FRAME, 2), np.float32)
                    pad[:len(chunk)] = chunk
                    chunk = pad
                f = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp", layout="stereo")
                f.sample_rate = rate
                f.pts = state["done"]
                f.time_base = Fraction(1, rate)
                state["done"] += AAC_FRAME
                for p in a.encode(f):
                    out.mux(p)

        offset = Fraction(0)  # seconds before this segment
        for seg in segments:
            c = av.open(io.BytesIO(seg))
            s = c.streams.video[0]
            tb = s.time_base
            shift = int(offset / tb)
            n = 0
            for p in c.demux(s):
                if p.dts is None:
                    continue
                audio_until(float((p.pts + shift) * tb) + 0.5)
                p.pts += shift
                p.dts += shift
                p.stream = vout
                out.mux(p)
                n += 1
            offset += Fraction(n) / Fraction(s.average_rate)
            c.close()
        audio_until(math.inf)
        for p in a.encode():
            out.mux(p)
    out.close()


def render_split(source, path, seconds=None, progress=None, *, size=None, fps=None, workers: int | None = 1,
                 address: str | None = None, segment: float = SEGMENT, warmup: float = WARMUP):
    """Render a performance log to an .mp4 in segments (see the module's doc): `workers`
    Ray workers on this machine, or the cluster at `address` (`workers=None`: as many as there
    are cores here, or as the cluster has; `workers=1` and no address: this process, no Ray).
    `progress(done, total)`: one bar, rising, that ends at its total: its first SOUND_SHARE
    the fast pass, the rest the frames of all segments written."""
    from .log import read_log
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise BadArgument(f"--workers renders an .mp4, not {path.name!r} (a .wav needs no workers)")
    if not str(source).lower().endswith(".dmmlog"):
        raise BadArgument("--workers renders a set's log (play --log set.dmmlog); render a patch without it")
    if not path.parent.is_dir():
        raise BadArgument(f"cannot render to {str(path)!r}: no folder {str(path.parent)!r}")
    check_workers(workers, address, "render --workers")
    log = read_log(source)
    h = log.header
    rate, block = h["rate"], h["block"]
    size = tuple(size or h["size"])
    if size[0] % 2 or size[1] % 2:
        raise BadArgument(f"H.264 needs an even width and height, got {size[0]}x{size[1]}")
    fpsf = Fraction(fps or h["fps"]).limit_denominator(1000)
    if seconds is None:
        seconds = log.seconds
    n_frames = int(round(seconds * float(fpsf)))
    samples = int(round(seconds * rate))
    if n_frames < 1:
        raise BadArgument(f"{seconds:g} s holds no frame at {float(fpsf):g} fps")
    segs = plan(n_frames, fpsf, rate, block, segment, warmup)
    ticks = max(-(-samples // block), frame_tick(n_frames - 1, fpsf, rate, block))
    part = path.with_name(path.stem + ".part" + path.suffix)
    first = max(1, round(n_frames * SOUND_SHARE))  # the bar's steps for the fast pass
    total = first + n_frames
    with tempfile.TemporaryDirectory(prefix="dmmlive-render-") as d:
        pcm_path = Path(d, "sound.f32")
        with open(pcm_path, "wb") as pcm:
            ends = {snap: frame_tick(f1 - 1, fpsf, rate, block) for _, f1, snap in segs}
            snaps = sound_pass(log, size, fps, ticks, ends, pcm,
                               None if progress is None else lambda t, n: progress(first * t // n, total))
        if progress is not None:
            progress(first, total)

        def show(done):
            if progress is not None and done < n_frames:
                progress(first + done, total)
        local = workers == 1 and not address
        with contextlib.nullcontext() if local else ray_session(workers, address, "render --workers") as ray:
            tally = Tally(show) if local else ray.remote(num_cpus=0)(Tally).remote()
            jobs = [(snaps[snap], log.shaders, f0, f1, os.getpid(), tally, i) for i, (f0, f1, snap) in enumerate(segs)]
            snaps.clear()
            poll = None if local else (lambda: show(ray.get(tally.total.remote())))
            parts = run_tasks(render_segment, jobs, workers, address, "render --workers", poll=poll)
        join(parts, pcm_path, samples, rate, part)
    os.replace(part, path)
    if progress is not None:
        progress(total, total)
    return path
