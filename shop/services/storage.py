"""Where uploaded and seeded files live: under generated names, outside any served folder."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shop.settings import get_settings


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size_bytes: int
    sha256: str


def _files_root() -> Path:
    return get_settings().files_dir()


def path_for(key: str) -> Path:
    """The local path of a stored key; refuses keys that would leave the files folder."""
    root = _files_root().resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError(f"storage key escapes the files folder: {key!r}")
    return path


def store_chunks(chunks: Iterable[bytes], *, suffix: str = "") -> StoredFile:
    """Write chunks to a new generated key, hashing as it goes; never loads the whole file."""
    key = f"{secrets.token_hex(2)}/{secrets.token_urlsafe(24)}{suffix}"
    final = path_for(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    size = 0
    with partial.open("wb") as handle:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(final)
    return StoredFile(key=key, size_bytes=size, sha256=digest.hexdigest())


def store_bytes(data: bytes, *, suffix: str = "") -> StoredFile:
    return store_chunks([data], suffix=suffix)


def read_bytes(key: str) -> bytes:
    return path_for(key).read_bytes()
