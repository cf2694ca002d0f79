"""Video throughput of the demo patch (patches/demo.dmm), on whatever GL the machine has
(headless: Mesa llvmpipe through EGL).

    python benchmarks/video.py [--repeat 3] [--seconds 2]

Prints, per render size (256x256, 512x512, 1280x720; live also 16x16, where next to no
pixels leaves the per-frame cost of the Python and GL calls), medians over the repeats (this
machine is shared and noisy):

1. dmmlive live ticking: frames/s of the whole machine (every tick, audio included: a
   frame every 12.5 ticks at 48 kHz, B=128, 30 fps), and frames/s of the image neurons
   alone, found two ways:
   - "split":  in the same run, each tick is timed; a frame tick ends with ctx.finish(),
     so its GPU work is counted in it; image time = the frame ticks' time minus that many
     median audio-only ticks;
   - "minus audio": the same number of ticks on a machine built with images=False
     (audio only), subtracted from the whole run's time.
2. A hand-written moderngl program doing the demo's image graph pass for pass (6 passes:
   waveform with its data texture upload, plasma, the 0.8/0.2 weighted sum, zoom, kaleid,
   the final 3-term weighted sum into the screen texture), RGBA16F textures at the same
   size, each frame ending with ctx.finish(); and the ratio dmmlive image time /
   hand-written time (the goal is <= 1.2).
3. Offline render: `dmmlive.render("patches/demo.dmm", "x.mp4", seconds=S, size=...)`
   as a multiple of real time (S / wall time; loading, shader compiles and H.264 + AAC
   encoding included).
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import moderngl
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import dmmlive  # noqa: E402
from dmmlive.gfx.types import column_ranges  # noqa: E402

PATCH = ROOT / "patches" / "demo.dmm"
SIZES = [(256, 256), (512, 512), (1280, 720)]
LIVE_SIZES = [(16, 16)] + SIZES  # 16x16: next to no pixels, so its row is the per-frame overhead
FRAMES = {(16, 16): 120, (256, 256): 100, (512, 512): 40, (1280, 720): 20}  # timed frames per run
WARMUP = 3  # frames ticked before timing (shader compiles, first textures)


# --- 1. dmmlive -------------------------------------------------------------------------

def tick_frames(m, n_frames):
    """Tick until n_frames frame ticks have run; returns (ticks, frame tick times, other tick times)."""
    frame_t, audio_t = [], []
    done = ticks = 0
    clock = time.perf_counter
    while done < n_frames:
        t0 = clock()
        m.tick()
        if m.frame_tick:
            m.gpu.ctx.finish()
            frame_t.append(clock() - t0)
            done += 1
        else:
            audio_t.append(clock() - t0)
        ticks += 1
    return ticks, frame_t, audio_t


def bench_dmmlive(size, n_frames):
    m = dmmlive.load(PATCH, size=size)
    tick_frames(m, WARMUP)
    t0 = time.perf_counter()
    ticks, frame_t, audio_t = tick_frames(m, n_frames)
    m.gpu.ctx.finish()
    whole = time.perf_counter() - t0
    median_audio = statistics.median(audio_t)
    split = sum(frame_t) - len(frame_t) * median_audio

    a = dmmlive.load(PATCH, size=size, images=False)
    a.tick(ticks)  # the same warm-up as above, roughly
    t0 = time.perf_counter()
    a.tick(ticks)
    audio_only = time.perf_counter() - t0
    m.gpu.close()
    return {"whole": whole, "split": split, "minus": whole - audio_only, "audio": audio_only,
            "tick_audio": median_audio, "frames": n_frames, "ticks": ticks}


# --- 2. the same passes, written by hand ------------------------------------------------

VERT = """#version 330
out vec2 uv;
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""
HEAD = "#version 330\nin vec2 uv;\nout vec4 fragColor;\n"
PLASMA = HEAD + """uniform float time;
uniform float speed;
void main() {
    vec2 p = uv * 6.0;
    float t = time * speed;
    float v = sin(p.x + t) + sin(p.y + 1.3 * t) + sin(p.x + p.y + 0.7 * t)
            + sin(length(p - 3.0) + 1.7 * t);
    fragColor = vec4(0.5 + 0.5 * sin(v + vec3(0.0, 2.094, 4.189)), 1.0);
}
"""
SUM2 = HEAD + """uniform sampler2D t0, t1;
uniform float w0, w1;
void main() { fragColor = w0 * texture(t0, uv) + w1 * texture(t1, uv); }
"""
SUM3 = HEAD + """uniform sampler2D t0, t1, t2;
uniform float w0, w1, w2;
void main() { fragColor = w0 * texture(t0, uv) + w1 * texture(t1, uv) + w2 * texture(t2, uv); }
"""
ZOOM = HEAD + """uniform sampler2D src;
uniform float amount;
void main() { fragColor = texture(src, (uv - 0.5) / amount + 0.5); }
"""
KALEID = HEAD + """#define TAU 6.28318530717959
uniform sampler2D src;
uniform float sides;
void main() {
    vec2 st = uv - 0.5;
    float wedge = TAU / max(sides, 1.0);
    float a = abs(mod(atan(st.y, st.x), wedge) - 0.5 * wedge);
    fragColor = texture(src, length(st) * vec2(cos(a), sin(a)) + 0.5);
}
"""
WAVE = HEAD + """uniform sampler2D data;
uniform vec2 resolution;
uniform float gain, thickness;
void main() {
    vec2 r = 0.5 + 0.5 * gain * texelFetch(data, ivec2(gl_FragCoord.x, 0), 0).rg;
    float d = max(max(min(r.x, r.y) - uv.y, uv.y - max(r.x, r.y)), 0.0);
    float v = 1.0 - smoothstep(0.5 * thickness, 0.5 * thickness + 1.0 / resolution.y, d);
    fragColor = vec4(vec3(v), 1.0);
}
"""


