// Plasma: drifting sine interference in colour; speed scales time.
uniform float speed;  // default 0.5
vec4 effect(vec2 uv) {
    vec2 p = uv * 6.0;
    float t = time * speed;
    float v = sin(p.x + t) + sin(p.y + 1.3 * t) + sin(p.x + p.y + 0.7 * t)
            + sin(length(p - 3.0) + 1.7 * t);
    return vec4(0.5 + 0.5 * sin(v + vec3(0.0, 2.094, 4.189)), 1.0);
}
