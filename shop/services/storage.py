"""Where uploaded and seeded files live: under generated names, outside any served folder.

Two backends behind one small interface, chosen by `STORAGE_URL`:
- unset (default), or `local:`/`file:`: the local `data/files/` folder;
- `s3://bucket/prefix`: an S3-compatible object store (`S3_ENDPOINT_URL`, `S3_ACCESS_KEY_ID`,
  `S3_SECRET_ACCESS_KEY`, `S3_REGION`), written with a multipart upload.

Writers take the bytes in pieces (`write`), hash and count them as they go and keep at most
one buffer in memory (1 MiB on disk, one 8 MiB part on S3), so any size costs the same memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from shop.settings import get_settings

LOCAL_BUFFER_BYTES = 1024 * 1024
S3_PART_BYTES = 8 * 1024 * 1024  # S3 needs >= 5 MiB for every part but the last
READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size_bytes: int
    sha256: str


class StorageWriter(Protocol):
    key: str

    def write(self, data: bytes) -> None: ...
    def commit(self) -> StoredFile: ...
    def abort(self) -> None: ...


class Storage(Protocol):
    """A place for private blobs addressed by generated keys."""

    name: str

    def open_writer(
        self, *, suffix: str = "", content_type: str | None = None
    ) -> StorageWriter: ...
    def iter_chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...


def new_key(suffix: str = "") -> str:
    """A random, unguessable key; the original file name is never part of it."""
    if suffix and (not suffix.startswith(".") or not suffix[1:].isalnum() or len(suffix) > 12):
        suffix = ""
    return f"{secrets.token_hex(2)}/{secrets.token_urlsafe(24)}{suffix.lower()}"


# --- local disk ----------------------------------------------------------------------------


def _files_root() -> Path:
    return get_settings().files_dir()


def path_for(key: str) -> Path:
    """The local path of a stored key; refuses keys that would leave the files folder."""
    root = _files_root().resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise ValueError(f"storage key escapes the files folder: {key!r}")
    return path


class _LocalWriter:
    def __init__(self, key: str) -> None:
        self.key = key
        self._final = path_for(key)
        self._final.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self._final.with_name(self._final.name + ".part")
        self._handle = self._partial.open("wb")
        self._digest = hashlib.sha256()
        self._size = 0
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self._size += len(data)
        self._buffer += data
        if len(self._buffer) >= LOCAL_BUFFER_BYTES:
            self._handle.write(self._buffer)
            self._buffer.clear()

    def commit(self) -> StoredFile:
        try:
            self._handle.write(self._buffer)
            self._buffer.clear()
            self._handle.flush()
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()
        self._partial.replace(self._final)
        return StoredFile(key=self.key, size_bytes=self._size, sha256=self._digest.hexdigest())

    def abort(self) -> None:
        self._handle.close()
        self._buffer.clear()
        self._partial.unlink(missing_ok=True)


class LocalStorage:
    name = "local"

    def open_writer(self, *, suffix: str = "", content_type: str | None = None) -> StorageWriter:
        return _LocalWriter(new_key(suffix))

    def iter_chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
        with path_for(key).open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def size(self, key: str) -> int:
        return path_for(key).stat().st_size

    def delete(self, key: str) -> None:
        path_for(key).unlink(missing_ok=True)


# --- S3-compatible -------------------------------------------------------------------------


class _S3Writer:
    def __init__(self, storage: S3Storage, key: str, content_type: str | None) -> None:
        self.key = key
        self._storage = storage
        self._object_key = storage.object_key(key)
        self._content_type = content_type or "application/octet-stream"
        self._digest = hashlib.sha256()
        self._size = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self._size += len(data)
        self._buffer += data
        while len(self._buffer) >= S3_PART_BYTES:
            part = bytes(self._buffer[:S3_PART_BYTES])
            del self._buffer[:S3_PART_BYTES]
            self._upload_part(part)

    def _upload_part(self, body: bytes) -> None:
        client = self._storage.client
        if self._upload_id is None:
            created = client.create_multipart_upload(
                Bucket=self._storage.bucket, Key=self._object_key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        answer = client.upload_part(
            Bucket=self._storage.bucket,
            Key=self._object_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> StoredFile:
        client = self._storage.client
        if self._upload_id is None:
            # Small file: one plain PUT.
            client.put_object(
                Bucket=self._storage.bucket,
                Key=self._object_key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            client.complete_multipart_upload(
                Bucket=self._storage.bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()
        return StoredFile(key=self.key, size_bytes=self._size, sha256=self._digest.hexdigest())

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            self._storage.client.abort_multipart_upload(
                Bucket=self._storage.bucket, Key=self._object_key, UploadId=self._upload_id
            )
            self._upload_id = None


class S3Storage:
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str,
        endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                # SigV4 everywhere, also for presigned download URLs (X-Amz-Expires).
                signature_version="s3v4",
                retries={"max_attempts": 3, "mode": "standard"},
                # Our own SHA-256 covers integrity; no extra CRC trailers some S3 clones refuse.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def object_key(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"bad storage key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def open_writer(self, *, suffix: str = "", content_type: str | None = None) -> StorageWriter:
        return _S3Writer(self, new_key(suffix), content_type)

    def iter_chunks(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
        answer = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        body = answer["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def size(self, key: str) -> int:
        head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def presigned_url(
        self,
        key: str,
        *,
        expires_in: int,
        content_disposition: str,
        content_type: str = "application/octet-stream",
    ) -> str:
        """A GET URL valid `expires_in` seconds; the object store answers it (and its Range
        requests) itself, with the given Content-Disposition and Content-Type."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.object_key(key),
                    "ResponseContentDisposition": content_disposition,
                    "ResponseContentType": content_type,
                    "ResponseCacheControl": "no-store",
                },
                ExpiresIn=expires_in,
            )
        )


