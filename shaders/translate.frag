// Shift src by (x, y) in image widths/heights (x right, y up), wrapping around.
uniform sampler2D src;
uniform float x;  // default 0
uniform float y;  // default 0
vec4 effect(vec2 uv) {
    return texture(src, fract(uv - vec2(x, y)));
}
