// Contrast about mid-gray: (src - 0.5) * amount + 0.5; 1 leaves src as it is.
uniform sampler2D src;
uniform float amount;  // default 1
vec4 effect(vec2 uv) {
    vec4 c = texture(src, uv);
    return vec4((c.rgb - 0.5) * amount + 0.5, c.a);
}
