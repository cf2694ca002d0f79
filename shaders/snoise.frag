// Simplex noise in gray, [0, 1]; scale: cells across the image, speed: drift through time (`noise` is the audio type).
uniform float scale;  // default 4
uniform float speed;  // default 0.2
vec4 effect(vec2 uv) {
    float n = snoise(vec3(uv * scale, time * speed));
    return vec4(vec3(0.5 + 0.5 * n), 1.0);
}
