"""A file's version: its md5, as DVC records it, cached by size and modification time as DVC does."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

CHUNK = 1 << 20


def file_md5(path: Path, cache_file: Path) -> str:
    """The md5 of ``path``'s bytes; re-hashed only when its size or mtime differ from the cached entry."""
    stat = path.stat()
    key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
    try:
        cache = json.loads(cache_file.read_text())
    except (FileNotFoundError, ValueError):
        cache = {}
    entry = cache.get(key)
    if entry and entry[:2] == stamp:
        return entry[2]
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    cache[key] = [*stamp, digest.hexdigest()]
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers each write whole files
    tmp.write_text(json.dumps(cache))
    tmp.replace(cache_file)
    return digest.hexdigest()
