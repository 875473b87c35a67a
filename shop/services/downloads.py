"""Downloads: what a customer may download, the signed links that deliver them, and counting.

**Links.** `issue_link` makes a short-lived link (`DOWNLOAD_LINK_MINUTES`, default 10) for one
grant of one user: `/api/downloads/{grant}.{user}.{expires}.{link_id}.{signature}`, signed with
HMAC-SHA256 under a key derived from SECRET_KEY for this purpose only. A link is bound to its
grant and its user, and serves only that user signed in (session cookie or bearer token): no
session → 401, another account → 403, so a link that leaks (a shared screen, a forwarded mail, a
proxy log) gives nobody else the file. The grant must still belong to that user and their
account must be active. A link whose signature does not verify → 403, an expired link → 410.

**Grants.** Before every request: a revoked grant (full refund) → 403, an expired grant → 410.

**The limit** (`downloads_left`, i.e. download_limit − download_count), by where the answer
begins (`check_start`):
- an answer beginning at byte 0 (a plain GET, a Range from byte 0, or one the server ignores)
  is a new download: it needs `downloads_left > 0`, on any link, however often that link was
  used before; at 0 → 403 `download_limit_reached` with a message;
- an answer beginning later continues a download (a resume, or another segment of a segmented
  download manager). Through a link that has already counted a download it is served even at
  0 left: it is the rest of that counted download. Through a link that has not counted, it
  needs `downloads_left > 0` like a new download, since finishing it will count.
So once the limit is reached no whole file goes out any more; what a counted link can still
serve until it expires (at most DOWNLOAD_LINK_MINUTES) is ranges after byte 0.

**Counting** (one per completed file), when a GET's answer that ends at the file's last byte has
been sent whole (a client that stops early counts nothing):
- an answer from byte 0 to the end is a whole file by itself: it counts, every time, also the
  second time through the same link;
- an answer from a later byte to the end finishes a download begun earlier through this link (a
  resume, a last segment): it counts only if this link has not counted a download yet, so a
  resumed download is not counted twice. `DownloadCompletion`, unique per (grant, link), is
  that "this link has counted" mark; its insert decides, so concurrent requests count once;
- `HEAD` and ranges that stop short of the end never count; a multi-range request is answered
  with the whole file, so it is a whole file above;
- with S3 storage the object store serves the bytes, so the redirect itself counts, by where the
  requested range begins (same two rules).

**Downloads in flight** (`reserve_download`): an answer that would count once it ends (one that
reaches the last byte and either begins at byte 0 or goes through a link that has not counted)
takes its download from the grant *before* its first byte goes out, with an atomic conditional
`UPDATE … SET download_count = download_count + 1 WHERE download_count < download_limit`, so
parallel requests (threads, processes, servers on one PostgreSQL) can never hold or finish more
than the limit: the one past it gets 403 `download_limit_reached`. The hold is a row in
`download_completions` with `via = "reserved"` and a link id no signed link can carry (`~…`):
- completed → the hold becomes the download (`record_completion(reservation_id=…)`), or is given
  back if it turns out not to count (a resume whose link another request counted meanwhile);
- abandoned midway (client gone, server stopping) → given back at once (`release_download`);
- never ended (the process was killed) → the streaming request renews the hold every
  `HOLD_RENEW_EVERY` (`renew_hold`); one not renewed for `HOLD_LAPSES_AFTER` no longer takes a
  download (`authorize` and the list add it back), and the next reservation deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import case, delete, func, update
from sqlmodel import Session, col, select

from shop.models import (
    DownloadCompletion,
    DownloadGrant,
    Order,
    OrderItem,
    ProductFile,
    User,
    utcnow,
)
from shop.services.errors import NotFound, ShopError
from shop.settings import get_settings

LINK_PREFIX = "/api/downloads/"
_KEY_PURPOSE = b"shop:download-link:v1"
_LINK_ID_BYTES = 12  # 16 URL-safe characters
# fullmatch, not `$`: `$` also matches before a final newline ("<token>\n" would pass).
_TOKEN = re.compile(
    r"(\d{1,12})\.(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})", re.ASCII
)
# A download in flight (see "Downloads in flight"): its row's `via`, and how its link id begins
# (`~` is not in the URL-safe alphabet of real link ids, so no signed link ever matches one).
RESERVED = "reserved"
_HOLD_PREFIX = "~"
HOLD_RENEW_EVERY = timedelta(seconds=60)
HOLD_LAPSES_AFTER = timedelta(minutes=5)


class InvalidLink(ShopError):
    status_code = 403
    code = "invalid_link"


class LinkExpired(ShopError):
    status_code = 410
    code = "link_expired"


class DownloadExpired(ShopError):
    status_code = 410
    code = "download_expired"


class DownloadRevoked(ShopError):
    status_code = 403
    code = "download_revoked"


class DownloadLimitReached(ShopError):
    status_code = 403
    code = "download_limit_reached"


# --- statuses --------------------------------------------------------------------------------

AVAILABLE = "available"
EXPIRED = "expired"
REVOKED = "revoked"
USED_UP = "used_up"


def grant_status(grant: DownloadGrant, now: datetime | None = None, *, lapsed: int = 0) -> str:
    """`lapsed`: holds of downloads in flight that lapsed (see the module docstring)."""
    now = now or utcnow()
    if grant.revoked_at is not None:
        return REVOKED
    if grant.expires_at <= now:
        return EXPIRED
    if grant.download_count - lapsed >= grant.download_limit:
        return USED_UP
    return AVAILABLE


def downloads_left(grant: DownloadGrant, *, lapsed: int = 0) -> int:
    """Downloads not completed nor in flight (`download_count` includes those in flight)."""
    return max(0, grant.download_limit - grant.download_count + lapsed)


# --- signed links ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkClaims:
    grant_id: int
    user_id: int
    expires_at: datetime
    link_id: str


@dataclass(frozen=True, slots=True)
class DownloadLink:
    path: str  # /api/downloads/<token>
    url: str  # PUBLIC_URL + path
    expires_at: datetime
    file_name: str


def _signing_key() -> bytes:
    secret = get_settings().effective_secret_key.encode()
    return hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()


def _signature(payload: str) -> str:
    digest = hmac.new(_signing_key(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_link(*, grant_id: int, user_id: int, now: datetime | None = None) -> tuple[str, datetime]:
    """A new token for (grant, user) and when it expires; each call has its own link id."""
    now = now or utcnow()
    expires = int(now.timestamp()) + get_settings().download_link_minutes * 60
    link_id = secrets.token_urlsafe(_LINK_ID_BYTES)
    payload = f"{grant_id}.{user_id}.{expires}.{link_id}"
    return f"{payload}.{_signature(payload)}", datetime.fromtimestamp(expires, UTC)


def read_link(token: str, *, now: datetime | None = None) -> LinkClaims:
    """The claims of a link we signed; a forged or altered one is InvalidLink, an old one
    LinkExpired (checked only after the signature, so nothing is told to forgers)."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLink("This download link is not valid.")
    grant_id, user_id, expires, link_id, signature = match.groups()
    payload = f"{grant_id}.{user_id}.{expires}.{link_id}"
    if not hmac.compare_digest(_signature(payload), signature):
        raise InvalidLink("This download link is not valid.")
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if expires_at <= (now or utcnow()):
        raise LinkExpired("This download link has expired. Get a new one from your account.")
    return LinkClaims(int(grant_id), int(user_id), expires_at, link_id)


