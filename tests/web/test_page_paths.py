"""A page built as a folder (`checkout/index.html`, because `checkout/success` is below it)
answers at its own address, `/checkout`, with 200: no 307 to `/checkout/` that would change
the address the customer sees."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def folder_pages(fake_build: Path) -> Path:
    for folder, marker in (("checkout", "checkout page"), ("checkout/success", "success page")):
        (fake_build / folder).mkdir(parents=True, exist_ok=True)
        (fake_build / folder / "index.html").write_text(
            f"<!DOCTYPE html><html><head><title>t</title></head><body>{marker}</body></html>"
        )
    return fake_build


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/checkout", "checkout page"),
        ("/checkout/", "checkout page"),
        ("/checkout/success?order=5", "success page"),
        ("/checkout/success/?order=5", "success page"),
    ],
)
def test_a_folder_page_answers_at_the_address_asked_for(
    client, folder_pages: Path, path: str, marker: str
):
    # when a browser asks for the page, with or without the trailing slash
    response = client.get(path, follow_redirects=False, headers={"accept": "text/html"})
    # then the page itself comes back, at that address
    assert response.status_code == 200, (response.status_code, response.headers.get("location"))
    assert marker in response.text


def test_files_and_unknown_pages_are_left_alone(client, folder_pages: Path):
    # a file of the build, an address no page has, and the API keep their own answers
    assert client.get("/assets/app-Ab12Cd34.js").status_code == 200
    assert client.get("/no-such-page", headers={"accept": "text/html"}).status_code == 404
    assert client.get("/api/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path",
    [
        "/account/orders/" + "9" * 300,  # a name longer than the file system allows
        "/admin/orders/" + "x" * 5000,
        "/checkout/" + "s" * 256,
    ],
)
def test_an_address_no_file_can_have_is_answered_rather_than_a_server_error(
    client, folder_pages: Path, path: str
):
    # when a browser asks for a page at an address longer than any file name can be
    response = client.get(path, follow_redirects=False, headers={"accept": "text/html"})
    # then it is answered as any address no file has (the not-found page, or a dynamic
    # page that says not found itself), not a 500
    assert response.status_code in (200, 404)
