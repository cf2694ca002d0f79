// Zoom src about the centre: amount > 1 zooms in, < 1 out (edges stretch).
uniform sampler2D src;
uniform float amount;  // default 1
vec4 effect(vec2 uv) {
    float k = abs(amount) < 1e-4 ? 1e-4 : amount;
    return texture(src, (uv - 0.5) / k + 0.5);
}
