"""The download limit holds for downloads made in parallel, on a real HTTP server: an answer
that will count takes its download before its first byte (shop.services.downloads, "Downloads
in flight"), and one that stops early gives it back."""

from __future__ import annotations

import threading
import time

import httpx
from sqlmodel import Session

from shop.services import downloads
from tests.concurrency import at_once
from tests.download_factories import download_count, make_purchase
from tests.factories import make_user, sign_in_as

SIZE = 32 * 1024 * 1024


def _wait_for_count(database_url: str, grant_id: int, expected: int) -> None:
    deadline = time.monotonic() + 10
    while download_count(database_url, grant_id) != expected:
        assert time.monotonic() < deadline, f"count stayed {download_count(database_url, grant_id)}"
        time.sleep(0.05)


def _buyer(session: Session, limit: int) -> tuple[dict[str, str], int, int]:
    user = make_user(session)
    signed = sign_in_as(session, user)
    purchase = make_purchase(
        session, user, data=None, sparse_size=SIZE, name="big.bin", limit=limit
    )
    session.commit()
    assert user.id is not None
    return {"Authorization": f"Bearer {signed.tokens.access_token}"}, user.id, purchase.grant_id


def _fresh_link(session: Session, user_id: int, grant_id: int) -> str:
    return downloads.issue_link(session=session, user_id=user_id, grant_id=grant_id).path


def test_six_parallel_downloads_of_a_three_download_grant_serve_three_whole_files(
    live_api: str, session: Session, database_url: str
):
    # given a grant of three downloads and six fresh links, as a download manager would get
    headers, user_id, grant_id = _buyer(session, limit=3)
    links = [_fresh_link(session, user_id, grant_id) for _ in range(6)]
    all_started = threading.Barrier(6, timeout=30)
    results: list[tuple[int, int, str]] = []

    def download(path: str) -> None:
        received, code = 0, ""
        with (
            httpx.Client(base_url=live_api, headers=headers, timeout=60) as client,
            client.stream("GET", path) as answer,
        ):
            pieces = answer.iter_bytes()
            if answer.status_code == 200:
                received += len(next(pieces))
            all_started.wait()  # every answer has begun before any of them ends
            if answer.status_code == 200:
                received += sum(len(piece) for piece in pieces)
            else:
                code = httpx.Response(403, content=answer.read()).json()["error"]["code"]
        results.append((answer.status_code, received, code))

    # when the six are streamed at the same time
    at_once([lambda path=path: download(path) for path in links])

    # then three whole files went out and the other three were refused with the limit
    assert (
        sorted((status, code) for status, _, code in results)
        == [(200, "")] * 3 + [(403, "download_limit_reached")] * 3
    )
    assert [size for status, size, _ in results if status == 200] == [SIZE] * 3
    _wait_for_count(database_url, grant_id, 3)
    time.sleep(0.3)
    assert download_count(database_url, grant_id) == 3


def test_a_download_in_flight_holds_its_download_and_gives_it_back_when_stopped(
    live_api: str, session: Session, database_url: str
):
    # given a grant of one download, being downloaded through a first link
    headers, user_id, grant_id = _buyer(session, limit=1)
    first_link, second_link = (_fresh_link(session, user_id, grant_id) for _ in range(2))
    with httpx.Client(base_url=live_api, headers=headers, timeout=60) as client:
        with client.stream("GET", first_link) as first:
            assert first.status_code == 200
            pieces = first.iter_bytes()  # kept: a generator dropped closes the response
            next(pieces)
            # when a second whole download is asked while the first is going out
            second = client.get(second_link)
            # then it is refused: the one download is taken
            assert second.status_code == 403
            assert second.json()["error"]["code"] == "download_limit_reached"
            assert download_count(database_url, grant_id) == 1
        # when the first stops midway, then its download is given back
        _wait_for_count(database_url, grant_id, 0)
        # and a new download goes out whole and counts once
        with client.stream("GET", second_link) as again:
            assert again.status_code == 200
            assert sum(len(piece) for piece in again.iter_bytes()) == SIZE
    _wait_for_count(database_url, grant_id, 1)
