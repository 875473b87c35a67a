"""The customer's downloads and the signed links that deliver them (rules: shop.services.downloads).

`GET /api/downloads` lists the signed-in customer's grants, each usable one with a fresh link.
`GET /api/downloads/{token}` is that link (signed, bound to one grant and one user, valid
DOWNLOAD_LINK_MINUTES), and it serves only that user signed in: no session → 401, an account
without `downloads:read_own` (e.g. its customer role revoked) or another account → 403. Local files stream from disk in 1 MiB pieces (constant memory for any size) with
`Range`/`If-Range` support (shop.api.file_response); the download limit is judged on where the
answer really begins, once Range and If-Range have been decided (`on_start`). An answer that will
count takes its download before its first byte (`downloads.reserve_download`, committed at once,
so parallel requests cannot pass the limit), renews that hold while it streams, and gives it back
if it stops early (`on_abort`). With S3 storage the answer is a 302 to a presigned URL of the
same lifetime, after the same checks, counted in the same transaction that takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from shop.api.deps import DbSession, client_ip, require_permission
from shop.api.errors import error_response
from shop.api.file_response import (
    RangeNotSatisfiable,
    StreamedFileResponse,
    parse_range,
    range_not_satisfiable,
)
from shop.db import session_scope, write_scope
from shop.models import utcnow
from shop.services import downloads, storage
from shop.services.auth import CurrentUser as AuthUser
from shop.services.downloads import DownloadTarget
from shop.services.errors import NotFound, ShopError

log = logging.getLogger(__name__)
router = APIRouter(tags=["downloads"])

# Staff read grants through the admin endpoints; these serve only the customer's own.
DownloadReader = Annotated[AuthUser, Depends(require_permission("downloads:read_own"))]

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


class DownloadOut(BaseModel):
    grant_id: int
    product_id: int
    name: str
    file_name: str
    size_bytes: int
    order_number: str
    url: str | None  # a signed link while the grant is usable, else null
    url_expires_at: datetime | None
    expires_at: datetime
    download_limit: int
    downloads_left: int
    status: str  # available | expired | revoked | used_up


@router.get("/api/downloads", response_model=list[DownloadOut])
def my_downloads(
    user: DownloadReader, session: DbSession, response: Response
) -> list[dict[str, Any]]:
    response.headers["Cache-Control"] = "no-store"
    entries = downloads.list_downloads(session=session, user_id=user.id)
    return [entry.as_json() for entry in entries]


@router.get(
    "/api/downloads/{token}",
    response_class=Response,
    responses={
        200: {"description": "the file"},
        206: {"description": "the requested range"},
        302: {"description": "to the object store (S3 storage)"},
        401: {"description": "not signed in (the link serves only its signed-in owner)"},
        403: {"description": "invalid or foreign link, revoked grant, limit reached"},
        410: {"description": "expired link or grant"},
        416: {"description": "range not satisfiable"},
    },
)
async def download_file(token: str, request: Request, user: DownloadReader) -> Response:
    claims = downloads.read_link(token)
    ip = client_ip(request)
    target = await run_in_threadpool(_authorize, claims, user.id)
    backend = storage.get_storage()
    disposition = downloads.content_disposition(target.file_name)
    headers = {**PRIVATE_HEADERS, "Content-Disposition": disposition}
    if isinstance(backend, storage.S3Storage):
        # A presigned URL is the file itself for its whole lifetime, whatever was asked: only
        # a GET the shop can count gets one. HEAD is answered here; a range outside the file
        # is refused here.
        if request.method == "HEAD":
            return Response(
                status_code=200,
                headers={
                    **headers,
                    "Accept-Ranges": "bytes",
                    "Content-Length": str(target.size_bytes),
                    "Content-Type": target.content_type,
                },
            )
        first_byte = _requested_first_byte(request, target.size_bytes)
        if request.headers.get("range") and first_byte >= target.size_bytes:
            return range_not_satisfiable(target.size_bytes, headers=PRIVATE_HEADERS)
        seconds = max(1, int((target.link_expires_at - utcnow()).total_seconds()))
        url = await run_in_threadpool(
            backend.presigned_url,
            target.storage_key,
            expires_in=seconds,
            content_disposition=disposition,
            content_type=target.content_type,
        )
        # The URL serves to the end: the redirect is judged and counted as a whole answer
        # from `first_byte`, taken and counted in one transaction before the URL goes out.
        await run_in_threadpool(_count_redirect, target, ip, first_byte)
        return RedirectResponse(url, status_code=302, headers=PRIVATE_HEADERS)

    hold: int | None = None
    renewing: asyncio.Task[None] | None = None

    async def on_start(first_byte: int, to_end: bool) -> Response | None:
        nonlocal hold, renewing
        try:
            hold = await run_in_threadpool(_reserve, target, ip, first_byte, to_end)
        except ShopError as exc:
            return error_response(exc.status_code, exc.code, exc.message, headers=PRIVATE_HEADERS)
        if hold is not None:
            renewing = asyncio.create_task(_keep_renewing(hold))
        return None

    async def on_complete(first_byte: int) -> None:
        await _stop(renewing)
        await run_in_threadpool(_record, target, ip, "file", first_byte, hold)

    async def on_abort(_first_byte: int) -> None:
        await _stop(renewing)
        if hold is not None:
            await run_in_threadpool(_release, target, hold)

    path = storage.path_for(target.storage_key)
    if not await run_in_threadpool(path.is_file):
        raise NotFound("This file is no longer available. Please contact us.")
    return StreamedFileResponse(
        path,
        media_type=target.content_type,
        headers=headers,
        on_start=on_start,
        on_complete=on_complete,
        on_abort=on_abort,
    )


# HEAD (size and validators for download managers; never counts), kept out of the schema.
router.add_api_route(
    "/api/downloads/{token}", download_file, methods=["HEAD"], include_in_schema=False
)


def _requested_first_byte(request: Request, size: int) -> int:
    """Where the object store's answer will begin (`size`: nothing will be sent). If-Range is
    left out: the store checks it against its own validators, which the shop does not know."""
    asked = request.headers.get("range")
    if not asked:
        return 0
    try:
        span = parse_range(asked, size)
    except RangeNotSatisfiable:
        return size
    return span[0] if span else 0


def _authorize(claims: downloads.LinkClaims, requester_id: int) -> DownloadTarget:
    with session_scope() as session:
        return downloads.authorize(session=session, claims=claims, requester_id=requester_id)


def _reserve(target: DownloadTarget, ip: str | None, first_byte: int, to_end: bool) -> int | None:
    with write_scope() as session:
        return downloads.reserve_download(
            session=session, target=target, first_byte=first_byte, to_end=to_end, ip=ip
        )


def _count_redirect(target: DownloadTarget, ip: str | None, first_byte: int) -> None:
    with write_scope() as session:
        downloads.count_redirect(session=session, target=target, first_byte=first_byte, ip=ip)


def _record(
    target: DownloadTarget, ip: str | None, via: str, first_byte: int, hold: int | None
) -> None:
    with write_scope() as session:
        downloads.record_completion(
            session=session,
            grant_id=target.grant_id,
            link_id=target.link_id,
            user_id=target.user_id,
            first_byte=first_byte,
            ip=ip,
            via=via,
            reservation_id=hold,
        )


def _release(target: DownloadTarget, hold: int) -> None:
    with write_scope() as session:
        downloads.release_download(session=session, grant_id=target.grant_id, reservation_id=hold)


def _renew(hold: int) -> None:
    with write_scope() as session:
        downloads.renew_hold(session=session, reservation_id=hold)


async def _keep_renewing(hold: int) -> None:
    """While a counted answer streams, keep its hold from lapsing (see shop.services.downloads)."""
    while True:
        await asyncio.sleep(downloads.HOLD_RENEW_EVERY.total_seconds())
        try:
            await run_in_threadpool(_renew, hold)
        except Exception:  # a missed renewal only brings the lapse closer
            log.exception("could not renew download hold %s", hold)


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
