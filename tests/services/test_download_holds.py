"""Downloads in flight hold their download (shop.services.downloads.reserve_download): the limit
holds across connections, a stopped download gives its hold back, a lapsed one stops counting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from shop import db
from shop.models import DownloadGrant, utcnow
from shop.services import downloads
from tests.concurrency import at_once
from tests.download_factories import make_purchase
from tests.factories import make_user


def _target(session: Session, grant_id: int, user_id: int) -> downloads.DownloadTarget:
    token, _ = downloads.sign_link(grant_id=grant_id, user_id=user_id)
    claims = downloads.read_link(token)
    return downloads.authorize(session=session, claims=claims, requester_id=user_id)


def _count(database_url: str, grant_id: int) -> int:
    with db.session_scope(database_url) as s:
        grant = s.get(DownloadGrant, grant_id)
        assert grant is not None
        return grant.download_count


def test_ten_connections_starting_at_once_hold_at_most_the_limit(shop_env: Path, database_url: str):
    # given a committed grant of three downloads and ten requests authorised through new links
    with db.session_scope(database_url) as session:
        owner = make_user(session)
        grant_id, user_id = make_purchase(session, owner, limit=3).grant_id, owner.id or 0
    with db.session_scope(database_url) as session:
        targets = [_target(session, grant_id, user_id) for _ in range(10)]
    held: list[int | None] = []
    refused: list[str] = []

    def start(target: downloads.DownloadTarget) -> None:
        try:
            with db.session_scope(database_url) as s:
                held.append(
                    downloads.reserve_download(session=s, target=target, first_byte=0, to_end=True)
                )
        except downloads.DownloadLimitReached as exc:
            refused.append(exc.code)

    # when all ten start a whole download at the same instant, each in its own transaction
    at_once([lambda t=t: start(t) for t in targets])
    # then three hold a download, seven are refused, and the count is the limit
    assert len(held) == 3
    assert all(hold is not None for hold in held)
    assert refused == ["download_limit_reached"] * 7
    assert _count(database_url, grant_id) == 3


def test_a_finished_hold_is_the_download_and_a_stopped_one_is_given_back(session: Session):
    # given a grant of two downloads and two downloads in flight
    owner = make_user(session)
    purchase = make_purchase(session, owner, limit=2)
    assert owner.id is not None
    first, second = (_target(session, purchase.grant_id, owner.id) for _ in range(2))
    holds = [
        downloads.reserve_download(session=session, target=t, first_byte=0, to_end=True)
        for t in (first, second)
    ]
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 2
    # when the first finishes and the second stops midway
    assert holds[0] is not None
    assert holds[1] is not None
    assert downloads.record_completion(
        session=session,
        grant_id=purchase.grant_id,
        link_id=first.link_id,
        user_id=owner.id,
        first_byte=0,
        reservation_id=holds[0],
    )
    assert downloads.release_download(
        session=session, grant_id=purchase.grant_id, reservation_id=holds[1]
    )
    # then one download is used, and one is left
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 1
    assert downloads.downloads_left(purchase.grant) == 1


def test_a_resume_through_a_counted_link_holds_nothing_even_at_the_limit(session: Session):
    # given a grant of one download, counted through a link
    owner = make_user(session)
    purchase = make_purchase(session, owner, limit=1)
    assert owner.id is not None
    target = _target(session, purchase.grant_id, owner.id)
    hold = downloads.reserve_download(session=session, target=target, first_byte=0, to_end=True)
    downloads.record_completion(
        session=session,
        grant_id=purchase.grant_id,
        link_id=target.link_id,
        user_id=owner.id,
        first_byte=0,
        reservation_id=hold,
    )
    again = downloads.authorize(
        session=session,
        claims=downloads.LinkClaims(
            purchase.grant_id, owner.id, target.link_expires_at, target.link_id
        ),
        requester_id=owner.id,
    )
    # when the rest of the file is asked again through that link, then it holds nothing
    assert (
        downloads.reserve_download(session=session, target=again, first_byte=10, to_end=True)
        is None
    )
    # but a whole new download is refused
    with pytest.raises(downloads.DownloadLimitReached):
        downloads.reserve_download(session=session, target=again, first_byte=0, to_end=True)
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 1


def test_a_hold_never_given_back_lapses(session: Session):
    # given a grant of one download held by a download whose server died long ago
    owner = make_user(session)
    purchase = make_purchase(session, owner, limit=1)
    assert owner.id is not None
    long_ago = utcnow() - downloads.HOLD_LAPSES_AFTER - timedelta(seconds=1)
    target = _target(session, purchase.grant_id, owner.id)
    downloads.reserve_download(
        session=session, target=target, first_byte=0, to_end=True, now=long_ago
    )
    # when the customer comes back, then the download is theirs again
    [entry] = downloads.list_downloads(session=session, user_id=owner.id)
    assert (entry.status, entry.downloads_left) == ("available", 1)
    retry = _target(session, purchase.grant_id, owner.id)
    assert downloads.reserve_download(session=session, target=retry, first_byte=0, to_end=True)
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 1
    # and the new hold takes the one download while it is in flight
    assert not downloads.list_downloads(session=session, user_id=owner.id)[0].link


def test_a_link_with_a_trailing_newline_is_invalid(shop_env: Path):
    # given a valid link
    token, _ = downloads.sign_link(grant_id=12, user_id=34)
    downloads.read_link(token)
    # when a newline (or any other character) follows it, then it is not valid
    for tampered in (token + "\n", token + "\r\n", "\n" + token):
        with pytest.raises(downloads.InvalidLink):
            downloads.read_link(tampered)
