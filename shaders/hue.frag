// Rotate the hue of src by amount (1 = a full turn).
uniform sampler2D src;
uniform float amount;  // default 0.1
vec4 effect(vec2 uv) {
    vec4 c = texture(src, uv);
    vec3 h = rgb2hsv(max(c.rgb, 0.0));
    return vec4(hsv2rgb(vec3(fract(h.x + amount), h.yz)), c.a);
}
