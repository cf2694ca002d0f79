"""Image neuron types: the `image` kind, shader files as types, and the GPU types defined in Python.

An image type is an ordinary non-batched type (`fn(inputs, state) -> {"out": Image}`)
that fires on frame ticks (`NeuronType.frame`). The machine puts in its state, before
each call:
- `state["gpu"]`: the machine's `Gpu`;
- `state["time"]`: seconds of the current frame; `state["frame"]`: the frame's number;
- `state["audio"]` (types with audio inputs): `audio(port, n) -> float32 (n,)`, the last
  `n` samples of that input's stream, oldest first, zeros before the stream began;
  `state["history"]` (set by the type's init) is the largest `n` it will ask for.
Image inputs arrive as `Image`s (or None: black), number inputs as floats.
A type keeps its textures under `state["key"]` (a `Key` made on first call; the textures
are freed when the state is dropped, or at once by `gpu.release(state["key"])`).
"""
from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from ..core.errors import BadArgument
from ..core.registry import STANDARD, Types, neuron_type, register_kind
from .shaders import ShaderError, ShaderSource, parse

def _backend(machine):
    from .gpu import Gpu
    return Gpu(size=machine.size)


register_kind("image", _backend)  # a machine makes its Gpu on first need

LIBRARY = Path(__file__).resolve().parents[2] / "shaders"  # the shader files shipped with dmmlive


def _gpu(state):
    gpu = state.get("gpu")
    if gpu is None:
        raise RuntimeError("an image neuron needs state['gpu'] (the machine's Gpu) before it fires")
    return gpu


def _key(state, gpu):
    k = state.get("key")
    if k is None:
        k = state["key"] = gpu.new_key()
    return k


def _mark(fn):
    """Flag the type just registered from `fn` as an image type that fires on frame ticks."""
    fn.neuron_type.frame = True
    return fn


# --- shader files ---------------------------------------------------------------------------

class ShaderDef:
    """One shader file behind a type: its current source and the GPUs that compiled it."""

    def __init__(self, file: Path, path: str, src: ShaderSource):
        self.file, self.path, self.src = file, path, src
        self.gpus: weakref.WeakSet = weakref.WeakSet()

    @property
    def name(self) -> str:
        return self.src.name

    def copy_into(self, types: Types) -> None:
        """The same file as a type of `types`, with a definition of its own there (so a
        reload in one table leaves the other as it was)."""
        register_shader(ShaderDef(self.file, self.path, self.src), types)


def _signature(src: ShaderSource):
    return [(u.name, u.kind, u.default) for u in src.ports]


def register_shader(d: ShaderDef, types: Types):
    """Register shader file `d` as a type in `types` (a new type object: new ports)."""
    src = d.src
    existing = types.get(src.name)
    if existing is not None and getattr(existing.fn, "shader", None) is None:
        raise ShaderError(d.path, None, f"a neuron type {src.name!r} exists already "
                          f"({existing.summary()}); rename the file")
    inputs = {u.name: ("number", u.default) if u.kind == "number" else "image" for u in src.ports}

    def fn(inputs, state):
        gpu = _gpu(state)
        s = d.src  # the current source: a reload swaps it
        d.gpus.add(gpu)
        numbers = {u.glsl: inputs.get(u.name, u.default) for u in s.ports if u.kind == "number"}
        images = {u.glsl: inputs.get(u.name) for u in s.ports if u.kind == "image"}
        return {"out": gpu.render(_key(state, gpu), s, numbers, images, state.get("time", 0.0))}

    fn.__name__ = src.name
    fn.__doc__ = src.doc + f"\n\nShader file: {d.path}"
    fn.shader = d
    neuron_type(src.name, inputs=inputs, outputs={"out": "image"}, state={}, types=types)(fn)
    _mark(fn)
    types.shaders[d.file] = d
    return types[src.name]


