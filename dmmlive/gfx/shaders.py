"""Shader source handling, pure strings: parse a `.frag` body into ports, wrap it into GLSL, map errors back.

A shader file holds only a body, hydra-style:

    // Zoom `src` about the centre (amount > 1 zooms in).
    uniform sampler2D src;
    uniform float amount;   // default 1
    vec4 effect(vec2 uv) { return texture(src, (uv - 0.5) / amount + 0.5); }

- each `uniform float X;` is a number input `X`, default from a trailing `// default 0.05`
  (else 0); each `uniform sampler2D Y;` an image input `Y`; in declaration order, the first
  one being the type's default input;
- `time` (float, seconds), `resolution` (vec2, pixels) and `prev` (sampler2D, this
  neuron's previous frame) are supplied, not ports: `time` and `resolution` are always
  declared by the wrapper (a file may redeclare them), `prev` only exists if the file
  declares it;
- the file defines `vec4 effect(vec2 uv)` (uv in [0, 1]², (0, 0) at the bottom left);
  a file may instead define `void main()` writing `fragColor` (with `uv` an input);
- the wrapper adds `#version 330`, `in vec2 uv; out vec4 fragColor;`, and the helpers
  below (PI, TAU, luma, rgb2hsv, hsv2rgb, hash, vnoise, snoise, rot);
- the first comment line of the file is the type's help text;
- what `effect` returns is cleaned per pixel (NaN -> 0, clamped to ±65504, the float16
  range), so no non-finite pixel is stored or fed back (a `main()` file writes raw).

A port whose name is a GLSL reserved word (`smooth`, `flat`, `sample`...) is renamed in
the generated source (`smooth_`), so ports can carry the names users expect.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..core.errors import DmmError

SUPPLIED = {"time": "float", "resolution": "vec2", "prev": "sampler2D"}
PORT_TYPES = {"float": "number", "sampler2D": "image"}

# Words GLSL reserves (as qualifiers or for later versions) that make natural port names.
RESERVED = {"smooth", "flat", "noperspective", "centroid", "sample", "patch", "subroutine",
            "input", "output", "filter", "common", "partition", "active", "precise",
            "invariant", "layout", "attribute", "varying", "buffer", "shared", "coherent",
            "volatile", "restrict", "resource", "half", "fixed", "sizeof", "cast",
            "namespace", "using", "class", "union", "enum", "typedef", "template", "this",
            "goto", "inline", "noinline", "public", "static", "extern", "external",
            "interface", "long", "short", "double", "unsigned", "superp", "lowp",
            "mediump", "highp", "precision", "in", "out", "inout", "uniform", "const"}

VERTEX = """#version 330
out vec2 uv;
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