# --- selection and module-level helpers ----------------------------------------------------


def get_storage() -> Storage:
    """The backend `STORAGE_URL` names (local disk when unset)."""
    settings = get_settings()
    return _storage_for(
        settings.storage_url,
        settings.s3_endpoint_url,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_region,
        str(settings.files_dir()),
    )


LOCAL_STORAGE_PREFIXES = ("file:", "local:")


def object_storage_location(storage_url: str | None) -> tuple[str, str] | None:
    """What `STORAGE_URL` names: None for local disk (unset, `file:…`, `local:…`), else the
    object store's (bucket, prefix). The one test of "files are in object storage" (storage,
    backups and the settings check use it). Raises ValueError for anything else."""
    if not storage_url or storage_url.startswith(LOCAL_STORAGE_PREFIXES):
        return None
    parsed = urlparse(storage_url)
    if parsed.scheme != "s3" or not parsed.netloc:
        # The value itself is not repeated: messages about settings never carry values.
        raise ValueError("must be unset, local: (the data dir) or s3://bucket/prefix")
    return parsed.netloc, parsed.path


@lru_cache(maxsize=8)
def _storage_for(
    storage_url: str | None,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str,
    _files_dir: str,
) -> Storage:
    location = object_storage_location(storage_url)
    if location is None:
        return LocalStorage()
    bucket, prefix = location
    return S3Storage(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        region=region,
    )


def store_chunks(
    chunks: Iterable[bytes], *, suffix: str = "", content_type: str | None = None
) -> StoredFile:
    """Write chunks to a new generated key, hashing as it goes; never loads the whole file."""
    writer = get_storage().open_writer(suffix=suffix, content_type=content_type)
    try:
        for chunk in chunks:
            writer.write(chunk)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def store_bytes(data: bytes, *, suffix: str = "") -> StoredFile:
    return store_chunks([data], suffix=suffix)


def iter_chunks(key: str, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
    return get_storage().iter_chunks(key, chunk_size)


def read_bytes(key: str) -> bytes:
    return b"".join(iter_chunks(key))


def delete(key: str) -> None:
    get_storage().delete(key)
