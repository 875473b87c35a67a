"""Streaming multipart uploads with the size limit enforced while the body arrives.

`receive_file` reads an HTTP body piece by piece (never all of it), feeds python-multipart's
push parser, and hands the bytes of the part named `file` to a sink (a storage writer, or a
temporary file for images) in batches of about 1 MiB, from a worker thread so the event loop
keeps serving. It refuses at once a Content-Length above the limit, and otherwise stops
reading the moment the file part or the whole body passes it, so a too-large upload is
answered 413 having read at most the limit plus one chunk.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO, Protocol

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from shop.services.errors import InvalidInput, ShopError

FILE_FIELD = "file"
# Room for the multipart framing and small form fields beside the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
FLUSH_BYTES = 1024 * 1024
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


class PayloadTooLarge(ShopError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ShopError):
    status_code = 415
    code = "unsupported_media_type"


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    filename: str
    content_type: str
    size_bytes: int
    body_bytes_read: int


class SpooledSink:
    """Keeps a small upload in memory and spills a larger one to a temporary file."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by abort()
            max_size=SPOOL_IN_MEMORY_BYTES
        )

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def abort(self) -> None:
        self.file.close()

    def rewound(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the limit of {_human(limit)}.", field=FILE_FIELD
    )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def check_declared_length(content_length: str | None, *, limit: int) -> None:
    """Refuse before reading anything when the client already says the body is too big."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise InvalidInput("Content-Length is not a number.", field="content-length") from None
    if declared > limit + MULTIPART_OVERHEAD_BYTES:
        raise _too_large(limit)


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "Send the file as multipart/form-data in a field named 'file'.", field=FILE_FIELD
        )
    return boundary


class _FilePartCollector:
    """python-multipart callbacks: remember headers, pass the `file` part's bytes on."""

    def __init__(self, limit: int, open_sink: Callable[[str, str], Sink]) -> None:
        self.limit = limit
        self.open_sink = open_sink
        self.sink: Sink | None = None
        self.filename = ""
        self.content_type = "application/octet-stream"
        self.size = 0
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.in_file = False
        self.done = False
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self.in_file = False

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name != FILE_FIELD or self.done or self.sink is not None:
            return
        self.in_file = True
        self.filename = options.get(b"filename", b"").decode("utf-8", "replace")
        self.content_type = (
            self._headers.get(b"content-type", b"application/octet-stream")
            .decode("latin-1")
            .strip()[:255]
            or "application/octet-stream"
        )
        self.sink = self.open_sink(self.filename, self.content_type)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        self.size += end - start
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.pending.append(data[start:end])
        self.pending_bytes += end - start

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file = False
            self.done = True

    def take_pending(self) -> list[bytes]:
        batch, self.pending, self.pending_bytes = self.pending, [], 0
        return batch


def _write_all(sink: Sink, batch: list[bytes]) -> None:
    for piece in batch:
        sink.write(piece)


async def receive_file(
    body: AsyncIterator[bytes],
    *,
    content_type: str | None,
    content_length: str | None,
    limit: int,
    open_sink: Callable[[str, str], Sink],
) -> tuple[Sink, ReceivedFile]:
    """Stream the `file` part of a multipart body into the sink `open_sink(name, type)` makes.

    The caller finishes the sink (commit) or, on any error raised here, nothing is left: the
    sink is aborted before the error propagates.
    """
    check_declared_length(content_length, limit=limit)
    boundary = boundary_of(content_type)
    collector = _FilePartCollector(limit, open_sink)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    body_limit = limit + MULTIPART_OVERHEAD_BYTES
    read = 0
    try:
        async for chunk in body:
            read += len(chunk)
            if read > body_limit:
                raise _too_large(limit)
            parser.write(chunk)
            if collector.pending_bytes >= FLUSH_BYTES and collector.sink is not None:
                await run_in_threadpool(_write_all, collector.sink, collector.take_pending())
        parser.finalize()
        if collector.sink is None or not collector.done:
            raise InvalidInput("Attach the upload in a form field named 'file'.", field=FILE_FIELD)
        if collector.pending:
            await run_in_threadpool(_write_all, collector.sink, collector.take_pending())
    except BaseException as exc:
        if collector.sink is not None:
            await run_in_threadpool(collector.sink.abort)
        if isinstance(exc, ShopError):
            raise
        if isinstance(exc, Exception) and exc.__class__.__module__.startswith("python_multipart"):
            raise InvalidInput(f"The multipart body is malformed: {exc}", field=FILE_FIELD) from exc
        raise
    return collector.sink, ReceivedFile(
        filename=collector.filename,
        content_type=collector.content_type,
        size_bytes=collector.size,
        body_bytes_read=read,
    )
