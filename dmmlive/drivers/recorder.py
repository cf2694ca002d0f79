"""Video files with PyAV: H.264 pictures and AAC sound muxed into an mp4.

`Recorder` is the one place that encodes. Offline render feeds it frames and blocks
in order; the live recorder (`LiveRecorder`) feeds it from a background thread so
encoding never sits on the sound's path. Files are written as fragmented mp4
(`frag_keyframe+empty_moov`), so a process killed mid-recording leaves a file that
plays up to its last fragment; `bitexact` keeps encoder and muxer from writing
anything time- or build-dependent, so the same frames and samples give the same bytes.
"""
from __future__ import annotations

import queue
import threading
from fractions import Fraction

import numpy as np

from ..core.errors import DmmError

AAC_FRAME = 1024
X264_THREADS = 4  # fixed: see Recorder
# x264's own options every encode takes (see Recorder): its macroblock tree in C on every CPU
X264_PARAMS = "cpu-independent=1"


class RecordError(DmmError):
    """The video file cannot be written (path, codec, size)."""


class Recorder:
    """Encode RGB frames (h, w, 3 uint8) and stereo blocks (n, 2 float32) into `path`."""

    def __init__(self, path, size, fps, rate=48000, audio=True, fragmented=True, crf=18, gop=None,
                 name=None):
        import av  # PyAV carries FFmpeg with libx264 and aac
        self.path = str(path)
        w, h = int(size[0]), int(size[1])
        if w % 2 or h % 2:  # `name`: the file the user asked for, when `path` is a temporary
            raise RecordError(f"{name or self.path}: H.264 needs an even width and height, got {w}x{h}")
        self.fps = Fraction(fps).limit_denominator(1000)
        self.rate = int(rate)
        opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented else {}
        try:
            self.c = av.open(self.path, "w", format="mp4", options=opts)
        except Exception as e:  # noqa: BLE001 - FFmpeg reports as various error types
            raise RecordError(f"cannot write {self.path}: {e}") from None
        self.c.flags |= av.container.Flags.bitexact.value
        gop = gop or max(1, int(round(float(self.fps))))  # a keyframe (and fragment) a second
        # Options go to the codec context (PyAV takes a stream attribute of that name and
        # ignores it); x264's own through x264-params (FFmpeg ignores names it lacks). No
        # B-frames: pts = dts from 0, so a fragmented file (no edit list) starts its
        # pictures at 0, in step with the sound. A fixed thread count: x264's output
        # depends on it, not on the cores that run it, so a render is the same file on
        # any machine. `cpu-independent` (X264_PARAMS): x264's macroblock tree (the rate
        # control's look-ahead) in its C code, not the CPU's vector code, which gives other
        # bytes on another instruction set and, in its AVX-512 form (libx264 core 165),
        # takes 8 macroblocks at a time past the end of a row whose macroblocks (16 pixels)
        # are not a multiple of 8, reading whatever memory lies there: the same frames came
        # out different now and then (64x36: ~3% of the encodes in a process whose heap
        # other work had used; decoded, up to 8-40 levels apart from frame 6 or so on).
        # The C code costs nothing measurable (1280x720: 16-18 ms a frame either way).
        self.v = self.c.add_stream("libx264", rate=self.fps, options={
            "crf": str(crf), "preset": "veryfast", "threads": str(X264_THREADS),
            "x264-params": f"bframes=0:keyint={gop}:min-keyint={gop}:scenecut=0:{X264_PARAMS}"})
        self.v.width, self.v.height, self.v.pix_fmt = w, h, "yuv420p"
        self.v.codec_context.gop_size = gop
        self.v.codec_context.flags |= av.codec.context.Flags.bitexact.value
        self.a = None
        if audio:
            self.a = self.c.add_stream("aac", rate=self.rate)
            self.a.codec_context.layout = "stereo"
            self.a.codec_context.format = "fltp"
            self.a.codec_context.bit_rate = 192000
            self.a.codec_context.flags |= av.codec.context.Flags.bitexact.value
        self._pending = np.zeros((0, 2), np.float32)
        self._samples = 0
        self.frames = 0
        self._next_pts = 0
        self._av = av

    def add_frame(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """`pts`: the frame's number (in 1/fps) when frames may be skipped (live: a frame
        dropped keeps its time, so sound and picture stay in step); default the next one.
        A pts not after the last one written is ignored."""
        pts = self._next_pts if pts is None else int(pts)
        if pts < self._next_pts:
            return
        f = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        f.pts = pts
        f.time_base = 1 / self.fps
        self.frames += 1
        self._next_pts = pts + 1
        for p in self.v.encode(f):
            self.c.mux(p)

    def add_audio(self, block: np.ndarray) -> None:
        if self.a is None:
            return
        self._pending = np.concatenate([self._pending, np.asarray(block, np.float32).reshape(-1, 2)])
        while len(self._pending) >= AAC_FRAME:
            self._encode_audio(self._pending[:AAC_FRAME])
            self._pending = self._pending[AAC_FRAME:]

    def _encode_audio(self, chunk) -> None:
        f = self._av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp", layout="stereo")
        f.sample_rate = self.rate
        f.pts = self._samples
        f.time_base = Fraction(1, self.rate)
        self._samples += len(chunk)
        for p in self.a.encode(f):
            self.c.mux(p)

    def close(self) -> None:
        if self.c is None:
            return
        if self.a is not None:
            if len(self._pending):
                pad = np.zeros((AAC_FRAME, 2), np.float32)
                pad[: len(self._pending)] = self._pending
                self._encode_audio(pad)
                self._pending = pad[:0]
            for p in self.a.encode():
                self.c.mux(p)
        for p in self.v.encode():
            self.c.mux(p)
        self.c.close()
        self.c = None


class LiveRecorder:
    """A Recorder fed from a background thread: `frame()` and `sound()` only queue.

    The queue is bounded; when encoding falls behind, frames are dropped (and counted)
    rather than blocking the caller. Sound is never dropped (it is small).
    """

    def __init__(self, path, size, fps, rate=48000, max_frames=64):
        self.rec = Recorder(path, size, fps, rate)
        self.q: queue.Queue = queue.Queue()
        self.frames_waiting = 0
        self.max_frames = max_frames
        self.dropped = 0
        self.error = None
        self._t = threading.Thread(target=self._run, name="dmmlive-recorder", daemon=True)
        self._t.start()

    def frame(self, rgb, pts: int | None = None) -> None:
        """Queue a frame (`pts`: its number in 1/fps, see Recorder.add_frame)."""
        if self.frames_waiting >= self.max_frames:
            self.dropped += 1
            return
        self.frames_waiting += 1
        self.q.put(("f", (rgb, pts)))

    def sound(self, block) -> None:
        self.q.put(("a", np.array(block, np.float32)))

    def _run(self) -> None:
        while True:
            kind, x = self.q.get()
            if kind == "stop":
                break
            try:
                if kind == "f":
                    self.frames_waiting -= 1
                    self.rec.add_frame(*x)
                else:
                    self.rec.add_audio(x)
            except Exception as e:  # noqa: BLE001 - reported, never raised into the app
                self.error = e
        try:
            self.rec.close()
        except Exception as e:  # noqa: BLE001
            self.error = e

    def stop(self) -> None:
        if self._t.is_alive():
            self.q.put(("stop", None))
            self._t.join()


def write_png(path, rgb: np.ndarray) -> None:
    """One RGB picture (h, w, 3 uint8) as a PNG file, through FFmpeg's png encoder."""
    import av
    h, w = rgb.shape[:2]
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = w, h, "rgb24"
        for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