def issue_link(
    *, session: Session, user_id: int, grant_id: int, now: datetime | None = None
) -> DownloadLink:
    """A fresh signed link to one of the user's grants, refused when the grant is not usable."""
    now = now or utcnow()
    grant = session.get(DownloadGrant, grant_id, populate_existing=True)
    if grant is None or grant.user_id != user_id:
        raise NotFound("No such download.")
    _check_usable(grant, now=now, already_counted=False, lapsed=_lapsed_holds(session, grant, now))
    product_file = session.get(ProductFile, grant.product_file_id)
    if product_file is None:
        raise NotFound("No such download.")
    return _link(grant_id=grant_id, user_id=user_id, file_name=product_file.original_name, now=now)


def _link(*, grant_id: int, user_id: int, file_name: str, now: datetime) -> DownloadLink:
    token, expires_at = sign_link(grant_id=grant_id, user_id=user_id, now=now)
    path = LINK_PREFIX + token
    return DownloadLink(
        path=path,
        url=get_settings().public_url + path,
        expires_at=expires_at,
        file_name=safe_filename(file_name),
    )


# --- what a customer has ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadEntry:
    grant_id: int
    product_id: int
    name: str
    file_name: str
    size_bytes: int
    order_number: str
    expires_at: datetime
    download_limit: int
    downloads_left: int
    status: str
    link: DownloadLink | None  # only while the grant is usable

    def as_json(self) -> dict[str, Any]:
        return {
            "grant_id": self.grant_id,
            "product_id": self.product_id,
            "name": self.name,
            "file_name": self.file_name,
            "size_bytes": self.size_bytes,
            "order_number": self.order_number,
            "url": self.link.url if self.link else None,
            "url_expires_at": self.link.expires_at.isoformat() if self.link else None,
            "expires_at": self.expires_at.isoformat(),
            "download_limit": self.download_limit,
            "downloads_left": self.downloads_left,
            "status": self.status,
        }


