// Rotate src about the centre by angle (radians) + speed * time (radians per second).
uniform sampler2D src;
uniform float angle;  // default 0
uniform float speed;  // default 0
vec4 effect(vec2 uv) {
    float aspect = resolution.x / resolution.y;
    vec2 p = (uv - 0.5) * vec2(aspect, 1.0);
    p = rot(-(angle + speed * time)) * p;
    return texture(src, p / vec2(aspect, 1.0) + 0.5);
}
