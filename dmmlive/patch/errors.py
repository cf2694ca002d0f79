"""PatchError: a rejected patch text, with file, line, column and the offending line."""
from __future__ import annotations

from ..core.errors import DmmError


class PatchError(DmmError):
    """A patch that cannot be read. `line` and `col` are 1-based (col counts characters).

    `str(e)` is `path:line:col: message`, then the source line and a caret under the
    column, so a console, a window overlay or an OSC reply can show it as is.
    """

    def __init__(self, message: str, path: str = "<patch>", line: int = 1, col: int = 1,
                 source_line: str = ""):
        self.message = message
        self.path = path
        self.line = int(line)
        self.col = int(col)
        self.source_line = source_line
        super().__init__(self.__str__())

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def __str__(self) -> str:
        head = f"{self.where}: {self.message}"
        src = self.source_line.rstrip("\r\n")
        if not src.strip():
            return head
        # the caret keeps the tabs of the line so it stands under the same character
        pad = "".join(c if c == "\t" else " " for c in src[:self.col - 1])
        return f"{head}\n    {src}\n    {pad}^"

    def __reduce__(self):
        return (type(self), (self.message, self.path, self.line, self.col, self.source_line))
