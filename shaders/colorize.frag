// Tint: the luma of src times the colour (r, g, b).
uniform sampler2D src;
uniform float r;  // default 1
uniform float g;  // default 0.5
uniform float b;  // default 0.2
vec4 effect(vec2 uv) {
    vec4 c = texture(src, uv);
    return vec4(luma(c.rgb) * vec3(r, g, b), c.a);
}
