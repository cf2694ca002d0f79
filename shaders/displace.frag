// Displace src by map: its red/green (0.5 = still) move each pixel by up to amount/2.
uniform sampler2D src;
uniform sampler2D map;
uniform float amount;  // default 0.05
vec4 effect(vec2 uv) {
    vec2 d = texture(map, uv).rg - 0.5;
    return texture(src, uv + d * amount);
}
