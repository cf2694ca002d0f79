"""The patch language: text -> checked network (parse), with positioned errors."""
from .errors import PatchError
from .parse import Declared, Patch, parse

__all__ = ["parse", "Patch", "Declared", "PatchError"]