def minmax_columns(x, width):
    """(min, max) per pixel column: the waveform's data, the same CPU work dmmlive does
    (the comparison is about the GPU passes, so both sides share it)."""
    lo, hi = column_ranges(x, width)
    return np.stack([lo, hi], axis=1).astype(np.float32)


class HandWritten:
    """The demo's image graph as a plain moderngl program."""

    def __init__(self, size):
        self.ctx = ctx = moderngl.create_standalone_context(backend="egl", require=330)
        self.size = w, h = size

        def tex(size=size, comps=4, dtype="f2"):
            t = ctx.texture(size, comps, dtype=dtype)
            t.repeat_x = t.repeat_y = False
            t.filter = (moderngl.LINEAR, moderngl.LINEAR)
            return t

        def prog(src):
            p = ctx.program(vertex_shader=VERT, fragment_shader=src)
            return p, ctx.vertex_array(p, [])

        self.glow, self.src, self.kal, self.wave, self.screen = (tex() for _ in range(5))
        self.trail = [tex(), tex()]
        self.data = tex((w, 1), 2, "f4")
        self.fbo = {id(t): ctx.framebuffer(color_attachments=[t])
                    for t in (self.glow, self.src, self.kal, self.wave, self.screen, *self.trail)}
        for f in self.fbo.values():
            f.clear()
        self.plasma, self.sum2, self.sum3, self.zoom, self.kaleid, self.wavep = (
            prog(s) for s in (PLASMA, SUM2, SUM3, ZOOM, KALEID, WAVE))
        self.zoom[0]["amount"].value = 1.02
        self.kaleid[0]["sides"].value = 6.0
        self.wavep[0]["gain"].value = 1.0
        self.wavep[0]["thickness"].value = 0.01
        self.wavep[0]["resolution"].value = (float(w), float(h))
        self.sum2[0]["w0"].value, self.sum2[0]["w1"].value = 0.8, 0.2
        for i, wt in enumerate((0.55, 0.35, 0.6)):
            self.sum3[0][f"w{i}"].value = wt
        self.latest = 0
        self.frame = 0
        self.samples = np.sin(np.arange(1024) * 0.05).astype(np.float32)

    def _pass(self, pv, out, textures):
        p, vao = pv
        for unit, (name, t) in enumerate(textures.items()):
            t.use(location=unit)
            p[name].value = unit
        self.fbo[id(out)].use()
        vao.render(moderngl.TRIANGLES, vertices=3)

    def render_frame(self):
        self.frame += 1
        t = self.frame / 30.0
        # waveform: its data texture, then its pass
        x = np.roll(self.samples, self.frame * 37)
        self.data.write(minmax_columns(x, self.size[0]).tobytes())
        self._pass(self.wavep, self.wave, {"data": self.data})
        # plasma
        self.plasma[0]["time"].value = t
        self.plasma[0]["speed"].value = 0.3 + 0.1 * np.sin(t)
        self._pass(self.plasma, self.glow, {})
        # trail = zoom(0.8 * trail + 0.2 * glow)
        prev = self.trail[self.latest]
        self._pass(self.sum2, self.src, {"t0": prev, "t1": self.glow})
        self.latest = 1 - self.latest
        self._pass(self.zoom, self.trail[self.latest], {"src": self.src})
        # kaleid(glow)
        self._pass(self.kaleid, self.kal, {"src": self.glow})
        # screen = 0.55 trail + 0.35 kaleid + 0.6 waveform
        self._pass(self.sum3, self.screen, {"t0": self.trail[self.latest], "t1": self.kal, "t2": self.wave})
        self.ctx.finish()

    def close(self):
        self.ctx.release()


