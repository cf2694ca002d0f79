// Regular polygon, white on black: sides, radius (of the inscribed circle, 1 = edge), smooth (edge width).
uniform float sides;   // default 3
uniform float radius;  // default 0.3
uniform float smooth;  // default 0.01
vec4 effect(vec2 uv) {
    vec2 st = uv * 2.0 - 1.0;
    float a = atan(st.x, st.y) + PI, r = TAU / max(sides, 1.0);
    float d = cos(floor(0.5 + a / r) * r - a) * length(st);
    return vec4(vec3(1.0 - smoothstep(radius, radius + max(smooth, 1e-6), d)), 1.0);
}