def _display(folder, file: Path) -> str:
    """How errors name a file: `shaders/NAME.frag` for the library, else relative to the
    working directory when under it, else as given."""
    p = Path(folder) / file.name
    r = p.resolve()
    if r.parent == LIBRARY:
        return f"shaders/{file.name}"
    try:
        return str(r.relative_to(Path.cwd().resolve())) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)


def load_shader_types(folder=LIBRARY, gpu_factory=None, errors: list | None = None,
                      types: Types | None = None) -> list[str]:
    """Register one image type per `folder/*.frag` (the type is the file's name) in `types`
    (default: the standard table); return the names.

    `gpu_factory`: a Gpu, or a callable returning one, to compile every file now (else
    each compiles on first use). A file that does not parse is skipped; one that parses
    but does not compile is registered all the same (its neurons fail, and are reported,
    until `reload_shader` fixes it). The ShaderErrors are appended to `errors` if given,
    else the first is raised after every other file was loaded.
    """
    types = STANDARD if types is None else types
    names, problems = [], []
    gpu = None
    for file in sorted(Path(folder).glob("*.frag")):
        path = _display(folder, file)
        try:
            src = parse(file.read_text(), path)
            d = ShaderDef(file.resolve(), path, src)
            register_shader(d, types)
            names.append(src.name)
            if gpu_factory is not None:
                if gpu is None:
                    gpu = gpu_factory() if callable(gpu_factory) else gpu_factory
                d.gpus.add(gpu)
                gpu.compile(src)
        except ShaderError as e:
            problems.append(e)
        except OSError as e:
            problems.append(ShaderError(path, None, f"cannot read: {e}"))
    if errors is not None:
        errors.extend(problems)
    elif problems:
        raise problems[0]
    return names


def compile_shaders(types: Types, gpu=None, library: bool = False) -> list[ShaderError]:
    """Compile the shader types of `types` on `gpu` (default: a headless one, made here and
    closed): those of shader folders and logs, and dmmlive's own library too with
    `library`. Returns the ShaderErrors, file by file (each with its line and caret); a
    type that compiles is cached on `gpu` for its first use; on the headless one the
    result is kept on `types` for the same sources (a render the CLI checked first
    compiles them once). GL missing is a BadArgument."""
    defs = [d for d in types.shaders.values() if library or d.file.parent != LIBRARY]
    if not defs:
        return []
    own = gpu is None
    sources = tuple(sorted((d.path, d.src.fragment) for d in defs))
    if own and types.compiled is not None and types.compiled[0] == sources:
        return list(types.compiled[1])  # compiled here already (check, then render: once)
    if own:
        from .gpu import Gpu
        try:
            gpu = Gpu(size=(16, 16))
        except Exception as e:  # no EGL / OpenGL 3.3 here
            raise BadArgument(f"cannot compile shaders here: no OpenGL 3.3 ({e})") from None
    problems = []
    try:
        for d in sorted(defs, key=lambda d: d.path):
            try:
                gpu.compile(d.src)
            except ShaderError as e:
                problems.append(e)
    finally:
        if own:
            gpu.close()
    if own:
        types.compiled = (sources, tuple(problems))
    return problems