HELPERS = """#define PI 3.14159265358979
#define TAU 6.28318530717959
float luma(vec3 c) { return dot(c, vec3(0.2126, 0.7152, 0.0722)); }
vec3 rgb2hsv(vec3 c) {
    vec4 K = vec4(0.0, -1.0 / 3.0, 2.0 / 3.0, -1.0);
    vec4 p = mix(vec4(c.bg, K.wz), vec4(c.gb, K.xy), step(c.b, c.g));
    vec4 q = mix(vec4(p.xyw, c.r), vec4(c.r, p.yzx), step(p.x, c.r));
    float d = q.x - min(q.w, q.y);
    return vec3(abs(q.z + (q.w - q.y) / (6.0 * d + 1e-10)), d / (q.x + 1e-10), q.x);
}
vec3 hsv2rgb(vec3 c) {
    vec3 p = abs(fract(c.xxx + vec3(1.0, 2.0 / 3.0, 1.0 / 3.0)) * 6.0 - 3.0);
    return c.z * mix(vec3(1.0), clamp(p - 1.0, 0.0, 1.0), c.y);
}
float hash(vec2 p) { return fract(sin(dot(p, vec2(127.1, 311.7))) * 43758.5453123); }
float vnoise(vec2 p) {
    vec2 i = floor(p), f = fract(p), u = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash(i), hash(i + vec2(1.0, 0.0)), u.x),
               mix(hash(i + vec2(0.0, 1.0)), hash(i + vec2(1.0, 1.0)), u.x), u.y);
}
vec4 _perm(vec4 x) { return mod(((x * 34.0) + 1.0) * x, 289.0); }
float snoise(vec3 v) {  // 3-D simplex noise in [-1, 1] (Ashima Arts, MIT)
    const vec2 C = vec2(1.0 / 6.0, 1.0 / 3.0);
    vec3 i = floor(v + dot(v, C.yyy));
    vec3 x0 = v - i + dot(i, C.xxx);
    vec3 g = step(x0.yzx, x0.xyz);
    vec3 l = 1.0 - g;
    vec3 i1 = min(g.xyz, l.zxy), i2 = max(g.xyz, l.zxy);
    vec3 x1 = x0 - i1 + C.xxx, x2 = x0 - i2 + C.yyy, x3 = x0 - 0.5;
    i = mod(i, 289.0);
    vec4 p = _perm(_perm(_perm(i.z + vec4(0.0, i1.z, i2.z, 1.0))
                          + i.y + vec4(0.0, i1.y, i2.y, 1.0)) + i.x + vec4(0.0, i1.x, i2.x, 1.0));
    vec3 ns = 0.142857142857 * vec3(2.0, 0.5, 1.0) - vec3(0.0, 1.0, 0.0);
    vec4 j = p - 49.0 * floor(p * ns.z * ns.z);
    vec4 x_ = floor(j * ns.z), y_ = floor(j - 7.0 * x_);
    vec4 x = x_ * ns.x + ns.yyyy, y = y_ * ns.x + ns.yyyy;
    vec4 h = 1.0 - abs(x) - abs(y);
    vec4 b0 = vec4(x.xy, y.xy), b1 = vec4(x.zw, y.zw);
    vec4 s0 = floor(b0) * 2.0 + 1.0, s1 = floor(b1) * 2.0 + 1.0, sh = -step(h, vec4(0.0));
    vec4 a0 = b0.xzyw + s0.xzyw * sh.xxyy, a1 = b1.xzyw + s1.xzyw * sh.zzww;
    vec3 p0 = vec3(a0.xy, h.x), p1 = vec3(a0.zw, h.y), p2 = vec3(a1.xy, h.z), p3 = vec3(a1.zw, h.w);
    vec4 norm = inversesqrt(vec4(dot(p0, p0), dot(p1, p1), dot(p2, p2), dot(p3, p3)));
    p0 *= norm.x; p1 *= norm.y; p2 *= norm.z; p3 *= norm.w;
    vec4 m = max(0.6 - vec4(dot(x0, x0), dot(x1, x1), dot(x2, x2), dot(x3, x3)), 0.0);
    m = m * m;
    return 42.0 * dot(m * m, vec4(dot(p0, x0), dot(p1, x1), dot(p2, x2), dot(p3, x3)));
}
mat2 rot(float a) { float c = cos(a), s = sin(a); return mat2(c, s, -s, c); }
vec4 _clean(vec4 c) { return clamp(mix(c, vec4(0.0), isnan(c)), -65504.0, 65504.0); }
"""


class ShaderError(DmmError):
    """A shader file that does not parse or compile, shown as a patch error is:
    `shaders/NAME.frag:LINE:COL: message`, then the file's line and a caret under the
    column (without them where the line is not known)."""

    def __init__(self, path: str, line: int | None, message: str, errors=None, col: int | None = None,
                 source_line: str = ""):
        self.path, self.line, self.message = path, line, message
        self.col, self.source_line = col, source_line
        self.errors = list(errors or [(line, message)])  # [(line, message)], every error found
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.line is not None and self.col:
            where += f":{self.col}"
        head = f"{where}: {self.message}"
        src = self.source_line.rstrip("\r\n")
        if not src.strip() or not self.col:
            return head
        pad = "".join(c if c == "\t" else " " for c in src[:self.col - 1])
        return f"{head}\n    {src}\n    {pad}^"

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.message, self.errors, self.col, self.source_line))

    def at(self, text: str, col: int | None = None, word: str | None = None) -> "ShaderError":
        """This error with its line of `text` (the file) and a column: `col`, else where
        `word` starts in the line, else its first character that is not a space."""
        lines = text.splitlines()
        if self.line is None or not 1 <= self.line <= len(lines):
            return self
        src = lines[self.line - 1]
        if col is None and word:
            m = re.search(r"\b" + re.escape(word) + r"\b", src)
            col = m.start() + 1 if m else None
        if col is None:
            col = len(src) - len(src.lstrip()) + 1
        self.col, self.source_line = max(1, min(col, len(src) + 1)), src
        self.args = (self.__str__(),)
        return self


