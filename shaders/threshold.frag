// White where the luma of src passes level, black elsewhere; smooth widens the edge (0 = binary).
uniform sampler2D src;
uniform float level;   // default 0.5
uniform float smooth;  // default 0.05
vec4 effect(vec2 uv) {
    vec4 c = texture(src, uv);
    float l = luma(c.rgb);
    float v = smooth > 0.0 ? smoothstep(level - 0.5 * smooth, level + 0.5 * smooth, l) : step(level, l);
    return vec4(vec3(v), c.a);
}
