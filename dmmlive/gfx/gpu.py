"""Rendering image streams on a moderngl context: textures, weighted sums, shader passes, read-back.

Conventions:
- an image is an RGBA float16 texture at the render size (w, h); `Image` is a handle on one;
- arrays given to `upload` and returned by `read` are (h, w, 4), row 0 at the top, as an
  image is seen; in GLSL uv (0, 0) is the bottom left, so array row r is uv.y = 1 - (r+0.5)/h;
- the linear structure covers all four channels: a number c broadcast to an image is
  (c, c, c, c), and a weighted sum adds alphas too;
- every texture belongs to a key: a neuron (its output's ping-pong pair), an input port
  `(neuron, port)` (the result of its down movement), or an upload. `release(key)` frees
  what the key holds, and the holdings of every tuple key whose first item is `key`.
"""
from __future__ import annotations

import itertools
import weakref

import moderngl
import numpy as np

from .shaders import BLIT, VERTEX, ShaderError, ShaderSource, combine_source

CHUNK = 8  # textures summed per combine pass


class Image:
    """A handle on an RGBA float16 texture holding one image stream value."""
    __slots__ = ("texture",)

    def __init__(self, texture):
        self.texture = texture

    @property
    def size(self) -> tuple[int, int]:
        return self.texture.size

    def __repr__(self):
        w, h = self.size
        return f"<Image {w}x{h} #{self.texture.glo}>"


_ids = itertools.count(1)


