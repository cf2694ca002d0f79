// Hydra's osc: sine stripes across x; freq (radians across the image), sync (scroll speed), offset (RGB phase split).
uniform float freq;    // default 60
uniform float sync;    // default 0.1
uniform float offset;  // default 0
vec4 effect(vec2 uv) {
    float p = (uv.x + time * sync) * freq;
    return vec4(0.5 + 0.5 * sin(vec3(p - offset, p, p + offset)), 1.0);
}