@dataclass(frozen=True)
class Uniform:
    name: str          # the port name
    glsl: str          # its name in the generated GLSL (differs for reserved words)
    kind: str          # "number" or "image"
    default: float
    line: int


@dataclass
class ShaderSource:
    """A parsed shader body: its ports, its help text and the full GLSL to compile."""
    name: str
    path: str                     # as shown in errors, e.g. "shaders/zoom.frag"
    body: str
    ports: list[Uniform]
    doc: str = ""
    uses_prev: bool = False
    style: str = "effect"         # "effect" or "main"
    fragment: str = ""            # the complete fragment shader
    offset: int = 0               # lines before the body's first line in `fragment`
    lines: int = 0                # lines in the body
    renames: dict = field(default_factory=dict)  # port -> GLSL name, where they differ

    @property
    def inputs(self) -> list[Uniform]:
        return self.ports

    def glsl_error(self, log: str) -> ShaderError:
        """The compiler's log as a ShaderError with lines counted in the file."""
        return map_errors(log, self)


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DEFAULT = re.compile(r"\bdefault\b\s*[:=]?\s*(" + _NUM + ")")
_UNIFORM = re.compile(r"\buniform\s+(?:(?:lowp|mediump|highp)\s+)?(\w+)\s+([^;]*);")
_ENTRY_EFFECT = re.compile(r"\bvec4\s+effect\s*\(")
_ENTRY_MAIN = re.compile(r"\bvoid\s+main\s*\(")


def strip_comments(text: str) -> tuple[str, list[str]]:
    """(code with comments blanked, keeping every newline; each line's `//` comment text)."""
    code = []
    i, n = 0, len(text)
    line_comment = [""]
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            line_comment[-1] = text[i + 2:j].strip()
            code.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            chunk = text[i:j]
            code.append("".join("\n" if ch == "\n" else " " for ch in chunk))
            line_comment.extend([""] * chunk.count("\n"))
            i = j
        else:
            code.append(c)
            if c == "\n":
                line_comment.append("")
            i += 1
    return "".join(code), line_comment


def first_comment(text: str) -> str:
    """The text of the file's first `//` comment line (the type's help text)."""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//"):
            return s[2:].strip()
    return ""


def parse(text: str, path: str, name: str | None = None) -> ShaderSource:
    """Parse a shader body: ports, defaults, entry point; ShaderError names the file, line
    and column, and shows the line."""
    try:
        return _parse(text, path, name)
    except ShaderError as e:
        raise e.at(text) from None