class ShadersBroken(BadArgument):
    """Shader files that do not parse or compile, every one of them in the message."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(e) for e in self.problems))

    def __reduce__(self):
        return (type(self), (self.problems,))


def reload_shader(path, gpu=None, types: Types | None = None):
    """Re-read a shader file and swap it in, in `types` (default: the standard table);
    returns its NeuronType.

    On a parse or compile error (compiled on every Gpu that ran the old one, and `gpu`)
    the ShaderError is raised and the old program keeps running. If the ports changed,
    the type is registered anew (same name, new ports): re-apply the patch to use them.
    A file not loaded before is loaded as a new type.
    """
    types = STANDARD if types is None else types
    file = Path(path).resolve()
    d = types.shaders.get(file)
    if d is None:
        display = _display(Path(path).parent, file)
        try:
            src = parse(file.read_text(), display)
        except OSError as e:
            raise ShaderError(display, None, f"cannot read: {e}") from None
        d = ShaderDef(file, display, src)
        t = register_shader(d, types)
        if gpu is not None:
            d.gpus.add(gpu)
            gpu.compile(src)
        return t
    try:
        new = parse(file.read_text(), d.path, d.name)
    except OSError as e:
        raise ShaderError(d.path, None, f"cannot read: {e}") from None
    gpus = list(d.gpus) + ([gpu] if gpu is not None and gpu not in d.gpus else [])
    for g in gpus:
        g.compile(new)  # raises ShaderError: nothing changed
    old, d.src = d.src, new
    if gpu is not None:
        d.gpus.add(gpu)
    for g in gpus:
        if old.fragment != new.fragment:
            g.forget(old)
    if _signature(old) != _signature(new) or old.doc != new.doc:
        return register_shader(d, types)
    return types[d.name]


# --- types defined in Python ------------------------------------------------------------------

def _source(name: str, body: str) -> ShaderSource:
    return parse(body, f"dmmlive/gfx/types.py ({name})", name)


_SOFTMAX = """
uniform sampler2D a;
vec4 effect(vec2 uv) {
    ivec2 p = ivec2(gl_FragCoord.xy);
    int n = textureSize(a, 0).AXIS;
    vec3 m = vec3(-3.0e38);
    for (int k = 0; k < n; k++) m = max(m, texelFetch(a, AT, 0).rgb);
    vec3 s = vec3(0.0);
    for (int k = 0; k < n; k++) s += exp(texelFetch(a, AT, 0).rgb - m);
    return vec4(exp(texelFetch(a, p, 0).rgb - m) / s, 1.0);
}
"""
SOFTMAX = {0: _source("softmax", _SOFTMAX.replace("AXIS", "y").replace("AT", "ivec2(p.x, k)")),
           1: _source("softmax", _SOFTMAX.replace("AXIS", "x").replace("AT", "ivec2(k, p.y)"))}


def _check_axis(args):
    if args.get("axis") not in (0, 1):
        raise BadArgument(f"softmax: axis must be 0 (each column) or 1 (each row), not {args.get('axis')!r}")


@neuron_type("softmax", inputs={"a": "image"}, outputs={"out": "image"}, args={"axis": 0},
             state={}, check=_check_axis)
def softmax(inputs, state):
    """Softmax of an image per column (axis=0) or per row (axis=1), each channel apart; alpha 1.

    Rows and columns as numpy sees `gpu.read(image)`; stable (the maximum is subtracted).
    Example: `att = softmax(matmul(q, k), axis=1)`
    """
    gpu = _gpu(state)
    src = SOFTMAX[state["args"]["axis"]]
    return {"out": gpu.render(_key(state, gpu), src, {}, {"a": inputs.get("a")})}


_mark(softmax)


# --- audio to image -------------------------------------------------------------------------

class Ring:
    """The last `size` samples of a stream, pushed a block at a time."""

    def __init__(self, size: int):
        self.buf = np.zeros(int(size), np.float32)

    def push(self, block) -> None:
        x = np.asarray(block, np.float32).ravel()
        n = len(self.buf)
        if len(x) >= n:
            self.buf[:] = x[-n:]
        elif len(x):
            self.buf[:-len(x)] = self.buf[len(x):]
            self.buf[-len(x):] = x

    def last(self, n: int) -> np.ndarray:
        n = int(n)
        if n <= len(self.buf):
            return self.buf[len(self.buf) - n:].copy()
        return np.concatenate([np.zeros(n - len(self.buf), np.float32), self.buf])


def audio_samples(inputs, state, port: str, n: int) -> np.ndarray:
    """The last `n` samples of an audio input: from `state["audio"]` when the machine gives it,
    else from a ring in the state fed with `inputs[port]` at each call (one block per frame)."""
    get = state.get("audio")
    if get is not None:
        x = np.asarray(get(port, n), np.float32).ravel()
        if len(x) < n:
            x = np.concatenate([np.zeros(n - len(x), np.float32), x])
        return x[len(x) - n:]
    rings = state.setdefault("rings", {})
    ring = rings.get(port)
    if ring is None:
        ring = rings[port] = Ring(state.get("history", n))
    block = inputs.get(port)
    if isinstance(block, np.ndarray):
        ring.push(block)
    return ring.last(n)


def _check_samples(args):
    n = args.get("samples")
    if not isinstance(n, int) or not 16 <= n <= 16384:
        raise BadArgument(f"waveform: samples must be an integer in 16..16384, not {n!r}")


def column_ranges(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column, the (min, max) of the polyline through `x` stretched over `width`."""
    x = np.asarray(x, np.float64)
    n = len(x)
    pos = (np.arange(n) + 0.5) / n
    edges = np.arange(width + 1) / width
    ve = np.interp(edges, pos, x)
    lo, hi = np.minimum(ve[:-1], ve[1:]), np.maximum(ve[:-1], ve[1:])
    idx = np.searchsorted(pos, edges)
    starts, ends = idx[:-1], idx[1:]
    inside = ends > starts
    if inside.any():
        st = np.minimum(starts, n - 1)
        lo = np.where(inside, np.minimum(lo, np.minimum.reduceat(x, st)), lo)
        hi = np.where(inside, np.maximum(hi, np.maximum.reduceat(x, st)), hi)
    return lo, hi


