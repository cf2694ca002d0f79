// Blur src: a 7x7 Gaussian-weighted average over radius (in image widths).
uniform sampler2D src;
uniform float radius;  // default 0.01
vec4 effect(vec2 uv) {
    vec4 s = vec4(0.0); float n = 0.0;
    for (int i = -3; i <= 3; i++) for (int j = -3; j <= 3; j++) {
        float w = exp(-float(i * i + j * j) / 4.5);
        s += w * texture(src, uv + vec2(i, j) * (radius / 3.0) * vec2(1.0, resolution.x / resolution.y));
        n += w;
    }
    return s / n;
}
