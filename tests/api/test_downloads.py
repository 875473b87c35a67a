"""GET /api/downloads and the signed links it hands out: who may download, Range and resume,
what counts as a download, the limit, private headers, S3 redirects and a 1 GiB file in flat
memory. A link serves only its owner signed in, so every request here carries their bearer
token unless it is about who may use the link."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from shop.api.file_response import RangeNotSatisfiable, parse_range
from shop.models import User, utcnow
from shop.services import auth, downloads, storage
from shop.settings import get_settings
from stripe_sandbox import free_port
from tests.download_factories import Purchase, download_count, make_purchase
from tests.factories import make_user, sign_in_as

PDF = b"%PDF-1.4 " + bytes(range(256)) * 40  # 10 249 bytes


@dataclass
class Customer:
    user: User
    headers: dict[str, str]  # bearer
    cookie: str  # session cookie value

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id


def _customer(session: Session) -> Customer:
    user = make_user(session)
    signed = sign_in_as(session, user)
    return Customer(
        user, {"Authorization": f"Bearer {signed.tokens.access_token}"}, signed.session_token
    )


@pytest.fixture
def owner(session: Session) -> Customer:
    return _customer(session)


@pytest.fixture
def purchase(session: Session, owner: Customer) -> Purchase:
    bought = make_purchase(session, owner.user, data=PDF, name="Érable guide.pdf", limit=3)
    session.commit()
    return bought


def _link(client: TestClient, customer: Customer, grant_id: int) -> str:
    answer = client.get("/api/downloads", headers=customer.headers)
    assert answer.status_code == 200, answer.text
    entry = next(e for e in answer.json() if e["grant_id"] == grant_id)
    assert entry["url"].startswith("http://shop.test/api/downloads/")
    return entry["url"].removeprefix("http://shop.test")


def _error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def _as(customer: Customer, **headers: str) -> dict[str, str]:
    """The customer's bearer token plus request headers (Range=…, If_Range=… → If-Range)."""
    return {**customer.headers, **{k.replace("_", "-"): v for k, v in headers.items()}}


# --- the list ----------------------------------------------------------------------------------


def test_the_list_needs_a_signed_in_customer(api_client: TestClient):
    answer = api_client.get("/api/downloads")
    assert answer.status_code == 401


def test_the_list_shows_the_customers_grants_in_the_documented_shape(
    api_client: TestClient, session: Session, owner: Customer, purchase: Purchase
):
    # given another customer with a purchase of their own
    other = _customer(session)
    make_purchase(session, other.user)
    session.commit()
    # when the owner lists their downloads
    answer = api_client.get("/api/downloads", headers=owner.headers)
    # then they see exactly their grant, with a signed link, expiry and downloads left
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    (entry,) = answer.json()
    assert entry["grant_id"] == purchase.grant_id
    assert entry["product_id"] == purchase.product_file.product_id
    assert entry["downloads_left"] == 3
    assert entry["status"] == "available"
    assert entry["file_name"] == "Érable guide.pdf"
    assert entry["name"]
    assert entry["expires_at"]
    assert entry["url"]


# --- the matrix --------------------------------------------------------------------------------