WAVEFORM = _source("waveform", """
uniform sampler2D data;  // per column: (min, max) of the samples it covers
uniform float gain;
uniform float thickness;
vec4 effect(vec2 uv) {
    vec2 r = 0.5 + 0.5 * gain * texelFetch(data, ivec2(gl_FragCoord.x, 0), 0).rg;
    float d = max(max(min(r.x, r.y) - uv.y, uv.y - max(r.x, r.y)), 0.0);
    float v = 1.0 - smoothstep(0.5 * thickness, 0.5 * thickness + 1.0 / resolution.y, d);
    return vec4(vec3(v), 1.0);
}
""")


@neuron_type("waveform", inputs={"in": "audio", "gain": ("number", 1.0), "thickness": ("number", 0.01)},
             outputs={"out": "image"}, args={"samples": 1024}, check=_check_samples,
             state=lambda args: {"history": int(args["samples"])})
def waveform(inputs, state):
    """The last `samples` samples of audio `in` as a white line on black (gain scales, 1 = full height).

    thickness in image heights. Example: `screen = waveform(out.left, samples=2048)`
    """
    gpu = _gpu(state)
    key = _key(state, gpu)
    x = audio_samples(inputs, state, "in", state["history"])
    lo, hi = column_ranges(x, gpu.size[0])
    data = gpu.data_texture(key, "data", np.stack([lo, hi], axis=1)[None])
    uniforms = {"gain": inputs.get("gain", 1.0), "thickness": inputs.get("thickness", 0.01)}
    return {"out": gpu.render(key, WAVEFORM, uniforms, {"data": data})}


_mark(waveform)

SPECTRUM_LOW = 20.0   # Hz at the left edge; the right edge is rate / 2
SPECTRUM_RANGE = 80.0  # dB shown: level 0 at -80 dBFS, 1 at 0 dBFS (a full-scale sine)


def _check_size(args):
    n = args.get("size")
    if not isinstance(n, int) or n < 64 or n > 16384 or n & (n - 1):
        raise BadArgument(f"spectrum: size must be a power of two in 64..16384, not {n!r}")


