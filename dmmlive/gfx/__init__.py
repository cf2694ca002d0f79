"""The GPU side of image streams: shader source handling (pure strings) and rendering on moderngl.

`shaders` needs no GPU; `gpu` holds `Gpu` and `Image`; `types` registers the `image` kind,
the shader-file types (`load_shader_types`, `reload_shader`) and the Python-defined GPU types.
"""
from .shaders import ShaderError, ShaderSource, parse
from .gpu import Gpu, Image, Key
from .types import LIBRARY, load_shader_types, reload_shader

__all__ = ["Gpu", "Image", "Key", "ShaderError", "ShaderSource", "parse", "LIBRARY",
           "load_shader_types", "reload_shader"]