def _parse(text: str, path: str, name: str | None) -> ShaderSource:
    if name is None:
        name = re.sub(r"\.frag$", "", path.replace("\\", "/").rsplit("/", 1)[-1])
    code, comments = strip_comments(text)
    ports: list[Uniform] = []
    seen: dict[str, int] = {}
    supplied: set[str] = set()
    renames = {}
    for m in _UNIFORM.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        end_line = code.count("\n", 0, m.end()) + 1
        gtype, names = m.group(1), m.group(2)
        for raw in names.split(","):
            var = raw.strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", var):
                what = "arrays are not ports" if "[" in var else "not a plain name"
                raise ShaderError(path, line, f"uniform {gtype} {var}: {what}; a port is "
                                  "'uniform float NAME;' (a number input) or 'uniform sampler2D NAME;' "
                                  "(an image input)")
            if var in SUPPLIED:
                if gtype != SUPPLIED[var]:
                    raise ShaderError(path, line, f"uniform {gtype} {var}: '{var}' is supplied "
                                      f"as a {SUPPLIED[var]}")
                supplied.add(var)
                continue
            if gtype not in PORT_TYPES:
                raise ShaderError(path, line, f"uniform {gtype} {var}: unsupported uniform type "
                                  f"{gtype!r}; a port is 'uniform float {var};' (a number input) or "
                                  f"'uniform sampler2D {var};' (an image input)")
            if var in seen:
                raise ShaderError(path, line, f"uniform {var} is declared twice (first on line {seen[var]})")
            seen[var] = line
            default = 0.0
            if gtype == "float":
                d = _DEFAULT.search(comments[end_line - 1] if end_line - 1 < len(comments) else "")
                if d:
                    default = float(d.group(1))
            glsl = var + "_" if var in RESERVED else var
            if glsl != var:
                renames[var] = glsl
            ports.append(Uniform(var, glsl, PORT_TYPES[gtype], default, line))
    nlines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if _ENTRY_EFFECT.search(code):
        style = "effect"
    elif _ENTRY_MAIN.search(code):
        style = "main"
    else:
        raise ShaderError(path, max(nlines, 1), "defines no entry point: write "
                          "'vec4 effect(vec2 uv) { ... }' (or 'void main()' setting fragColor)")
    body = text
    for var, glsl in renames.items():  # whole words outside comments; newlines are kept
        body = _rename(body, var, glsl)
    src = ShaderSource(name=name, path=path, body=text, ports=ports, doc=first_comment(text),
                       uses_prev="prev" in supplied, style=style, lines=nlines, renames=renames)
    src.fragment, src.offset = assemble(body, declared=supplied, style=style)
    return src


def _rename(text: str, var: str, glsl: str) -> str:
    code, _ = strip_comments(text)
    out, last = [], 0
    for m in re.finditer(r"\b" + re.escape(var) + r"\b", code):
        out.append(text[last:m.start()])
        out.append(glsl)
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def assemble(body: str, declared: set[str] = frozenset(), style: str = "effect") -> tuple[str, int]:
    """(the full fragment shader around `body`, the number of lines before the body)."""
    head = ["#version 330", "in vec2 uv;", "out vec4 fragColor;"]
    if "time" not in declared:
        head.append("uniform float time;")
    if "resolution" not in declared:
        head.append("uniform vec2 resolution;")
    header = "\n".join(head) + "\n" + HELPERS
    offset = header.count("\n")
    if not body.endswith("\n"):
        body += "\n"
    footer = f"void main() {{ fragColor = {CLEAN.format('effect(uv)')}; }}\n" if style == "effect" else ""
    return header + body + footer, offset


# What the generated main() and the weighted sum write: NaN -> 0, and clamped to the float16
# range (so ±inf -> ±65504): no non-finite pixel is stored, none enters a feedback loop.
CLEAN = "_clean({})"  # _clean is defined with the helpers


# Compiler log lines: Mesa "0:12(5): error: ...", ANGLE/AMD "ERROR: 0:12: ...",
# NVIDIA "0(12) : error C1008: ...".
_LOG = [re.compile(r"^\s*(?:ERROR:\s*)?\d+:(\d+)(?:\((\d+)\))?:\s*(.*)$"),
        re.compile(r"^\s*\d+\((\d+)\)()\s*:\s*(.*)$")]
# Mesa's names of the tokens a syntax error names, in words
_TOKENS = {"BASIC_TYPE_TOK": "type name", "IDENTIFIER": "name", "NEW_IDENTIFIER": "name",
           "FLOATCONSTANT": "number", "INTCONSTANT": "number", "UINTCONSTANT": "number",
           "BOOLCONSTANT": "true or false", "FIELD_SELECTION": "field name", "TYPE_IDENTIFIER": "type name"}
_ENDS_STATEMENT = (";", "{", "}", ",", "(", "&&", "||", "+", "-", "*", "/", "=", "?", ":")


def _words(msg: str) -> str:
    """A syntax error's token in words: `unexpected BASIC_TYPE_TOK` -> `unexpected type
    name`, `unexpected RETURN` -> `unexpected 'return'`."""
    def word(m):
        tok = m.group(1)
        said = _TOKENS.get(tok) or f"'{tok.removesuffix('_TOK').lower()}'"
        return f"unexpected {said}"
    return re.sub(r"\bunexpected ([A-Z][A-Z_]+)\b", word, msg)


