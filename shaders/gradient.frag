// Colour ramp: red rises left to right, green bottom to top, blue pulses with speed.
uniform float speed;  // default 0
vec4 effect(vec2 uv) {
    return vec4(uv, 0.5 + 0.5 * sin(time * speed), 1.0);
}
