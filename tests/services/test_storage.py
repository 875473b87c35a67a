"""File storage: the local disk default and an S3-compatible store (a real SeaweedFS; the
`seaweed_s3` and `s3_storage` fixtures live in tests/conftest.py, shared with the download tests)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from shop.services import storage
from shop.settings import describe_problems, get_settings


def _chunks(total: int, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    sent = 0
    n = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield bytes([n % 251]) * size
        sent += size
        n += 1


def _expected(total: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    for piece in _chunks(total):
        digest.update(piece)
    return total, digest.hexdigest()


# --- local ------------------------------------------------------------------------------------


def test_local_storage_writes_under_a_generated_key_with_size_and_hash(shop_env: Path):
    # when a few MiB are stored in pieces
    stored = storage.store_chunks(_chunks(3 * 1024 * 1024 + 7), suffix=".zip")
    # then size and SHA-256 match, the key is random, and the bytes read back
    assert (stored.size_bytes, stored.sha256) == _expected(3 * 1024 * 1024 + 7)
    assert stored.key.endswith(".zip")
    assert storage.path_for(stored.key).is_relative_to(shop_env / "files")
    assert hashlib.sha256(storage.read_bytes(stored.key)).hexdigest() == stored.sha256
    assert storage.get_storage().size(stored.key) == stored.size_bytes


def test_an_aborted_local_write_leaves_nothing(shop_env: Path):
    writer = storage.get_storage().open_writer(suffix=".bin")
    writer.write(b"x" * 3_000_000)
    writer.abort()
    assert [p for p in (shop_env / "files").rglob("*") if p.is_file()] == []


def test_local_keys_cannot_leave_the_files_folder(shop_env: Path):
    with pytest.raises(ValueError, match="escapes"):
        storage.path_for("../secret_key")


def test_suffixes_that_are_not_plain_extensions_are_dropped():
    assert storage.new_key(".zip").endswith(".zip")
    assert "/" not in storage.new_key("/../x").split("/", 1)[1]
    assert storage.new_key(".tar/../../x").count(".") == 0


def test_delete_removes_a_stored_file(shop_env: Path):
    stored = storage.store_bytes(b"bye")
    storage.delete(stored.key)
    assert not storage.path_for(stored.key).exists()


def test_an_unknown_storage_url_is_refused_when_the_settings_load(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a STORAGE_URL no storage backend takes
    monkeypatch.setenv("STORAGE_URL", "ftp://user:pw@somewhere")
    get_settings.cache_clear()
    # when the settings load (at start, before any upload), then they are refused in one line
    # naming the setting and not its value
    with pytest.raises(ValidationError) as refused:
        storage.get_storage()
    assert describe_problems(refused.value) == [
        "setting STORAGE_URL: must be unset, local: (the data dir) or s3://bucket/prefix"
    ]
    assert "pw@" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "in_object_storage"),
    [(None, False), ("local:", False), ("file:///data/files", False), ("s3://bucket/x", True)],
)
def test_backups_and_storage_agree_on_where_files_are(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch, url: str | None, in_object_storage: bool
):
    # given a STORAGE_URL
    if url:
        monkeypatch.setenv("STORAGE_URL", url)
    get_settings.cache_clear()
    # when storage picks its backend and backups ask where the files are
    from shop.services import backups

    local = isinstance(storage.get_storage(), storage.LocalStorage)
    # then both say the same thing
    assert backups.files_in_object_storage() is in_object_storage
    assert local is not in_object_storage


# --- S3 (SeaweedFS) ---------------------------------------------------------------------------


def test_s3_storage_round_trips_a_small_file(s3_storage: storage.Storage):
    stored = storage.store_bytes(b"hello s3", suffix=".txt")
    assert storage.read_bytes(stored.key) == b"hello s3"
    assert s3_storage.size(stored.key) == 8
    assert stored.sha256 == hashlib.sha256(b"hello s3").hexdigest()


def test_s3_storage_streams_a_multipart_upload(s3_storage: storage.Storage):
    # given a file larger than two S3 parts
    total = 2 * storage.S3_PART_BYTES + 123_457
    # when it is stored in 1 MiB pieces
    stored = storage.store_chunks(_chunks(total), suffix=".bin")
    # then the object is whole: same size and SHA-256 when read back in chunks
    assert (stored.size_bytes, stored.sha256) == _expected(total)
    digest = hashlib.sha256()
    for piece in s3_storage.iter_chunks(stored.key):
        digest.update(piece)
    assert digest.hexdigest() == stored.sha256
    # when it is deleted, then it is gone
    s3_storage.delete(stored.key)
    with pytest.raises(ClientError):
        s3_storage.size(stored.key)


def test_an_aborted_s3_upload_leaves_no_object(s3_storage: storage.Storage):
    writer = s3_storage.open_writer(suffix=".bin")
    writer.write(b"y" * (storage.S3_PART_BYTES + 10))  # one part already sent
    writer.abort()
    with pytest.raises(ClientError):
        s3_storage.size(writer.key)


def test_the_upload_api_stores_into_s3(api_client, session, s3_storage: storage.Storage):
    # given an admin and a product, with STORAGE_URL pointing at S3
    from tests.factories import make_product, make_user, sign_in_as

    product = make_product(session)
    admin = make_user(session, roles=("admin",), password=None)
    token = sign_in_as(session, admin).tokens.access_token
    session.commit()
    data = os.urandom(300_000)
    # when a file is uploaded through the API
    response = api_client.post(
        f"/api/products/{product.id}/files",
        files={"file": ("pack.zip", data, "application/zip")},
        headers={"Authorization": f"Bearer {token}"},
    )
    # then the object in S3 holds the bytes
    assert response.status_code == 201, response.text
    from shop.models import ProductFile

    row = session.get(ProductFile, response.json()["id"])
    assert row is not None
    assert storage.read_bytes(row.storage_key) == data
