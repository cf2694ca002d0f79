// Matrix product of images, per channel: out[i, j] = sum_k a[i, k] * b[k, j] / n, n = min(width, height).
uniform sampler2D a;
uniform sampler2D b;
vec4 effect(vec2 uv) {
    ivec2 p = ivec2(gl_FragCoord.xy), size = textureSize(b, 0);
    int n = min(size.x, size.y);  // rows i, columns j count from the top left, as in `read`
    vec3 s = vec3(0.0);
    for (int k = 0; k < n; k++)
        s += texelFetch(a, ivec2(k, p.y), 0).rgb * texelFetch(b, ivec2(p.x, size.y - 1 - k), 0).rgb;
    return vec4(s / float(n), 1.0);
}