def list_downloads(
    *, session: Session, user_id: int, now: datetime | None = None, with_links: bool = True
) -> list[DownloadEntry]:
    """The user's grants, newest first; usable ones carry a fresh signed link."""
    now = now or utcnow()
    rows = session.exec(
        select(DownloadGrant, ProductFile, OrderItem, Order)
        .join(ProductFile, col(ProductFile.id) == col(DownloadGrant.product_file_id))
        .join(OrderItem, col(OrderItem.id) == col(DownloadGrant.order_item_id))
        .join(Order, col(Order.id) == col(OrderItem.order_id))
        .where(col(DownloadGrant.user_id) == user_id)
        .order_by(col(DownloadGrant.created_at).desc(), col(DownloadGrant.id).desc())
    ).all()
    lapsed = _lapsed_holds_by_grant(
        session,
        [g.id for g, *_ in rows if g.id is not None and g.download_count >= g.download_limit],
        now,
    )
    entries = []
    for grant, product_file, item, order in rows:
        assert grant.id is not None
        status = grant_status(grant, now, lapsed=lapsed.get(grant.id, 0))
        link = None
        if with_links and status == AVAILABLE:
            link = _link(
                grant_id=grant.id, user_id=user_id, file_name=product_file.original_name, now=now
            )
        entries.append(
            DownloadEntry(
                grant_id=grant.id,
                product_id=item.product_id,
                name=item.product_name,
                file_name=safe_filename(product_file.original_name),
                size_bytes=product_file.size_bytes,
                order_number=order.number or str(order.id),
                expires_at=grant.expires_at,
                download_limit=grant.download_limit,
                # A revoked (refunded) or expired purchase has none left, whatever its count.
                downloads_left=0
                if status in (REVOKED, EXPIRED)
                else downloads_left(grant, lapsed=lapsed.get(grant.id, 0)),
                status=status,
                link=link,
            )
        )
    return entries


# --- serving ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """What one authorised request may receive."""

    grant_id: int
    user_id: int
    link_id: str
    storage_key: str
    file_name: str
    content_type: str
    size_bytes: int
    link_expires_at: datetime
    download_limit: int
    downloads_left: int
    link_counted: bool  # this link has counted a download already


def _limit_reached(limit: int) -> DownloadLimitReached:
    return DownloadLimitReached(
        f"You have used all {limit} downloads of this file. Contact us if you need it again."
    )


def _check_usable(
    grant: DownloadGrant, *, now: datetime, already_counted: bool, lapsed: int = 0
) -> None:
    if grant.revoked_at is not None:
        raise DownloadRevoked("This download is no longer available: the order was refunded.")
    if grant.expires_at <= now:
        raise DownloadExpired("This download has expired.")
    if grant.download_count - lapsed >= grant.download_limit and not already_counted:
        raise _limit_reached(grant.download_limit)


