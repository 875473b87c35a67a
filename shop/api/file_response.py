"""A file response that streams from disk in constant memory, answers `Range`, and says when the
file's last byte has gone out whole (what download counting needs).

- `Range: bytes=A-B`, `bytes=A-`, `bytes=-N` → 206 with `Content-Range`; a range starting past
  the end → 416 with `Content-Range: bytes */SIZE`. Several ranges, other units or a malformed
  header are ignored and the whole file is sent (RFC 9110 §14.2 lets a server do so).
- `If-Range` with the current ETag or Last-Modified keeps the range; anything else → whole file.
- `HEAD` answers the headers only.
- The body is read 1 MiB at a time with `os.pread` in a worker thread, the next piece read
  while the current one is being sent; at most two pieces are in memory, whatever the file size.
- `on_start(first_byte, to_end)` is awaited for a GET once Range and If-Range have decided where
  the answer begins (and whether it reaches the file's last byte), before anything is sent; a
  `Response` it returns is sent instead of the file. So a rule about where an answer may begin
  (downloads: byte 0 starts a new download) judges the answer that would really go out, not a
  guess from the request's headers.
- `on_complete(first_byte)` is awaited once the body's last piece was handed to the server, for
  a GET whose answer ended at the file's last byte (200, or a 206 reaching the end). A client
  that goes away first (`http.disconnect`, or a server whose `send` raises) cancels the stream:
  no call.
- `on_abort(first_byte)` is awaited (shielded from cancellation) for a GET that `on_start` let
  through when `on_complete` was not called: the client went away, the server stopped the
  request, or the answer did not reach the last byte. So what `on_start` took can be given back.

The server's zero-copy `http.response.pathsend` is deliberately not used: it returns before the
bytes are sent, so it could not tell a finished download from an abandoned one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from email.utils import formatdate

import anyio
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shop.api.errors import error_response

# Pieces of 4 MiB: fewer trips through the thread pool and the server than 1 MiB ones, which
# reached only 0.6 of a bare FileResponse on some machines (`bench.downloads`: 0.84-0.92 now).
CHUNK_BYTES = 4 * 1024 * 1024
READ_AHEAD = 1  # pieces read ahead of the one being sent: at most 8 MiB per download
# ASCII: \d alone also takes other scripts' digits ("bytes=٣-"), which int() reads as numbers.
_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.I | re.ASCII)


def range_not_satisfiable(size: int, *, headers: Mapping[str, str]) -> Response:
    """416 in the API's error shape, with the `Content-Range: bytes */SIZE` RFC 9110 asks for."""
    return error_response(
        416,
        "range_not_satisfiable",
        f"The requested range is not within the file ({size:,} bytes).",
        headers={**headers, "Content-Range": f"bytes */{size}"},
    )


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for as (start, end exclusive), None to send the whole file."""
    match = _SINGLE_RANGE.match(header.replace(" ", ""))
    if match is None:
        return None  # several ranges, other units or garbage: ignored
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last) + 1, size) if last else size
    if end <= start:
        return None  # "bytes=9-3" is invalid: ignored
    return start, end


class StreamedFileResponse(Response):
    """A Starlette `Response` (so FastAPI passes it through) that builds its own headers."""

    media_type = "application/octet-stream"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        media_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_start: Callable[[int, bool], Awaitable[Response | None]] | None = None,
        on_complete: Callable[[int], Awaitable[None]] | None = None,
        on_abort: Callable[[int], Awaitable[None]] | None = None,
        chunk_size: int = CHUNK_BYTES,
    ) -> None:
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.path = os.fspath(path)
        self.media_type = media_type or self.media_type
        self.init_headers(headers)
        self.extra_headers = dict(headers or {})
        self.on_start = on_start
        self.on_complete = on_complete
        self.on_abort = on_abort
        self.chunk_size = chunk_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fd = await anyio.to_thread.run_sync(os.open, self.path, os.O_RDONLY)
        try:
            await self._respond(fd, scope, receive, send)
        finally:
            os.close(fd)
        if self.background is not None:
            await self.background()

    def _validators(self, stat: os.stat_result) -> tuple[str, str]:
        base = f"{stat.st_mtime_ns}-{stat.st_size}-{stat.st_ino}".encode()
        etag = '"' + hashlib.sha256(base).hexdigest()[:32] + '"'
        return etag, formatdate(stat.st_mtime, usegmt=True)

    async def _respond(self, fd: int, scope: Scope, receive: Receive, send: Send) -> None:
        stat = os.fstat(fd)
        size = stat.st_size
        etag, last_modified = self._validators(stat)
        request = Headers(scope=scope)
        headers: dict[str, str] = {
            **self.extra_headers,
            "content-type": self.media_type,
            "accept-ranges": "bytes",
            "etag": etag,
            "last-modified": last_modified,
        }
        status, start, end = 200, 0, size
        asked = request.get("range")
        if_range = request.get("if-range")
        if asked and (if_range is None or if_range in (etag, last_modified)):
            try:
                span = parse_range(asked, size)
            except RangeNotSatisfiable:
                refusal = range_not_satisfiable(size, headers=self.extra_headers)
                await refusal(scope, receive, send)
                return
            if span is not None:
                status, (start, end) = 206, span
                headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        if scope["method"] == "GET" and self.on_start is not None:
            instead = await self.on_start(start, end == size)
            if instead is not None:
                await instead(scope, receive, send)
                return
        completed = False
        try:
            headers["content-length"] = str(end - start)
            await send({"type": "http.response.start", "status": status, "headers": _raw(headers)})
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            finished = await self._send_body_unless_disconnected(fd, start, end, receive, send)
            if finished and scope["method"] == "GET" and end == size and self.on_complete:
                await self.on_complete(start)
                completed = True
        finally:
            if not completed and scope["method"] == "GET" and self.on_abort is not None:
                with anyio.CancelScope(shield=True):
                    await self.on_abort(start)

    async def _send_body_unless_disconnected(
        self, fd: int, start: int, end: int, receive: Receive, send: Send
    ) -> bool:
        finished = False
        async with anyio.create_task_group() as group:

            async def watch_for_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_for_disconnect)
            try:
                await self._send_body(fd, start, end, send)
                finished = True
            except OSError:
                pass  # the server says the client is gone
            group.cancel_scope.cancel()
        return finished

    async def _send_body(self, fd: int, start: int, end: int, send: Send) -> None:
        if start >= end:
            await send({"type": "http.response.body", "body": b""})
            return
        loop = asyncio.get_running_loop()
        next_offset = start
        pending: deque[asyncio.Future[bytes]] = deque()

        def read_ahead() -> None:
            # Keep up to READ_AHEAD pieces being read while the current one is sent.
            nonlocal next_offset
            while len(pending) < READ_AHEAD and next_offset < end:
                size = min(self.chunk_size, end - next_offset)
                pending.append(loop.run_in_executor(None, os.pread, fd, size, next_offset))
                next_offset += size

        read_ahead()
        try:
            while pending:
                chunk = await pending.popleft()
                if not chunk:
                    raise RuntimeError(f"{self.path} is shorter than expected")
                read_ahead()
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": bool(pending)}
                )
        finally:
            if pending:
                # Never close the file under a read still running in the thread pool.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait(pending)


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
