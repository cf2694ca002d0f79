// Kaleidoscope: fold src into `sides` mirrored wedges about the centre.
uniform sampler2D src;
uniform float sides;  // default 4
vec4 effect(vec2 uv) {
    vec2 st = uv - 0.5;
    float wedge = TAU / max(sides, 1.0);
    float a = abs(mod(atan(st.y, st.x), wedge) - 0.5 * wedge);
    return texture(src, length(st) * vec2(cos(a), sin(a)) + 0.5);
}