def authorize(
    *,
    session: Session,
    claims: LinkClaims,
    requester_id: int,
    now: datetime | None = None,
) -> DownloadTarget:
    """May this signed-in user's request, made with this link, receive any of the file? What
    part of it may go out is `check_start`'s to say (see the module docstring)."""
    now = now or utcnow()
    if requester_id != claims.user_id:
        raise InvalidLink("This download link belongs to another account.")
    grant = session.get(DownloadGrant, claims.grant_id, populate_existing=True)
    if grant is None or grant.user_id != claims.user_id:
        raise InvalidLink("This download link is not valid.")
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise InvalidLink("This download link is not valid.")
    counted = (
        session.exec(
            select(DownloadCompletion.id).where(
                DownloadCompletion.grant_id == claims.grant_id,
                DownloadCompletion.link_id == claims.link_id,
            )
        ).first()
        is not None
    )
    lapsed = _lapsed_holds(session, grant, now)
    _check_usable(grant, now=now, already_counted=counted, lapsed=lapsed)
    product_file = session.get(ProductFile, grant.product_file_id)
    if product_file is None:
        raise NotFound("This file is no longer available.")
    return DownloadTarget(
        grant_id=claims.grant_id,
        user_id=claims.user_id,
        link_id=claims.link_id,
        storage_key=product_file.storage_key,
        file_name=safe_filename(product_file.original_name),
        content_type=product_file.content_type or "application/octet-stream",
        size_bytes=product_file.size_bytes,
        link_expires_at=claims.expires_at,
        download_limit=grant.download_limit,
        downloads_left=downloads_left(grant, lapsed=lapsed),
        link_counted=counted,
    )


def check_start(target: DownloadTarget, *, first_byte: int) -> None:
    """May an answer beginning at `first_byte` go out? Byte 0 is a new download and needs one
    left; a later byte continues the download this link has counted, or needs one left too."""
    if target.downloads_left > 0:
        return
    if first_byte > 0 and target.link_counted:
        return
    raise _limit_reached(target.download_limit)


def would_count(target: DownloadTarget, *, first_byte: int, to_end: bool) -> bool:
    """Will an answer from `first_byte` count a download once it has gone out whole?"""
    return to_end and (first_byte == 0 or not target.link_counted)


