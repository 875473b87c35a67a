"""Download grants, signed links and counting (shop.services.downloads), on the real database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from shop import db
from shop.models import DownloadCompletion, DownloadGrant, utcnow
from shop.services import downloads
from shop.services.errors import NotFound
from shop.settings import get_settings
from tests.download_factories import make_purchase
from tests.factories import make_user


def _claims_for(session: Session, grant_id: int, user_id: int) -> downloads.LinkClaims:
    link = downloads.issue_link(session=session, user_id=user_id, grant_id=grant_id)
    return downloads.read_link(link.path.removeprefix(downloads.LINK_PREFIX))


# --- signed links ------------------------------------------------------------------------------


def test_a_signed_link_reads_back_as_its_grant_user_and_expiry(shop_env: Path):
    # given a link signed now
    now = utcnow()
    token, expires_at = downloads.sign_link(grant_id=12, user_id=34, now=now)
    # when it is read, then it names the grant and user, and expires in DOWNLOAD_LINK_MINUTES
    claims = downloads.read_link(token, now=now)
    assert (claims.grant_id, claims.user_id) == (12, 34)
    assert claims.expires_at == expires_at
    assert timedelta(minutes=9) < expires_at - now <= timedelta(minutes=10)
    # and two links for the same grant are different links
    assert downloads.sign_link(grant_id=12, user_id=34, now=now)[0] != token


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: "13" + t[2:],  # another grant
        lambda t: t.replace(".34.", ".35.", 1),  # another user
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # another signature
        lambda t: t.split(".")[0] + ".34.9999999999." + ".".join(t.split(".")[3:]),  # later expiry
        lambda t: t + "x",
        lambda _t: "",
        lambda _t: "../../etc/passwd",
    ],
)
def test_a_link_changed_in_any_part_is_invalid(shop_env: Path, tamper):
    token, _ = downloads.sign_link(grant_id=12, user_id=34)
    assert token.startswith("12.34.")
    with pytest.raises(downloads.InvalidLink):
        downloads.read_link(tamper(token))


def test_an_old_link_has_expired(shop_env: Path):
    # given a link signed 11 minutes ago (lifetime 10)
    token, _ = downloads.sign_link(grant_id=1, user_id=1, now=utcnow() - timedelta(minutes=11))
    # when it is read, then it is expired (410), not invalid
    with pytest.raises(downloads.LinkExpired) as caught:
        downloads.read_link(token)
    assert caught.value.status_code == 410


def test_links_are_signed_with_a_key_derived_from_secret_key(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a link signed under one SECRET_KEY
    monkeypatch.setenv("SECRET_KEY", "a" * 40)
    get_settings.cache_clear()
    token, _ = downloads.sign_link(grant_id=1, user_id=1)
    downloads.read_link(token)
    # when the shop's secret changes, then the link no longer verifies
    monkeypatch.setenv("SECRET_KEY", "b" * 40)
    get_settings.cache_clear()
    with pytest.raises(downloads.InvalidLink):
        downloads.read_link(token)


# --- what a customer sees ----------------------------------------------------------------------


def test_the_list_shows_only_the_users_grants_with_links_for_usable_ones(session: Session):
    # given two customers; the first has a usable, an expired and a revoked grant
    owner, other = make_user(session), make_user(session)
    usable = make_purchase(session, owner, product_name="Trail Maps")
    make_purchase(session, owner, expires_at=utcnow() - timedelta(minutes=1))
    make_purchase(session, owner, revoked=True)
    make_purchase(session, other)
    assert owner.id is not None
    assert other.id is not None
    # when the first customer's downloads are listed
    entries = downloads.list_downloads(session=session, user_id=owner.id)
    # then only their three grants appear, with the status of each and a link only when usable
    assert len(entries) == 3
    by_status = {e.status: e for e in entries}
    assert set(by_status) == {"available", "expired", "revoked"}
    ready = by_status["available"]
    assert (ready.grant_id, ready.name, ready.downloads_left) == (usable.grant_id, "Trail Maps", 5)
    assert ready.link is not None
    assert ready.link.url.startswith("http://shop.test/api/downloads/")
    assert by_status["expired"].link is None
    assert by_status["revoked"].link is None


def test_a_link_is_issued_only_for_the_users_own_usable_grant(session: Session):
    owner, other = make_user(session), make_user(session)
    purchase = make_purchase(session, owner, limit=1)
    assert owner.id is not None
    assert other.id is not None
    # someone else's grant is not found
    with pytest.raises(NotFound):
        downloads.issue_link(session=session, user_id=other.id, grant_id=purchase.grant_id)
    # a used-up grant gets no new link
    purchase.grant.download_count = 1
    session.flush()
    with pytest.raises(downloads.DownloadLimitReached, match="all 1 downloads"):
        downloads.issue_link(session=session, user_id=owner.id, grant_id=purchase.grant_id)


# --- authorising a request ---------------------------------------------------------------------


def test_authorize_refuses_foreign_revoked_expired_and_used_up_grants(session: Session):
    owner, other = make_user(session), make_user(session)
    purchase = make_purchase(session, owner, limit=2)
    assert owner.id is not None
    assert other.id is not None
    claims = _claims_for(session, purchase.grant_id, owner.id)
    # the owner is let through
    target = downloads.authorize(session=session, claims=claims, requester_id=owner.id)
    assert target.storage_key == purchase.product_file.storage_key
    assert (target.downloads_left, target.link_counted) == (2, False)
    # another account holding the owner's link is refused
    with pytest.raises(downloads.InvalidLink, match="another account"):
        downloads.authorize(session=session, claims=claims, requester_id=other.id)
    # a used-up grant is refused with a message
    purchase.grant.download_count = 2
    session.flush()
    with pytest.raises(downloads.DownloadLimitReached):
        downloads.authorize(session=session, claims=claims, requester_id=owner.id)
    # an expired grant is gone (410)
    purchase.grant.download_count = 0
    purchase.grant.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    with pytest.raises(downloads.DownloadExpired):
        downloads.authorize(session=session, claims=claims, requester_id=owner.id)
    # a revoked grant is refused (403)
    purchase.grant.expires_at = utcnow() + timedelta(days=1)
    purchase.grant.revoked_at = utcnow()
    session.flush()
    with pytest.raises(downloads.DownloadRevoked) as caught:
        downloads.authorize(session=session, claims=claims, requester_id=owner.id)
    assert caught.value.status_code == 403


def test_a_disabled_account_cannot_use_its_links(session: Session):
    owner = make_user(session)
    purchase = make_purchase(session, owner)
    assert owner.id is not None
    claims = _claims_for(session, purchase.grant_id, owner.id)
    owner.is_active = False
    session.flush()
    with pytest.raises(downloads.InvalidLink):
        downloads.authorize(session=session, claims=claims, requester_id=owner.id)


def test_at_the_limit_a_counted_link_may_only_continue_its_download(session: Session):
    # given a grant with one download allowed, completed through link A
    owner = make_user(session)
    purchase = make_purchase(session, owner, limit=1)
    assert owner.id is not None
    link_a = _claims_for(session, purchase.grant_id, owner.id)
    link_b = _claims_for(session, purchase.grant_id, owner.id)
    assert downloads.record_completion(
        session=session,
        grant_id=purchase.grant_id,
        link_id=link_a.link_id,
        user_id=owner.id,
        first_byte=0,
    )
    # when both links are used again
    target = downloads.authorize(session=session, claims=link_a, requester_id=owner.id)
    # then link A may serve what continues its download (a resume, another segment)
    downloads.check_start(target, first_byte=1)
    downloads.check_start(target, first_byte=4000)
    # but not a new download from byte 0
    with pytest.raises(downloads.DownloadLimitReached, match="all 1 downloads"):
        downloads.check_start(target, first_byte=0)
    # and link B, which has counted nothing, serves nothing
    with pytest.raises(downloads.DownloadLimitReached):
        downloads.authorize(session=session, claims=link_b, requester_id=owner.id)


def test_with_downloads_left_any_answer_may_start_through_any_link(session: Session):
    # given a grant with two downloads, one of them used through link A
    owner = make_user(session)
    purchase = make_purchase(session, owner, limit=2)
    assert owner.id is not None
    link_a = _claims_for(session, purchase.grant_id, owner.id)
    link_b = _claims_for(session, purchase.grant_id, owner.id)
    downloads.record_completion(
        session=session,
        grant_id=purchase.grant_id,
        link_id=link_a.link_id,
        user_id=owner.id,
        first_byte=0,
    )
    # when either link asks to start from byte 0 or later, then each may
    for claims in (link_a, link_b):
        target = downloads.authorize(session=session, claims=claims, requester_id=owner.id)
        assert target.downloads_left == 1
        downloads.check_start(target, first_byte=0)
        downloads.check_start(target, first_byte=500)


# --- counting ----------------------------------------------------------------------------------


def test_a_resume_completes_its_links_download_once(session: Session):
    # given a grant of five downloads and two links
    owner = make_user(session)
    purchase = make_purchase(session, owner)
    assert owner.id is not None
    first = _claims_for(session, purchase.grant_id, owner.id)
    second = _claims_for(session, purchase.grant_id, owner.id)

    def complete(link_id: str, first_byte: int) -> bool:
        return downloads.record_completion(
            session=session,
            grant_id=purchase.grant_id,
            link_id=link_id,
            user_id=owner.id,
            first_byte=first_byte,
        )

    # when the first link's download is finished by a resume, then resumed again,
    # and the second link's by a resume
    counted = [complete(first.link_id, 4000), complete(first.link_id, 9000)]
    counted.append(complete(second.link_id, 10))
    # then each link counted one download
    assert counted == [True, False, True]
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 2
    assert downloads.downloads_left(purchase.grant) == 3


def test_every_whole_file_counts_also_through_a_link_that_counted(session: Session):
    # given a grant of five downloads and a link whose download was finished by a resume
    owner = make_user(session)
    purchase = make_purchase(session, owner)
    assert owner.id is not None
    link = _claims_for(session, purchase.grant_id, owner.id)

    def complete(first_byte: int) -> bool:
        return downloads.record_completion(
            session=session,
            grant_id=purchase.grant_id,
            link_id=link.link_id,
            user_id=owner.id,
            first_byte=first_byte,
        )

    assert complete(4000)
    # when the whole file is then sent twice more through the same link
    counted = [complete(0), complete(0)]
    # then each whole file is a download of its own, with one mark for the link
    assert counted == [True, True]
    session.refresh(purchase.grant)
    assert purchase.grant.download_count == 3
    marks = session.exec(
        select(func.count())
        .select_from(DownloadCompletion)
        .where(DownloadCompletion.grant_id == purchase.grant_id)
    ).one()
    assert marks == 1


def test_twenty_threads_resuming_the_same_link_count_it_once(shop_env: Path, database_url: str):
    # given a committed grant and one link
    with db.session_scope(database_url) as session:
        owner = make_user(session)
        purchase = make_purchase(session, owner)
        grant_id, user_id = purchase.grant_id, owner.id
    token, _ = downloads.sign_link(grant_id=grant_id, user_id=user_id or 0)
    link_id = downloads.read_link(token).link_id
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def work() -> None:
        try:
            barrier.wait()
            with db.session_scope(database_url) as s:
                results.append(
                    downloads.record_completion(
                        session=s,
                        grant_id=grant_id,
                        link_id=link_id,
                        user_id=user_id,
                        first_byte=1024,
                    )
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # when twenty resumes finish the same link's download at once
    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one counted, and the grant's count went up by one
    assert errors == []
    assert results.count(True) == 1
    with db.session_scope(database_url) as session:
        grant = session.get(DownloadGrant, grant_id)
        assert grant is not None
        assert grant.download_count == 1
        rows = session.exec(
            select(func.count())
            .select_from(DownloadCompletion)
            .where(DownloadCompletion.grant_id == grant_id)
        ).one()
        assert rows == 1


# --- file names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("guide.pdf", "guide.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ('evil"\r\nX-Injected: 1.pdf', "evil___X-Injected_ 1.pdf"),
        (".hidden", "hidden"),
        ("", "download"),
        ("Érable à sucre – guide.pdf", "Érable à sucre – guide.pdf"),
    ],
)
def test_file_names_are_made_safe(name: str, safe: str):
    assert downloads.safe_filename(name) == safe


def test_content_disposition_has_an_ascii_name_and_the_exact_utf8_name():
    header = downloads.content_disposition("Érable à sucre – guide.pdf")
    assert header.startswith('attachment; filename="Erable a sucre  guide.pdf"; ')
    assert header.endswith("filename*=UTF-8''%C3%89rable%20%C3%A0%20sucre%20%E2%80%93%20guide.pdf")
    assert "\r" not in header
    assert "\n" not in header
