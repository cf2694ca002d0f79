"""Offline rendering: tick a machine as fast as it goes and write what reached `out` to a file."""
from __future__ import annotations

import math
from fractions import Fraction
import os
import struct
from pathlib import Path
from typing import Callable

import numpy as np

from .core.errors import BadArgument
from .core.machine import Machine

SAMPLE_FORMATS = ("float32", "int16")
_FLOAT, _PCM = 3, 1  # WAVE format tags: IEEE float, integer PCM


VIDEO = (".mp4", ".png")


def render(machine, path, seconds: float | None = None, progress: Callable[[int, int], None] | None = None, *,
           sample_format: str = "float32", size=None, fps=None, shaders=None, start: float = 0.0,
           report: Callable[[str], None] | None = None, input=None) -> Path:
    """Render `seconds` of a machine or a patch file to `path`; returns the path.

    `.wav`: the sound. `.mp4`: H.264 pictures of `screen` and AAC sound
    (see `render_video`). `.png`: the pictures as NAME_00000.png, NAME_00001.png...
    `machine` is a Machine or a patch path (`size` and `fps` then override the patch's),
    or a performance log `X.dmmlog` (replayed; see dmmlive.log; `seconds=None` renders
    to its end).

    Writes exactly round(seconds * rate) frames of stereo (the last block is cut),
    as 32-bit float samples (exactly what the machine made) or, with
    sample_format="int16", 16-bit PCM (clipped, rounded to nearest, no dither).
    Deterministic: machines built alike give byte-identical files. The machine is
    ticked in place (edits queued on it are applied as it goes). `progress(done,
    total)` is called now and then with frame counts, and once at the end with
    done == total. The file appears only when complete. A patch file is read with the
    shader types of `shaders` (a folder), or of a `shaders/` folder beside it.
    `start`: an excerpt, from `start` seconds on (the machine runs up to there unrecorded,
    so the excerpt is exactly that part of the whole; for pictures it starts on the frame
    nearest `start`).
    `report(text)`: told what the machine reports as it runs (a neuron muted after going
    non-finite, an entry of W ignored), each once, as `play` shows them.
    `input`: a WAV file the `input(channel)` neurons hear (channel 1 its first), from the
    machine's first sample (`render --input`).
    """
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start) or start < 0:
        raise BadArgument(f"start must be a finite number of seconds >= 0, got {start!r}")
    if isinstance(machine, (str, os.PathLike)) and str(machine).lower().endswith(".dmmlog"):
        # a performance log: replayed (seconds=None: to its end)
        if input is not None:
            raise BadArgument("--input is for a patch: a log replays the input it recorded")
        return render_log(machine, path, seconds, progress, sample_format=sample_format, size=size, fps=fps,
                          start=start, report=report)
    if isinstance(machine, (str, os.PathLike)) and not isinstance(machine, Machine):
        from .gfx.types import patch_types
        from .patch.live import load
        machine = load(machine, size=size, fps=fps, types=patch_types(machine, shaders))
    if not isinstance(machine, Machine):
        raise BadArgument(f"render needs a Machine, got {type(machine).__name__}")
    if input is not None:
        from .neurons.inputs import InputFeed
        machine.before_tick.append(InputFeed.from_wav(input, machine.rate))
    if report is not None:
        for text in machine.reports:
            report(text)
        machine.on_report = report
    if not isinstance(path, (str, os.PathLike)):
        raise BadArgument(f"path must be a file name, got {path!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise BadArgument(f"cannot render to {str(path)!r}: no folder {str(path.parent)!r}")
    if path.suffix.lower() not in (".wav",) + VIDEO:
        raise BadArgument(f"cannot render to {str(path)!r}: unknown file type {path.suffix or '(none)'!r}; "
                          "use .wav (sound), .mp4 (video and sound) or .png (frames)")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        raise BadArgument(f"seconds must be a finite number >= 0, got {seconds!r}")
    if sample_format not in SAMPLE_FORMATS:
        raise BadArgument(f"sample_format must be one of {SAMPLE_FORMATS}, not {sample_format!r}")
    if progress is not None and not callable(progress):
        raise BadArgument(f"progress must be a function progress(done, total), got {progress!r}")

    if path.suffix.lower() in VIDEO:
        return render_video(machine, path, seconds, progress, start=start)
    trim = _skip(machine, int(round(start * machine.rate)))
    total = int(round(seconds * machine.rate))
    B = machine.block
    n_blocks = -(-(total + trim) // B)
    every = max(1, n_blocks // 200)  # about 200 progress calls, however long the render
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        f.write(wav_header(total, machine.rate, 2, sample_format))
        done = 0
        if progress is not None:
            progress(0, total)
        for i in range(n_blocks):
            machine.tick()
            s = machine.sound()[trim:][:total - done]
            trim = 0
            f.write(_encode(s, sample_format))
            done += len(s)
            if progress is not None and (i + 1) % every == 0 and done < total:
                progress(done, total)
    os.replace(part, path)
    if progress is not None:
        progress(total, total)
    return path


def wav_header(frames: int, rate: int, channels: int, sample_format: str = "float32") -> bytes:
    """A RIFF/WAVE header for `frames` frames; no timestamps, so equal input gives equal bytes.

    Float files carry the 18-byte fmt chunk and the `fact` chunk that the format
    requires for non-PCM data; 16-bit PCM has the plain 16-byte fmt chunk.
    """
    if sample_format == "float32":
        width, tag = 4, _FLOAT
        fmt = struct.pack("<HHIIHHH", tag, channels, rate, rate * channels * width,
                          channels * width, 8 * width, 0)
        extra = b"fact" + struct.pack("<II", 4, frames)
    else:
        width, tag = 2, _PCM
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width,
                          channels * width, 8 * width)
        extra = b""
    data_bytes = frames * channels * width
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", data_bytes)
    riff_size = len(body) + data_bytes + (data_bytes & 1)
    if riff_size >= 2 ** 32:
        raise BadArgument(f"{frames} frames do not fit in a WAV file (4 GiB at most): render less")
    return b"RIFF" + struct.pack("<I", riff_size) + body


def _encode(block: np.ndarray, sample_format: str) -> bytes:
    if sample_format == "float32":
        return np.ascontiguousarray(block, dtype="<f4").tobytes()
    pcm = np.rint(np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2")
    return pcm.tobytes()


def _skip(machine: Machine, samples: int) -> int:
    """Run the machine unrecorded up to the tick holding sample `samples`; returns how many
    samples of that tick's block come before it (to cut)."""
    n = samples // machine.block
    for _ in range(n):
        machine.tick()
    return samples - n * machine.block


def render_video(machine: Machine, path: Path, seconds: float, progress=None, start: float = 0.0) -> Path:
    """Exactly round(seconds * fps) frames of what reaches `screen` (black where nothing
    does), and for .mp4 exactly round(seconds * rate) frames of sound muxed beside them.
    Audio and frame ticks interleave as the machine's clock says, so the result is the
    same on every run (pictures from the GPU, sound from the engine)."""
    from .drivers.recorder import Recorder, write_png
    from .gfx.types import ShadersBroken, compile_shaders
    problems = compile_shaders(machine.types)  # its own shader files: broken ones are an error, not black
    if problems:
        raise ShadersBroken(problems)
    # an excerpt starts on a frame: frame k is drawn in the tick that holds its time, the
    # sample floor(k·rate/fps), where the sound starts too
    first = int(round(start * machine.fps))
    fps = Fraction(machine.fps).limit_denominator(1_000_000)
    trim = _skip(machine, first * machine.rate * fps.denominator // fps.numerator)
    n_frames = int(round(seconds * machine.fps))
    total = int(round(seconds * machine.rate))
    w, h = machine.size
    mp4 = path.suffix.lower() == ".mp4"
    part = path.with_name(path.stem + ".part" + path.suffix)
    rec = Recorder(part, (w, h), machine.fps, machine.rate, name=path) if mp4 else None
    black = np.zeros((h, w, 3), np.uint8)
    frames = samples = 0
    if progress is not None:
        progress(0, n_frames)
    try:
        while frames < n_frames or (mp4 and samples < total):
            machine.tick()
            if mp4 and samples < total:
                s = machine.sound()[trim:][:total - samples]
                rec.add_audio(s)
                samples += len(s)
            trim = 0
            if machine.frame_tick and frames < n_frames:
                img = machine.image()
                rgb = machine.gpu.read_rgb8(img) if img is not None and machine.gpu is not None else black
                if mp4:
                    rec.add_frame(rgb)
                else:
                    write_png(path.with_name(f"{path.stem}_{frames:05d}.png"), rgb)
                frames += 1
                if progress is not None and frames < n_frames:
                    progress(frames, n_frames)
    finally:
        if rec is not None:
            rec.close()
    if mp4:
        os.replace(part, path)
    if progress is not None:
        progress(n_frames, n_frames)
    return path


def render_log(source, path, seconds=None, progress=None, *, sample_format="float32", size=None, fps=None,
               start=0.0, report=None):
    """Replay a performance log offline into `path` (.wav, .mp4, .png), as `render` does a
    patch, with the shader sources the log recorded (dmmlive.log).

    `seconds`: None = to the log's "end" line, or its last change plus TAIL_SECONDS.
    """
    from .log import logged_types, machine_from_log, read_log
    log = read_log(source)
    if seconds is None:
        seconds = max(0.0, log.seconds - start)
    m = machine_from_log(source, size=size, fps=fps, log=log, types=logged_types(log.shaders))
    return render(m, path, seconds, progress, sample_format=sample_format, start=start, report=report)