def _missing_semicolon(lines, line, msg):
    """(line, column) just after the end of the statement before `line` where a syntax
    error expecting ';' most likely means one is missing there; None otherwise."""
    if "syntax error" not in msg or "';'" not in msg:
        return None
    code, _ = strip_comments("\n".join(lines))
    code_lines = code.split("\n")
    k = line - 2
    while k >= 0 and not code_lines[k].strip():
        k -= 1
    if k < 0:
        return None
    before = code_lines[k].rstrip()
    if before.endswith(_ENDS_STATEMENT) or before.lstrip().startswith("#"):
        return None
    return k + 1, len(before) + 1


def map_errors(log: str, src: ShaderSource) -> ShaderError:
    """Turn a GLSL compiler log into a ShaderError whose lines (and columns, where the
    compiler gives them) are the file's own, showing the file's line under it."""
    found = []
    for raw in log.splitlines():
        for pat in _LOG:
            m = pat.match(raw)
            if m:
                found.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None, m.group(3).strip()))
                break
    errors = [e for e in found if "warning" not in e[2].lower()[:12]] or found
    if not errors:
        text = " ".join(s.strip() for s in log.splitlines() if s.strip() and not set(s.strip()) <= {"="})
        return ShaderError(src.path, None, text or "shader failed to compile")
    lines = src.body.splitlines()
    mapped, first = [], None
    for ln, col, msg in errors:
        fix = None
        for var, glsl in src.renames.items():
            msg = re.sub(r"\b" + re.escape(glsl) + r"\b", var, msg)
        msg = _words(msg)
        local = ln - src.offset
        if 1 <= local <= src.lines:
            fix = _missing_semicolon(lines, local, msg)
            if fix is not None:
                local, col = fix
                msg += f" (a ';' missing at the end of line {local}?)"
            mapped.append((local, msg))
        elif local > src.lines:  # in the generated footer: the entry point is wrong
            local, col = src.lines, None
            mapped.append((local, f"{msg} (in the generated main(), which calls "
                                  "'vec4 effect(vec2 uv)')"))
        else:  # in the generated header: a clash with a helper's name, most likely
            local, col = 1, None
            mapped.append((1, f"{msg} (in the generated header: helpers PI, TAU, luma, rgb2hsv, "
                              "hsv2rgb, hash, vnoise, snoise, rot; uniforms time, resolution)"))
        if first is None:
            named = re.search(r"[`'](\w+)'", msg)  # a name the message quotes: point at it
            first = (col, named.group(1) if named and fix is None else None)
    line, msg = mapped[0]
    col, word = first
    e = ShaderError(src.path, line, msg, mapped)
    return e.at(src.body, word=word) if word and word in (lines[line - 1] if line <= len(lines) else "") \
        else e.at(src.body, col=col)


def combine_source(n: int) -> str:
    """The fragment shader of one down-movement pass: sum of n weighted textures plus a constant.

    Unrolled: GLSL 330 cannot index a sampler array with a loop variable.
    """
    lines = ["#version 330", "in vec2 uv;", "out vec4 fragColor;", "uniform float c;"]
    lines += [f"uniform sampler2D t{i};\nuniform float w{i};" for i in range(n)]
    lines.append("void main() {")
    lines.append("    vec4 s = vec4(c);")
    lines += [f"    s += w{i} * texture(t{i}, uv);" for i in range(n)]
    lines.append("    fragColor = clamp(mix(s, vec4(0.0), isnan(s)), -65504.0, 65504.0);")
    lines.append("}")
    return "\n".join(lines) + "\n"


BLIT = """#version 330
in vec2 uv;
out vec4 fragColor;
uniform sampler2D src;
uniform float flip;
void main() {
    vec4 c = texture(src, vec2(uv.x, mix(uv.y, 1.0 - uv.y, flip)));
    fragColor = vec4(clamp(c.rgb, 0.0, 1.0), 1.0);
}
"""