def spectrum_levels(x: np.ndarray, rate: float, width: int) -> np.ndarray:
    """Level in [0, 1] per pixel column: Hann-windowed magnitude, log frequency, dB scale."""
    n = len(x)
    win = np.hanning(n)
    mag = np.abs(np.fft.rfft(x * win)) * (2.0 / win.sum())
    top = rate / 2.0
    edges = SPECTRUM_LOW * (top / SPECTRUM_LOW) ** (np.arange(width + 1) / width)
    bins = edges * n / rate
    centres = np.sqrt(edges[:-1] * edges[1:]) * n / rate
    m = np.interp(centres, np.arange(len(mag)), mag)
    lo = np.ceil(bins[:-1]).astype(int)
    hi = np.floor(bins[1:]).astype(int)
    inside = hi >= lo
    if inside.any():
        st = np.minimum(lo, len(mag) - 1)
        peak = np.maximum.reduceat(mag, st)  # from each column's first bin on; valid where inside
        m = np.where(inside & (hi > lo), np.maximum(m, peak), m)
    db = 20.0 * np.log10(m + 1e-12)
    return np.clip(1.0 + db / SPECTRUM_RANGE, 0.0, 1.0)


SPECTRUM = _source("spectrum", """
uniform sampler2D data;  // level in [0, 1] per column
uniform float gain;
uniform float bars;
vec4 effect(vec2 uv) {
    float l = gain * texelFetch(data, ivec2(gl_FragCoord.x, 0), 0).r;
    float v = bars > 0.5 ? step(uv.y, l) : l;
    return vec4(vec3(v), 1.0);
}
""")


@neuron_type("spectrum", inputs={"in": "audio", "gain": ("number", 1.0), "bars": ("number", 1.0)},
             outputs={"out": "image"}, args={"size": 2048}, check=_check_size,
             state=lambda args: {"history": int(args["size"]), "rate": 48000})
def spectrum(inputs, state):
    """Magnitude spectrum of audio `in` (last `size` samples): log frequency across, 80 dB up.

    Frequency runs from 20 Hz (left) to rate/2 (right); level 0 is -80 dBFS, 1 is a
    full-scale sine. bars=1 draws white bars, bars=0 the level stretched over the height.

    Example: `screen = hue(spectrum(out.left), amount=0.3)`
    """
    gpu = _gpu(state)
    key = _key(state, gpu)
    x = audio_samples(inputs, state, "in", state["history"])
    levels = spectrum_levels(x, state.get("rate", 48000), gpu.size[0])
    data = gpu.data_texture(key, "data", levels[None, :])
    uniforms = {"gain": inputs.get("gain", 1.0), "bars": inputs.get("bars", 1.0)}
    return {"out": gpu.render(key, SPECTRUM, uniforms, {"data": data})}


_mark(spectrum)


@neuron_type("screen", inputs={"in": "image"}, outputs={}, pinned=True, frame=True)
def screen(inputs, state):
    """The window and the video: shows what reaches `in` at each frame."""
    state["image"] = inputs.get("in")
    return {}


def shader_folder(patch_path=None, shaders=None):
    """The folder of more shader types for a patch: `shaders` when given, else a
    `shaders/` folder beside the patch when there is one (not dmmlive's own library)."""
    if shaders is not None:
        return Path(shaders)
    if patch_path is not None and not str(patch_path).lower().endswith(".dmmlog"):
        beside = Path(patch_path).resolve().parent / "shaders"
        if beside.is_dir() and beside != LIBRARY:
            return beside
    return None


def patch_types(patch_path=None, shaders=None, errors: list | None = None) -> Types:
    """The neuron types a patch is read with: the standard table, plus the shader files of
    its `shader_folder`. The ShaderErrors of files that do not parse go to `errors` when
    given, else the first is raised."""
    folder = shader_folder(patch_path, shaders)
    if folder is None:
        return STANDARD
    if not folder.is_dir():
        raise BadArgument(f"--shaders {shaders}: no such folder")
    types = STANDARD.copy()
    load_shader_types(folder, errors=errors, types=types)
    return types