def test_the_owner_downloads_the_file_with_private_headers_and_it_counts_once(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    # when the owner follows the link (signed in by bearer)
    answer = api_client.get(link, headers=owner.headers)
    # then the file comes whole, as an attachment that no cache, sniffer or referrer sees
    assert answer.status_code == 200
    assert answer.content == PDF
    assert answer.headers["content-length"] == str(len(PDF))
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"Erable guide.pdf\"; filename*=UTF-8''%C3%89rable%20guide.pdf"
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["accept-ranges"] == "bytes"
    assert download_count(database_url, purchase.grant_id) == 1


def test_the_link_serves_nobody_who_is_not_signed_in(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    # given the owner's link
    link = _link(api_client, owner, purchase.grant_id)
    api_client.cookies.clear()
    # when it is fetched with no session at all, or with a forged cookie or token
    for headers in ({}, {"Cookie": "shop_session=forged"}, {"Authorization": "Bearer forged"}):
        answer = api_client.get(link, headers=headers)
        # then 401 in the API's error shape, and no file
        assert answer.status_code == 401, headers
        assert _error_code(answer) == "unauthorized"
        assert answer.content != PDF
        assert api_client.head(link, headers=headers).status_code == 401
    assert download_count(database_url, purchase.grant_id) == 0


def test_the_owners_session_cookie_alone_is_enough_for_a_download_manager(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    # given the owner's link and their session cookie (what a browser or download manager sends)
    link = _link(api_client, owner, purchase.grant_id)
    api_client.cookies.clear()
    # when the link is fetched with the cookie and no bearer token
    answer = api_client.get(link, headers={"Cookie": f"{auth.SESSION_COOKIE}={owner.cookie}"})
    # then the file comes, and counts
    assert answer.status_code == 200
    assert answer.content == PDF
    assert download_count(database_url, purchase.grant_id) == 1


def test_another_customer_cannot_use_the_owners_link_or_see_the_grant(
    api_client: TestClient, session: Session, owner: Customer, purchase: Purchase
):
    other = _customer(session)
    session.commit()
    link = _link(api_client, owner, purchase.grant_id)
    # the other customer does not see the grant
    assert api_client.get("/api/downloads", headers=other.headers).json() == []
    # and signed in (bearer or cookie), the owner's link is refused as foreign
    for headers in (other.headers, {"Cookie": f"{auth.SESSION_COOKIE}={other.cookie}"}):
        answer = api_client.get(link, headers=headers)
        assert answer.status_code == 403
        assert "another account" in answer.json()["error"]["message"]


def test_tampered_links_are_refused(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    grant, user, expires, link_id, signature = link.removeprefix("/api/downloads/").split(".")
    forged = [
        f"{int(grant) + 1}.{user}.{expires}.{link_id}.{signature}",
        f"{grant}.{int(user) + 1}.{expires}.{link_id}.{signature}",
        f"{grant}.{user}.{int(expires) + 3600}.{link_id}.{signature}",
        f"{grant}.{user}.{expires}.{link_id}.{signature[::-1]}",
        f"{grant}.{user}.{expires}.{link_id}",
        "not-a-link",
    ]
    for token in forged:
        answer = api_client.get(f"/api/downloads/{token}", headers=owner.headers)
        assert answer.status_code == 403, token
        assert _error_code(answer) == "invalid_link"
    assert download_count(database_url, purchase.grant_id) == 0


def test_an_expired_link_is_gone(api_client: TestClient, owner: Customer, purchase: Purchase):
    token, _ = downloads.sign_link(
        grant_id=purchase.grant_id, user_id=owner.id, now=utcnow() - timedelta(minutes=11)
    )
    answer = api_client.get(f"/api/downloads/{token}", headers=owner.headers)
    assert answer.status_code == 410
    assert _error_code(answer) == "link_expired"


def test_an_expired_grant_is_gone(
    api_client: TestClient, session: Session, owner: Customer, purchase: Purchase
):
    link = _link(api_client, owner, purchase.grant_id)
    purchase.grant.expires_at = utcnow() - timedelta(seconds=1)
    session.add(purchase.grant)
    session.commit()
    answer = api_client.get(link, headers=owner.headers)
    assert answer.status_code == 410
    assert _error_code(answer) == "download_expired"


def test_over_the_limit_is_refused_with_a_message(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    # given the three allowed downloads, each through a new link
    for _ in range(3):
        link = _link(api_client, owner, purchase.grant_id)
        assert api_client.get(link, headers=owner.headers).status_code == 200
    assert download_count(database_url, purchase.grant_id) == 3
    # then the list offers no more links, and a link minted anyway is refused with a message
    (entry,) = api_client.get("/api/downloads", headers=owner.headers).json()
    assert (entry["downloads_left"], entry["status"], entry["url"]) == (0, "used_up", None)
    token, _ = downloads.sign_link(grant_id=purchase.grant_id, user_id=owner.id)
    answer = api_client.get(f"/api/downloads/{token}", headers=owner.headers)
    assert answer.status_code == 403
    assert _error_code(answer) == "download_limit_reached"
    assert "used all 3 downloads" in answer.json()["error"]["message"]
    # and so is resuming through that new link: finishing it would be a fourth download
    resume = api_client.get(f"/api/downloads/{token}", headers=_as(owner, Range="bytes=4000-"))
    assert resume.status_code == 403
    assert _error_code(resume) == "download_limit_reached"
    assert download_count(database_url, purchase.grant_id) == 3


def test_every_whole_download_through_one_link_counts_until_the_limit(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    # given one link to a grant of three downloads
    link = _link(api_client, owner, purchase.grant_id)
    # when the whole file is fetched through it three times
    for expected in (1, 2, 3):
        answer = api_client.get(link, headers=owner.headers)
        # then each is a download of its own
        assert answer.status_code == 200
        assert answer.content == PDF
        assert download_count(database_url, purchase.grant_id) == expected
    # when it is fetched a fourth time, then it is refused with a message
    fourth = api_client.get(link, headers=owner.headers)
    assert fourth.status_code == 403
    assert _error_code(fourth) == "download_limit_reached"
    assert "used all 3 downloads" in fourth.json()["error"]["message"]
    assert fourth.headers["cache-control"] == "no-store"
    assert download_count(database_url, purchase.grant_id) == 3


def test_at_the_limit_a_counted_link_still_resumes_but_starts_no_new_download(
    api_client: TestClient, session: Session, owner: Customer, database_url: str
):
    # given a grant of one download, used up by a whole download through this link
    bought = make_purchase(session, owner.user, data=PDF, limit=1)
    session.commit()
    link = _link(api_client, owner, bought.grant_id)
    assert api_client.get(link, headers=owner.headers).status_code == 200
    assert download_count(database_url, bought.grant_id) == 1
    etag = api_client.head(link, headers=owner.headers).headers["etag"]
    # when the whole file is asked for again, with no Range, from byte 0, or as a range whose
    # stale If-Range would turn it into the whole file
    refused = [
        api_client.get(link, headers=owner.headers),
        api_client.get(link, headers=_as(owner, Range="bytes=0-")),
        api_client.get(link, headers=_as(owner, Range="bytes=0-99")),
        api_client.get(link, headers=_as(owner, Range="bytes=4000-", If_Range='"stale"')),
    ]
    # then each is refused with the limit's message, and no byte of the file goes out
    for answer in refused:
        assert answer.status_code == 403
        assert _error_code(answer) == "download_limit_reached"
        assert "used all 1 downloads" in answer.json()["error"]["message"]
    # when the download resumes after byte 0 through the same link (If-Range matching)
    rest = api_client.get(link, headers=_as(owner, Range="bytes=4000-", If_Range=etag))
    segment = api_client.get(link, headers=_as(owner, Range="bytes=100-199"))
    # then it is served, as the rest of the download this link counted, and not counted again
    assert rest.status_code == 206
    assert rest.content == PDF[4000:]
    assert segment.status_code == 206
    assert segment.content == PDF[100:200]
    assert download_count(database_url, bought.grant_id) == 1


def test_a_revoked_grant_is_refused(
    api_client: TestClient, session: Session, owner: Customer, purchase: Purchase
):
    link = _link(api_client, owner, purchase.grant_id)
    purchase.grant.revoked_at = utcnow()  # what a full refund does
    session.add(purchase.grant)
    session.commit()
    answer = api_client.get(link, headers=owner.headers)
    assert answer.status_code == 403
    assert _error_code(answer) == "download_revoked"
    # and the list says it has no link and no downloads left
    listed = api_client.get("/api/downloads", headers=owner.headers).json()
    (entry,) = [e for e in listed if e["grant_id"] == purchase.grant_id]
    assert (entry["url"], entry["downloads_left"]) == (None, 0)


# --- Range, resume, counting --------------------------------------------------------------------


def test_ranges_resume_a_download_and_it_counts_once(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    # when the first 4000 bytes are fetched
    head = api_client.get(link, headers=_as(owner, Range="bytes=0-3999"))
    # then 206 with that part, and nothing counts yet
    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-3999/{len(PDF)}"
    assert head.content == PDF[:4000]
    assert download_count(database_url, purchase.grant_id) == 0
    # when the download resumes from there to the end
    rest = api_client.get(link, headers=_as(owner, Range="bytes=4000-"))
    # then the two parts are the file, and it counts once
    assert rest.status_code == 206
    assert head.content + rest.content == PDF
    assert download_count(database_url, purchase.grant_id) == 1
    # and the same download resumed again through the link does not count twice
    assert api_client.get(link, headers=_as(owner, Range="bytes=-100")).content == PDF[-100:]
    assert api_client.get(link, headers=_as(owner, Range="bytes=9000-")).content == PDF[9000:]
    assert download_count(database_url, purchase.grant_id) == 1


def test_ranges_outside_the_file_and_heads_count_nothing(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    outside = api_client.get(link, headers=_as(owner, Range=f"bytes={len(PDF)}-"))
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(PDF)}"
    assert outside.json()["error"]["code"] == "range_not_satisfiable"
    assert outside.headers["cache-control"] == "no-store"
    head = api_client.head(link, headers=owner.headers)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(PDF))
    assert head.content == b""
    short = api_client.get(link, headers=_as(owner, Range="bytes=0-0"))
    assert short.status_code == 206
    assert short.content == PDF[:1]
    assert download_count(database_url, purchase.grant_id) == 0


def test_several_ranges_or_a_malformed_range_get_the_whole_file(
    api_client: TestClient, session: Session, owner: Customer, database_url: str
):
    bought = make_purchase(session, owner.user, data=PDF, limit=5)
    session.commit()
    link = _link(api_client, owner, bought.grant_id)
    for header in (f"bytes=0-9,{len(PDF) - 10}-", "bytes=9-3", "items=0-1", "bytes=x-"):
        answer = api_client.get(link, headers=_as(owner, Range=header))
        assert answer.status_code == 200, header
        assert answer.content == PDF
    # each sent the whole file: four downloads
    assert download_count(database_url, bought.grant_id) == 4


def test_if_range_with_a_stale_validator_sends_the_whole_file(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    etag = api_client.head(link, headers=owner.headers).headers["etag"]
    same = api_client.get(link, headers=_as(owner, Range="bytes=10-", If_Range=etag))
    assert same.status_code == 206
    assert same.content == PDF[10:]
    changed = api_client.get(link, headers=_as(owner, Range="bytes=10-", If_Range='"stale"'))
    assert changed.status_code == 200
    assert changed.content == PDF


# --- a real server: an interrupted download -----------------------------------------------------


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_an_interrupted_download_counts_nothing_and_its_resume_counts_once(
    live_api: str, session: Session, owner: Customer, database_url: str
):
    # given a 64 MiB file and a signed link, on a real HTTP server
    size = 64 * 1024 * 1024
    purchase = make_purchase(session, owner.user, data=None, sparse_size=size, name="big.bin")
    session.commit()
    link = downloads.issue_link(session=session, user_id=owner.id, grant_id=purchase.grant_id)
    received = 0
    # when the client stops after the first few MiB
    with httpx.Client(base_url=live_api, headers=owner.headers, timeout=30) as client:
        with client.stream("GET", link.path) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_bytes():
                received += len(chunk)
                if received >= 4 * 1024 * 1024:
                    break
        time.sleep(0.5)
        # then nothing counted
        assert download_count(database_url, purchase.grant_id) == 0
        # when it resumes where it stopped, through the same link
        rest = 0
        with client.stream("GET", link.path, headers={"Range": f"bytes={received}-"}) as answer:
            assert answer.status_code == 206
            for chunk in answer.iter_bytes():
                rest += len(chunk)
    # then it has the whole file and one download counted
    assert received + rest == size
    wait_until(lambda: download_count(database_url, purchase.grant_id) == 1)
    time.sleep(0.3)
    assert download_count(database_url, purchase.grant_id) == 1


# --- S3: a redirect to a presigned URL ----------------------------------------------------------


def test_with_s3_storage_the_link_redirects_to_a_presigned_url_of_the_same_lifetime(
    api_client: TestClient,
    session: Session,
    owner: Customer,
    s3_storage: Any,
    database_url: str,
):
    # given a purchase whose file lives in S3 (SeaweedFS)
    bought = make_purchase(session, owner.user, data=PDF, name="Érable guide.pdf")
    session.commit()
    link = _link(api_client, owner, bought.grant_id)
    # when the link is followed
    answer = api_client.get(link, headers=owner.headers, follow_redirects=False)
    # then the shop answers 302 to the object store, with the link's lifetime, and counts once
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(get_settings().s3_endpoint_url or "?")
    assert "X-Amz-Expires=" in location
    expires = int(location.split("X-Amz-Expires=")[1].split("&")[0])
    assert 590 <= expires <= 600
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert download_count(database_url, bought.grant_id) == 1
    # and the object store serves the bytes (and ranges) as an attachment
    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["content-disposition"].startswith("attachment;")
    part = httpx.get(location, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == PDF[:100]
    # and a resume through the same link does not count again, a whole download again does
    resume = api_client.get(link, headers=_as(owner, Range="bytes=100-"), follow_redirects=False)
    assert resume.status_code == 302
    assert download_count(database_url, bought.grant_id) == 1
    assert api_client.get(link, headers=owner.headers, follow_redirects=False).status_code == 302
    assert download_count(database_url, bought.grant_id) == 2
    # and without a session the shop does not redirect at all
    api_client.cookies.clear()
    assert api_client.get(link, follow_redirects=False).status_code == 401


def test_with_s3_storage_head_and_ranges_outside_the_file_get_no_url(
    api_client: TestClient,
    session: Session,
    owner: Customer,
    s3_storage: Any,
    database_url: str,
):
    # given a purchase whose file lives in S3 (SeaweedFS)
    bought = make_purchase(session, owner.user, data=PDF, name="guide.pdf")
    session.commit()
    link = _link(api_client, owner, bought.grant_id)

    # when a download manager asks HEAD, and a range beyond the end of the file
    head = api_client.head(link, headers=owner.headers, follow_redirects=False)
    beyond = api_client.get(
        link, headers=_as(owner, Range=f"bytes={len(PDF) + 10}-"), follow_redirects=False
    )

    # then the shop answers both itself: size for HEAD, 416 for the range, and no URL to the
    # object store (which would serve the whole file, uncounted, until it expires)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(PDF))
    assert "location" not in head.headers
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(PDF)}"
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"
    assert "location" not in beyond.headers
    assert download_count(database_url, bought.grant_id) == 0


# --- a 1 GiB file in flat memory ----------------------------------------------------------------


@pytest.mark.slow
def test_a_one_gib_download_streams_in_flat_server_memory(
    shop_env: Path, session: Session, owner: Customer, database_url: str
):
    from bench.upload import RssSampler, _rss_bytes, _tree_pids

    # given a 1 GiB file (sparse, zeros) and the API served by granian in its own process
    size = 1024**3
    purchase = make_purchase(session, owner.user, data=None, sparse_size=size, name="big.bin")
    session.commit()
    link = downloads.issue_link(session=session, user_id=owner.id, grant_id=purchase.grant_id)
    port = free_port()
    env = {
        **os.environ,
        "SHOP_DATA_DIR": str(shop_env),
        "DATABASE_URL": database_url,
        "SHOP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_ENABLED": "false",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--factory",
            "shop.api.app:create_api_app",
        ],  # fmt: skip
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(base), timeout=30)
        idle = _rss_bytes(_tree_pids(server.pid))
        sampler = RssSampler(server.pid)
        sampler.start()
        digest, received = hashlib.sha256(), 0
        # when the whole file is downloaded through the signed link
        with (
            httpx.Client(base_url=base, headers=owner.headers, timeout=120) as client,
            client.stream("GET", link.path) as answer,
        ):
            assert answer.status_code == 200
            for chunk in answer.iter_bytes(1024 * 1024):
                digest.update(chunk)
                received += len(chunk)
        peak = sampler.stop()
    finally:
        server.terminate()
        server.wait(timeout=15)
    # then every byte arrived, and the server's memory grew by far less than the file
    zeros = hashlib.sha256()
    block = bytes(1024 * 1024)
    for _ in range(size // len(block)):
        zeros.update(block)
    assert received == size
    assert digest.hexdigest() == zeros.hexdigest()
    growth = peak - idle
    print(f"1 GiB download: idle RSS {idle / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")
    assert growth < 64 * 1024 * 1024, f"server memory grew by {growth / 2**20:.0f} MiB"
    wait_until(lambda: download_count(database_url, purchase.grant_id) == 1)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_file_missing_from_storage_is_not_found_not_a_server_error(
    api_client: TestClient, owner: Customer, purchase: Purchase, database_url: str
):
    link = _link(api_client, owner, purchase.grant_id)
    storage.path_for(purchase.product_file.storage_key).unlink()
    answer = api_client.get(link, headers=owner.headers)
    assert answer.status_code == 404
    assert download_count(database_url, purchase.grant_id) == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-10", (990, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=0-0", (0, 1)),
        ("bytes=5-3", None),
        ("bytes=0-1,5-6", None),
        ("lines=0-1", None),
        ("bytes=-", None),
    ],
)
def test_range_headers_are_read_as_one_span_or_ignored(header: str, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=٣-", "bytes=0-٩٩", "bytes=-１０", "bytes=３-9"])
def test_range_headers_with_digits_other_than_ascii_are_ignored(header: str):
    # given a Range header whose numbers are written in another script's digits
    # when it is read
    span = parse_range(header, 1000)
    # then it is garbage, ignored like any other: the whole file is sent
    assert span is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_ranges_past_the_end_are_not_satisfiable(header: str):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)