def reserve_download(
    *,
    session: Session,
    target: DownloadTarget,
    first_byte: int,
    to_end: bool,
    ip: str | None = None,
    now: datetime | None = None,
) -> int | None:
    """Before an answer from `first_byte` goes out (`to_end`: it reaches the last byte): an
    answer that will count takes its download now, atomically, or is refused with
    DownloadLimitReached; returns the hold's id for `record_completion`/`release_download`.
    Any other answer is judged by `check_start` and holds nothing (None). The caller commits
    before sending anything, so that other requests see the hold."""
    if not would_count(target, first_byte=first_byte, to_end=to_end):
        check_start(target, first_byte=first_byte)
        return None
    now = now or utcnow()
    _drop_lapsed_holds(session, target.grant_id, now)
    taken = session.execute(
        update(DownloadGrant)
        .where(
            col(DownloadGrant.id) == target.grant_id,
            col(DownloadGrant.download_count) < col(DownloadGrant.download_limit),
        )
        .values(download_count=col(DownloadGrant.download_count) + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise _limit_reached(target.download_limit)
    hold = DownloadCompletion(
        grant_id=target.grant_id,
        link_id=_HOLD_PREFIX + secrets.token_urlsafe(_LINK_ID_BYTES),
        user_id=target.user_id,
        ip=(ip or "")[:45] or None,
        via=RESERVED,
        completed_at=now,
    )
    session.add(hold)
    session.flush()
    return hold.id


def count_redirect(
    *, session: Session, target: DownloadTarget, first_byte: int, ip: str | None = None
) -> None:
    """A download handed to the storage (a redirect to a presigned URL): the shop never sees
    its end, so it takes its place and counts in this one transaction."""
    hold = reserve_download(
        session=session, target=target, first_byte=first_byte, to_end=True, ip=ip
    )
    record_completion(
        session=session,
        grant_id=target.grant_id,
        link_id=target.link_id,
        user_id=target.user_id,
        first_byte=first_byte,
        ip=ip,
        via="redirect",
        reservation_id=hold,
    )


def renew_hold(*, session: Session, reservation_id: int, now: datetime | None = None) -> bool:
    """The download holding `reservation_id` is still going out; False if its hold is gone."""
    renewed = session.execute(
        update(DownloadCompletion)
        .where(
            col(DownloadCompletion.id) == reservation_id, col(DownloadCompletion.via) == RESERVED
        )
        .values(completed_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def release_download(*, session: Session, grant_id: int, reservation_id: int) -> bool:
    """The answer holding `reservation_id` stopped before its end: give its download back."""
    if not _drop_hold(session, reservation_id):
        return False  # lapsed and given back already
    _add_to_count(session, grant_id, -1)
    return True


def _drop_hold(session: Session, reservation_id: int) -> bool:
    dropped = session.execute(
        delete(DownloadCompletion).where(
            col(DownloadCompletion.id) == reservation_id, col(DownloadCompletion.via) == RESERVED
        )
    )
    return dropped.rowcount == 1  # type: ignore[attr-defined]


def _drop_lapsed_holds(session: Session, grant_id: int, now: datetime) -> None:
    dropped = session.execute(
        delete(DownloadCompletion).where(
            col(DownloadCompletion.grant_id) == grant_id,
            col(DownloadCompletion.via) == RESERVED,
            col(DownloadCompletion.completed_at) < now - HOLD_LAPSES_AFTER,
        )
    )
    if dropped.rowcount:  # type: ignore[attr-defined]
        _add_to_count(session, grant_id, -int(dropped.rowcount))  # type: ignore[attr-defined]


def _add_to_count(session: Session, grant_id: int, change: int) -> None:
    count = col(DownloadGrant.download_count)
    session.execute(
        update(DownloadGrant)
        .where(col(DownloadGrant.id) == grant_id)
        .values(download_count=case((count + change > 0, count + change), else_=0))
        .execution_options(synchronize_session=False)
    )


def _lapsed_holds_by_grant(session: Session, grant_ids: list[int], now: datetime) -> dict[int, int]:
    """{grant id: holds of downloads in flight not renewed for HOLD_LAPSES_AFTER}."""
    if not grant_ids:
        return {}
    rows = session.exec(
        select(DownloadCompletion.grant_id, func.count())
        .where(
            col(DownloadCompletion.grant_id).in_(grant_ids),
            col(DownloadCompletion.via) == RESERVED,
            col(DownloadCompletion.completed_at) < now - HOLD_LAPSES_AFTER,
        )
        .group_by(col(DownloadCompletion.grant_id))
    ).all()
    return {int(grant_id): int(count) for grant_id, count in rows}


def _lapsed_holds(session: Session, grant: DownloadGrant, now: datetime) -> int:
    """Only looked up at the limit: below it lapsed holds change no answer."""
    if grant.id is None or grant.download_count < grant.download_limit:
        return 0
    return _lapsed_holds_by_grant(session, [grant.id], now).get(grant.id, 0)


def record_completion(
    *,
    session: Session,
    grant_id: int,
    link_id: str,
    user_id: int | None,
    first_byte: int,
    ip: str | None = None,
    via: str = "file",
    now: datetime | None = None,
    reservation_id: int | None = None,
) -> bool:
    """An answer through this link ended at the file's last byte, beginning at `first_byte`:
    count it (see the module docstring); True when this call counted a download. With the
    `reservation_id` its start took (`reserve_download`), that hold becomes the download (or is
    given back when the answer does not count after all)."""
    from shop.services.fulfilment import insert_ignoring_conflicts

    now = now or utcnow()
    held = reservation_id is not None and _drop_hold(session, reservation_id)
    inserted = insert_ignoring_conflicts(
        session,
        DownloadCompletion,
        {
            "grant_id": grant_id,
            "link_id": link_id,
            "user_id": user_id,
            "ip": (ip or "")[:45] or None,
            "via": via,
            "completed_at": now,
        },
    )
    counts = inserted or first_byte == 0
    if counts and not held:
        _add_to_count(session, grant_id, 1)
    elif held and not counts:
        _add_to_count(session, grant_id, -1)
    return counts


# --- file names ------------------------------------------------------------------------------


def safe_filename(name: str) -> str:
    """A file name safe to offer: no folders, control characters, quotes or leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if (unicodedata.category(c).startswith("C") or c in '"*:<>?|;') else c for c in name
    )
    name = name.strip().lstrip(".").strip()
    if len(name) > 150:
        stem, dot, suffix = name.rpartition(".")
        name = (
            (stem[: 150 - len(suffix) - 1] + dot + suffix)
            if dot and len(suffix) <= 12
            else name[:150]
        )
    return name or "download"


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987)."""
    name = safe_filename(name)
    ascii_name = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().replace("%", "_")
    ).strip() or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