def bench_hand(size, n_frames):
    hw = HandWritten(size)
    for _ in range(WARMUP):
        hw.render_frame()
    t0 = time.perf_counter()
    for _ in range(n_frames):
        hw.render_frame()
    dt = time.perf_counter() - t0
    hw.close()
    return dt


# --- 3. offline render -------------------------------------------------------------------

def bench_render(size, seconds, folder):
    out = Path(folder) / f"x_{size[0]}x{size[1]}.mp4"
    t0 = time.perf_counter()
    dmmlive.render(str(PATCH), str(out), seconds=seconds, size=size)
    dt = time.perf_counter() - t0
    out.unlink()
    return seconds / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds of video per offline render")
    args = ap.parse_args()
    med = statistics.median
    start = time.perf_counter()

    ctx = moderngl.create_standalone_context(backend="egl", require=330)
    print(f"GL: {ctx.info['GL_RENDERER']}; medians of {args.repeat} runs; "
          f"dmmlive frame ticks and hand-written frames end with ctx.finish()")
    ctx.release()

    print("\n1-2. live frames/s (demo patch, 30 fps patch clock: a frame every 12.5 ticks)")
    print(f"{'size':>9} {'frames':>6} | {'whole':>7} {'img split':>9} {'img -aud':>9} | "
          f"{'hand':>7} | {'ratio split':>11} {'ratio -aud':>10} | {'audio/frame':>11}")
    rows = {}
    for size in LIVE_SIZES:
        n = FRAMES[size]
        d_runs, h_runs = [], []
        for _ in range(args.repeat):
            d_runs.append(bench_dmmlive(size, n))
            h_runs.append(bench_hand(size, n))
        whole = med(r["whole"] for r in d_runs)
        split = med(r["split"] for r in d_runs)
        minus = med(r["minus"] for r in d_runs)
        audio = med(r["audio"] for r in d_runs)
        hand = med(h_runs)
        rows[size] = (n / split, n / hand, split / hand)
        print(f"{size[0]:>4}x{size[1]:<4} {n:>6} | {n / whole:>7.1f} {n / split:>9.1f} {n / minus:>9.1f} | "
              f"{n / hand:>7.1f} | {split / hand:>10.2f}x {minus / hand:>9.2f}x | "
              f"{1e3 * audio / n:>8.2f} ms")
    print("  whole: frames / time of every tick (audio and image); img split: frames / (frame ticks'")
    print("  time - as many median audio ticks); img -aud: frames / (whole - same ticks with images=False);")
    print("  hand: the hand-written moderngl program; ratio: dmmlive image time / hand-written time;")
    print("  16x16 has next to no pixels: its image time is the per-frame cost of Python and GL calls")

    print(f"\n3. offline render, {args.seconds:g} s of the demo to .mp4 (load + compile + encode included)")
    with tempfile.TemporaryDirectory() as folder:
        for size in SIZES:
            speeds = [bench_render(size, args.seconds, folder) for _ in range(args.repeat)]
            print(f"{size[0]:>4}x{size[1]:<4} {med(speeds):>6.2f}x real time "
                  f"(runs: {', '.join(f'{s:.2f}' for s in speeds)})")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