class _Tag:
    """A private first item for the GPU's own keys, so no neuron name can collide with them."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


_AUTO, _UPLOAD, _RGB8 = _Tag("key"), _Tag("upload"), _Tag("rgb8")


class Key:
    """A key for a neuron's textures that frees them (at the next GPU call) once it is dropped.

    Image neuron types put one in their state on first use (`state["key"]`), so a neuron
    that is renamed (crossfade) keeps its textures and a replaced one gets fresh ones.
    """
    __slots__ = ("id", "_dead", "__weakref__")

    def __init__(self, dead: list):
        self.id = (_AUTO, next(_ids))
        self._dead = dead
        weakref.finalize(self, dead.append, self.id)

    def __deepcopy__(self, memo):
        return Key(self._dead)  # a copied state is another neuron: textures of its own

    def __repr__(self):
        return f"<Key {self.id[1]}>"


_TAGS = {t.name: t for t in (_AUTO, _UPLOAD, _RGB8)}


def _enc(x):
    """A texture key with its tags as plain tuples (a snapshot holds no _Tag objects)."""
    if isinstance(x, _Tag):
        return (("\0tag",), x.name)
    if isinstance(x, tuple):
        return tuple(_enc(v) for v in x)
    return x


def _flat(x):
    return [y for v in x for y in _flat(v)] if isinstance(x, tuple) else [x]


def _tex_state(t) -> tuple:
    return (t.size, t.components, t.dtype, t.read())


class _Pair:
    """Two textures with framebuffers: one holds the latest frame, the other the one before."""

    def __init__(self, ctx, size):
        self.textures = [_texture(ctx, size) for _ in range(2)]
        self.fbos = [ctx.framebuffer(color_attachments=[t]) for t in self.textures]
        for f in self.fbos:
            f.clear(0.0, 0.0, 0.0, 0.0)
        self.latest = 0

    def release(self):
        for o in self.fbos + self.textures:
            o.release()


def _texture(ctx, size, components=4, dtype="f2"):
    t = ctx.texture(tuple(size), components, dtype=dtype)
    t.repeat_x = t.repeat_y = False  # clamp to edge: shaders that want wrap-around use fract()
    t.filter = (moderngl.LINEAR, moderngl.LINEAR)
    return t


class _Program:
    __slots__ = ("program", "vao")

    def __init__(self, program, vao):
        self.program, self.vao = program, vao

    def set(self, name, value):
        m = self.program.get(name, None)  # absent when unused: the compiler removed it
        if m is not None:
            m.value = value


class Gpu:
    """The GPU side of a machine: render size, textures by key, compiled shaders.

    `Gpu(ctx=None, size=(w, h))`: `ctx` None makes a standalone EGL context (no display
    needed); otherwise give an existing moderngl context (e.g. a pyglet window's, from
    `moderngl.create_context()`). Call it from the thread that owns the context.
    """

    def __init__(self, ctx=None, size=(256, 256)):
        self._own = ctx is None
        self.ctx = moderngl.create_standalone_context(backend="egl", require=330) if ctx is None else ctx
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f"render size must be positive, got {size}")
        self._slots: dict = {}     # key -> {name: _Pair | texture | framebuffer}
        self._programs: dict = {}  # fragment source -> _Program | ShaderError
        self._dead: list = []      # ids of dropped Keys, freed at the next call
        self._black = None
        self._uploads = itertools.count()

    # --- keys and resources -------------------------------------------------------------

    def new_key(self) -> Key:
        return Key(self._dead)

    @staticmethod
    def _norm(key):
        if isinstance(key, Key):
            return key.id
        if isinstance(key, tuple) and key and isinstance(key[0], Key):
            return (key[0].id,) + key[1:]  # a port of a neuron known by its Key
        return key

    def _slot(self, key) -> dict:
        while self._dead:
            self.release(self._dead.pop())
        key = self._norm(key)
        s = self._slots.get(key)
        if s is None:
            s = self._slots[key] = {}
        return s

    def _pair(self, key, name="out") -> _Pair:
        s = self._slot(key)
        p = s.get(name)
        if p is None:
            p = s[name] = _Pair(self.ctx, self.size)
        return p

    def release(self, key) -> None:
        """Free the textures of `key` and of every tuple key `(key, ...)` (a neuron's ports)."""
        key = self._norm(key)
        doomed = [k for k in self._slots
                  if k == key or (isinstance(k, tuple) and k and k[0] == key and k != key)]
        for k in doomed:
            for r in self._slots.pop(k).values():
                r.release()

    def resize(self, size) -> None:
        """Change the render size; every texture but uploads is dropped (feedback restarts black)."""
        self.size = (int(size[0]), int(size[1]))
        for k in [k for k, s in self._slots.items() if "upload" not in s]:
            self.release(k)
        if self._black is not None:
            self._black.release()
            self._black = None

    def close(self) -> None:
        for k in list(self._slots):
            self.release(k)
        for p in self._programs.values():
            if isinstance(p, _Program):
                p.vao.release()
                p.program.release()
        self._programs.clear()
        if self._black is not None:
            self._black.release()
            self._black = None
        if self._own:
            self.ctx.release()

    # --- snapshots (core/snapshot.py) -----------------------------------------------------

    def snapshot_textures(self) -> dict:
        """Every texture's contents, read back (with what `snapshot_id` needs to name the
        textures, Images, Keys and tags the machine's state holds): `restore_textures` on
        another Gpu makes the same textures again."""
        while self._dead:
            self.release(self._dead.pop())
        refs, slots = {}, []
        for key, slot in self._slots.items():
            if _RGB8 in _flat(key):
                continue  # the video read-back's scratch: made again when needed
            ek = _enc(key)
            items = {}
            for name, r in slot.items():
                if isinstance(r, _Pair):
                    items[name] = ("pair", r.latest, [_tex_state(t) for t in r.textures])
                    for i, t in enumerate(r.textures):
                        refs[id(t)] = (ek, name, i)
                elif isinstance(r, moderngl.Texture):
                    items[name] = ("tex", _tex_state(r))
                    refs[id(r)] = (ek, name, None)
            slots.append((ek, items))
        if self._black is not None:
            refs[id(self._black)] = "black"
        self._refs = refs
        uploads = next(self._uploads)
        self._uploads = itertools.count(uploads)  # (the same numbers on: a snapshot changes nothing)
        return {"size": self.size, "slots": slots, "uploads": uploads}

    def snapshot_id(self, obj):
        """How a snapshot names `obj` if it is one of this Gpu's (an Image, a texture, a
        Key, a tag), else None; `snapshot_load` on the restored Gpu gives it back."""
        if isinstance(obj, Image):
            return ("image", self._refs.get(id(obj.texture), "black"))
        if isinstance(obj, moderngl.Texture):
            return ("tex", self._refs.get(id(obj), "black"))
        if isinstance(obj, Key):
            return ("key", obj.id[1])
        if isinstance(obj, _Tag):
            return ("tag", obj.name)
        return None

    def restore_textures(self, state) -> None:
        """Make the textures of `snapshot_textures` again on this Gpu (before `snapshot_load`)."""
        self._keys: dict = {}
        self._loaded: dict = {}
        if state is None:
            return
        self.size = tuple(state["size"])
        self._uploads = itertools.count(state["uploads"])
        for ek, items in state["slots"]:
            key = self._dec(ek)
            s = self._slots.setdefault(key, {})
            for name, item in items.items():
                if item[0] == "pair":
                    p = s[name] = _Pair(self.ctx, item[2][0][0])
                    p.latest = item[1]
                    for i, (t, st) in enumerate(zip(p.textures, item[2])):
                        t.write(st[3])
                        self._loaded[(ek, name, i)] = t
                else:
                    size, comps, dtype, data = item[1]
                    t = s[name] = _texture(self.ctx, size, comps, dtype)
                    t.write(data)
                    self._loaded[(ek, name, None)] = t
            if "copy" in s:
                s["copyfbo"] = self.ctx.framebuffer(color_attachments=[s["copy"]])

    def snapshot_load(self, pid):
        """The object a snapshot named `pid` (see `snapshot_id`), on this Gpu."""
        what, ref = pid
        if what == "key":
            return self._key_for(ref)
        if what == "tag":
            return _TAGS[ref]
        tex = self.black().texture if ref == "black" else self._loaded[ref]
        return Image(tex) if what == "image" else tex

    def _key_for(self, n) -> Key:
        k = self._keys.get(n)
        if k is None:
            k = self._keys[n] = Key(self._dead)
        return k

    def _dec(self, x):
        if isinstance(x, tuple) and len(x) == 2 and x[0] == ("\0tag",):
            return _TAGS[x[1]]
        if isinstance(x, tuple):
            x = tuple(self._dec(v) for v in x)
            if len(x) == 2 and x[0] is _AUTO:  # a Key's id: the restored Key's
                return self._key_for(x[1]).id
        return x

    # --- programs -----------------------------------------------------------------------

    def compile(self, src: ShaderSource | str) -> _Program:
        """The compiled program of a shader (cached); ShaderError with the file's line on failure."""
        fragment = src.fragment if isinstance(src, ShaderSource) else src
        p = self._programs.get(fragment)
        if p is None:
            try:
                prog = self.ctx.program(vertex_shader=VERTEX, fragment_shader=fragment)
                p = _Program(prog, self.ctx.vertex_array(prog, []))
            except moderngl.Error as e:
                if isinstance(src, ShaderSource):
                    p = src.glsl_error(str(e))
                else:
                    raise
            self._programs[fragment] = p
        if isinstance(p, ShaderError):
            raise p
        return p

    def forget(self, src: ShaderSource | str) -> None:
        """Drop a shader's compiled program (after a reload replaced it)."""
        fragment = src.fragment if isinstance(src, ShaderSource) else src
        p = self._programs.pop(fragment, None)
        if isinstance(p, _Program):
            p.vao.release()
            p.program.release()

    def _run(self, prog: _Program, fbo, textures: dict):
        self.ctx.disable(moderngl.BLEND)
        for unit, (name, tex) in enumerate(textures.items()):
            tex.use(location=unit)
            prog.set(name, unit)
        fbo.use()
        prog.vao.render(moderngl.TRIANGLES, vertices=3)

    # --- the image operations the machine calls ---------------------------------------------

    def black(self) -> Image:
        """The zero image (transparent black), shared and never written."""
        if self._black is None:
            self._black = _texture(self.ctx, self.size)
            self._black.write(np.zeros((self.size[1], self.size[0], 4), np.float16).tobytes())
        return Image(self._black)

    def combine(self, dst_key, terms, const: float = 0.0) -> Image:
        """Σ w·img + const, rendered into the textures of `dst_key`: one pass per CHUNK terms.

        `terms`: [(Image, weight)]. No terms and const 0 give the shared black image; one
        term of weight 1 and const 0 gives that image itself (no pass).
        """
        terms = [(img, float(w)) for img, w in terms if w != 0.0 and img is not None]
        const = float(const)
        if not terms and const == 0.0:
            return self.black()
        if len(terms) == 1 and terms[0][1] == 1.0 and const == 0.0:
            return terms[0][0]
        pair = self._pair(dst_key, "sum")
        acc = None  # the texture holding the partial sum so far
        rest = list(terms)
        while True:
            room = CHUNK if acc is None else CHUNK - 1
            chunk, rest = rest[:room], rest[room:]
            if acc is not None:
                chunk = [(Image(acc), 1.0)] + chunk
            prog = self.compile(combine_source(len(chunk)))
            prog.set("c", const if acc is None else 0.0)
            textures = {}
            for i, (img, w) in enumerate(chunk):
                textures[f"t{i}"] = img.texture
                prog.set(f"w{i}", w)
            out = 1 - pair.latest
            if any(t is pair.textures[out] for t in textures.values()):
                out = pair.latest  # a term reads the older texture: write the other one
            self._run(prog, pair.fbos[out], textures)
            pair.latest = out
            acc = pair.textures[out]
            if not rest:
                return Image(acc)

    def render(self, key, src: ShaderSource | str, uniforms: dict | None = None,
               images: dict | None = None, time: float = 0.0) -> Image:
        """Run a shader into the ping-pong pair of `key`; its previous frame is `prev`.

        `uniforms`: {GLSL name: float}; `images`: {GLSL name: Image | texture | None (black)
        | number (a flat image)}. `time` and `resolution` are set when the shader uses them.
        """
        prog = self.compile(src)
        pair = self._pair(key)
        out = 1 - pair.latest
        textures = {"prev": pair.textures[pair.latest]}
        for name, img in (images or {}).items():
            if img is None:
                tex = self.black().texture
            elif isinstance(img, Image):
                tex = img.texture
            elif isinstance(img, (int, float, np.floating, np.integer)):
                tex = self.combine((self._norm(key), "flat:" + name), [], float(img)).texture
            else:
                tex = img  # a moderngl texture (e.g. a data texture)
            if tex is pair.textures[out]:  # a stale handle on the texture being written
                tex = self._copy(key, tex)
            textures[name] = tex
        for name, v in (uniforms or {}).items():
            prog.set(name, float(v))
        prog.set("time", float(time))
        prog.set("resolution", (float(self.size[0]), float(self.size[1])))
        self._run(prog, pair.fbos[out], textures)
        pair.latest = out
        return Image(pair.textures[out])

    def _copy(self, key, tex):
        s = self._slot(key)
        if "copy" not in s:
            s["copy"] = _texture(self.ctx, tex.size)
            s["copyfbo"] = self.ctx.framebuffer(color_attachments=[s["copy"]])
        src = self.ctx.framebuffer(color_attachments=[tex])
        self.ctx.copy_framebuffer(s["copyfbo"], src)
        src.release()
        return s["copy"]

    def data_texture(self, key, name: str, array: np.ndarray):
        """A float32 texture (rows, cols, 1-4 components) owned by `key`, rewritten each call.

        For data a Python image type computes on the CPU (a waveform, a spectrum); rows are
        in GL order (row 0 at uv.y = 0), no flip.
        """
        a = np.ascontiguousarray(array, np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim == 2:
            a = a[:, :, None]
        h, w, c = a.shape
        s = self._slot(key)
        t = s.get(name)
        if t is None or t.size != (w, h) or t.components != c:
            if t is not None:
                t.release()
            t = s[name] = _texture(self.ctx, (w, h), c, "f4")
        t.write(a.tobytes())
        return t

    def upload(self, array: np.ndarray, key=None) -> Image:
        """An image from an array (h, w), (h, w, 1|3|4), row 0 at the top; uint8 is scaled by 1/255.

        Gray gives (v, v, v, 1); RGB gets alpha 1. With `key`, the texture is reused by later
        uploads of the same key (pass one for repeated uploads); without, a new one each call.
        """
        a = np.asarray(array)
        scale = 1.0 / 255.0 if a.dtype == np.uint8 else 1.0
        a = a.astype(np.float32) * scale
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
            raise ValueError(f"upload wants an array (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), got {a.shape}")
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        if a.shape[2] == 3:
            a = np.concatenate([a, np.ones(a.shape[:2] + (1,), np.float32)], axis=2)
        h, w = a.shape[:2]
        data = np.ascontiguousarray(a[::-1], np.float16).tobytes()
        if key is None:
            key = (_UPLOAD, next(self._uploads))
        s = self._slot(key)
        t = s.get("upload")
        if t is None or t.size != (w, h):
            if t is not None:
                t.release()
            t = s["upload"] = _texture(self.ctx, (w, h))
        t.write(data)
        return Image(t)

    def read(self, image: Image) -> np.ndarray:
        """The image as a float32 array (h, w, 4), row 0 at the top."""
        tex = image.texture if isinstance(image, Image) else image
        w, h = tex.size
        a = np.frombuffer(tex.read(), np.float16 if tex.dtype == "f2" else np.float32)
        return a.reshape(h, w, tex.components)[::-1].astype(np.float32)

    def read_rgb8(self, image: Image) -> np.ndarray:
        """The image as uint8 RGB (h, w, 3), row 0 at the top, clamped to [0, 1]: for video."""
        tex = image.texture if isinstance(image, Image) else image
        w, h = tex.size
        s = self._slot((_RGB8, w, h))
        if "fbo" not in s:
            s["tex"] = self.ctx.texture((w, h), 4, dtype="f1")
            s["fbo"] = self.ctx.framebuffer(color_attachments=[s["tex"]])
        prog = self.compile(BLIT)
        prog.set("flip", 1.0)
        self._run(prog, s["fbo"], {"src": tex})
        data = s["fbo"].read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)

    def draw(self, image: Image, framebuffer=None, viewport=None) -> None:
        """Draw the image, stretched, into a framebuffer (default the context's screen)."""
        fbo = framebuffer if framebuffer is not None else self.ctx.screen
        prog = self.compile(BLIT)
        prog.set("flip", 0.0)
        self.ctx.disable(moderngl.BLEND)
        image.texture.use(location=0)
        prog.set("src", 0)
        fbo.use()
        if viewport is not None:
            fbo.viewport = viewport
        prog.vao.render(moderngl.TRIANGLES, vertices=3)
