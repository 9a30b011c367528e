"""A file's size as people read it, the one way every page and message shows it."""
from __future__ import annotations

KB = 1024
MB = 1024 * KB


def file_size(size_bytes: int) -> str:
    """"200 B", "1.5 KB", "10 MB" (one decimal at most, none when it is 0)."""
    for unit, scale in (("MB", MB), ("KB", KB)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size_bytes} B"
