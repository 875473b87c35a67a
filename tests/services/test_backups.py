"""Backups hold the database, local files and generated secrets, and restore them whole."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from shop import db
from shop.__main__ import main
from shop.models import Order, Product, User, utcnow
from shop.services import backups
from shop.settings import get_settings
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.factories import make_order, make_product, make_user


@dataclass
class Place:
    """One shop's data dir and database."""

    data_dir: Path
    url: str


@pytest.fixture(params=["sqlite", "postgresql"])
def places(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Place]]:
    """`places(name)` makes an empty, migrated shop of the parametrised database kind and
    points the settings at it (the last one made is the current shop)."""
    made: list[Place] = []

    def place(name: str) -> Place:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / name / 'data' / 'shop.sqlite3'}"
            (tmp_path / name / "data").mkdir(parents=True)
        else:
            url = create_postgres_database()
        made.append(Place(tmp_path / name / "data", url))
        use(made[-1], monkeypatch)
        db.migrate(url)
        return made[-1]

    yield place
    db.dispose_engines()
    for each in made:
        if each.url.startswith("postgresql"):
            drop_postgres_database(each.url)
    get_settings.cache_clear()


def use(place: Place, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_ENV", "test")
    monkeypatch.setenv("SHOP_DATA_DIR", str(place.data_dir))
    monkeypatch.setenv("DATABASE_URL", place.url)
    for name in ("SECRET_KEY", "STORAGE_URL", "BACKUP_DIR", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    db.dispose_engines()


def _fill(place: Place) -> dict[str, object]:
    """A customer, a product with a file on disk, a paid order and the generated secret."""
    with db.session_scope() as session:
        buyer = make_user(session, email="buyer@example.com")
        product = make_product(session, name="Field guide", price_amount=1500)
        make_order(session, paid_at=utcnow(), items=[(product, 1, 1500)])
        assert buyer.id is not None
    stored = place.data_dir / "files" / "products" / "guide.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-1.7 the whole guide")
    (place.data_dir / "media").mkdir()
    (place.data_dir / "media" / "cover.png").write_bytes(b"\x89PNG cover")
    return {"secret": get_settings().effective_secret_key}


def _contents(place: Place) -> dict[str, object]:
    with db.session_scope() as session:
        return {
            "users": session.exec(select(User.email)).all(),
            "products": session.exec(select(Product.name)).all(),
            "orders": session.exec(select(Order.total_amount, Order.status)).all(),
            "file": (place.data_dir / "files" / "products" / "guide.pdf").read_bytes(),
            "image": (place.data_dir / "media" / "cover.png").read_bytes(),
        }


def test_a_backup_restores_database_files_and_secrets_into_a_new_shop(
    places: Callable[[str], Place], monkeypatch: pytest.MonkeyPatch
):
    # given a shop with a customer, a product file, a paid order and its generated secret
    origin = places("origin")
    secret = _fill(origin)["secret"]
    before = _contents(origin)

    # when it is backed up, and the archive restored into a new, empty shop
    made = backups.create_backup()
    target = places("target")
    restored = backups.restore_backup(archive=made.path)

    # then the new shop holds the same rows, files and secret; the archive is private
    assert _contents(target) == before
    assert get_settings().effective_secret_key == secret
    assert (made.files, restored.files) == (2, 2)
    assert restored.replaced_backup is None
    assert made.path.parent == origin.data_dir / "backups"
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    with tarfile.open(made.path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["database"] == made.database
    assert set(manifest["members"]) >= {"files/products/guide.pdf", "secrets/secret_key"}


def _backup_and_a_shop_in_use(places: Callable[[str], Place]) -> tuple[backups.BackupMade, Place]:
    """A backup of a filled shop, and another shop (now current) holding one product of its own."""
    _fill(places("origin"))
    made = backups.create_backup()
    target = places("target")
    with db.session_scope() as session:
        make_product(session, name="Only in the target")
    return made, target


def test_restoring_over_a_shop_in_use_needs_force_and_backs_up_what_it_replaces(
    places: Callable[[str], Place],
):
    # given a backup of a filled shop, and another shop in use with its own product
    made, target = _backup_and_a_shop_in_use(places)

    # when the archive is restored without --force
    with pytest.raises(backups.BackupFailed, match="in use .1 products.*--force"):
        backups.restore_backup(archive=made.path)

    # then nothing changed
    assert _products() == ["Only in the target"]

    # when it is restored with --force
    restored = backups.restore_backup(archive=made.path, force=True)

    # then the backup's data replaced it, and what it replaced is in a backup of its own
    assert _products() == ["Field guide"]
    assert restored.replaced_backup is not None
    assert restored.replaced_backup.parent == target.data_dir / "backups"
    with tarfile.open(restored.replaced_backup) as archive:
        assert "manifest.json" in archive.getnames()


def _products() -> list[str]:
    with db.session_scope() as session:
        return list(session.exec(select(Product.name)).all())


def _rewritten(
    source: Path,
    target: Path,
    change: Callable[[str, bytes], bytes] = lambda _name, data: data,
    extra: tuple[str, bytes] | None = None,
) -> Path:
    """A copy of the archive with its members rewritten by `change`, and one `extra`."""
    with tarfile.open(source) as archive, tarfile.open(target, "w:gz") as copy:
        members = [
            (member.name, archive.extractfile(member).read())  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        ]
        for name, data in [*members, *([extra] if extra else [])]:
            changed = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(changed)
            copy.addfile(info, io.BytesIO(changed))
    return target


def test_a_damaged_or_foreign_archive_is_refused_before_anything_changes(
    places: Callable[[str], Place], tmp_path: Path
):
    # given a backup, and a shop in use restoring it with --force
    made, target = _backup_and_a_shop_in_use(places)

    def flip_file(name: str, data: bytes) -> bytes:
        return data.replace(b"whole", b"WHOLE") if name.endswith("guide.pdf") else data

    def newer_schema(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return json.dumps({**json.loads(data), "revision": "29991231_9999"}).encode()

    damaged = _rewritten(made.path, tmp_path / "damaged.tar.gz", flip_file)
    newer = _rewritten(made.path, tmp_path / "newer.tar.gz", newer_schema)
    escaping = _rewritten(
        made.path, tmp_path / "escaping.tar.gz", extra=("../../escaped.txt", b"evil")
    )
    unlisted = _rewritten(made.path, tmp_path / "unlisted.tar.gz", extra=("files/x.bin", b"x"))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(made.path.read_bytes()[: made.size_bytes // 2])

    # when each is restored, then each is refused with its reason and nothing changed
    for archive, reason in (
        (damaged, "damaged: files/products/guide.pdf does not match its checksum"),
        (newer, "newer than this version of the shop knows"),
        (escaping, "escaping.tar.gz is not a whole shop backup"),
        (unlisted, "does not hold what its manifest lists"),
        (truncated, "truncated.tar.gz is not a whole shop backup"),
        (tmp_path / "missing.tar.gz", "No backup archive"),
    ):
        with pytest.raises(backups.BackupFailed, match=reason):
            backups.restore_backup(archive=archive, force=True)
        assert _products() == ["Only in the target"]
    assert not (target.data_dir / "backups").exists()


def test_the_backup_job_keeps_the_newest_archives(
    places: Callable[[str], Place], monkeypatch: pytest.MonkeyPatch
):
    # given a shop that keeps three backups, with four old ones already
    place = places("shop")
    monkeypatch.setenv("BACKUP_KEEP", "3")
    get_settings.cache_clear()
    old = [backups.create_backup(now=utcnow() - timedelta(days=days)).path for days in (4, 3, 2, 1)]

    # when the job runs
    note = backups.run_scheduled_backup()

    # then the newest three remain: the new one and the two most recent old ones
    kept = sorted(p.name for p in (place.data_dir / "backups").glob("shop-backup-*.tar.gz"))
    assert len(kept) == 3
    assert kept[:2] == [old[2].name, old[3].name]
    assert note.startswith(kept[2])
    assert note.endswith("2 old removed")


def test_the_command_line_backs_up_and_reports_a_refused_restore(
    places: Callable[[str], Place], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # given a shop
    places("shop")

    # when it is backed up to a folder, and a file that is no backup is restored
    assert main(["backup", "--to", str(tmp_path / "kept")]) == 0
    written = capsys.readouterr().out
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    code = main(["restore", str(tmp_path / "junk.tar.gz")])

    # then the backup is where it was asked to go, and the restore fails with the reason
    [archive] = (tmp_path / "kept").glob("shop-backup-*.tar.gz")
    assert f"backup written: {archive}" in written
    assert code == 1
    assert "junk.tar.gz is not a whole shop backup" in capsys.readouterr().err

    # when a backup is asked into a place that cannot be written, then the reason is told
    (tmp_path / "a-file").write_text("")
    assert main(["backup", "--to", str(tmp_path / "a-file" / "below")]) == 1
    assert "The backup could not be written to" in capsys.readouterr().err

    # when the backup is restored into a new shop, then it names the schema it holds
    places("other")
    assert main(["restore", str(archive)]) == 0
    assert f"restored {archive.name}: " in capsys.readouterr().out


def test_a_restore_is_refused_while_the_shop_runs_on_the_same_data_dir(
    places: Callable[[str], Place],
):
    # given a backup, and a new shop whose app is serving (it holds the running mark)
    _fill(places("origin"))
    made = backups.create_backup()
    places("target")

    # when the backup is restored while it serves, then it is refused and nothing changes
    with backups.running_mark():
        assert backups.shop_is_running()
        with pytest.raises(backups.BackupFailed, match="The shop is running on .*stop it first"):
            backups.restore_backup(archive=made.path)
        assert _products() == []

    # when the shop has stopped, then the same restore goes through
    assert not backups.shop_is_running()
    backups.restore_backup(archive=made.path)
    assert _products() == ["Field guide"]


@pytest.mark.parametrize("places", ["sqlite"], indirect=True)  # a damaged file is SQLite's case
def test_a_damaged_sqlite_database_is_replaced_with_force_and_kept_aside(
    places: Callable[[str], Place],
):
    # given a backup, and a shop whose database file was damaged
    _fill(places("origin"))
    made = backups.create_backup()
    target = places("target")
    db.dispose_engines()
    database = target.data_dir / "shop.sqlite3"
    database.write_bytes(b"not a database at all" * 1000)

    # when it is restored without --force, then it is refused with the reason
    with pytest.raises(backups.BackupFailed, match="cannot be read. Run again with --force"):
        backups.restore_backup(archive=made.path)

    # when it is restored with --force, then the backup's data is back and the damaged file
    # is kept beside it
    restored = backups.restore_backup(archive=made.path, force=True)
    assert _products() == ["Field guide"]
    assert restored.replaced_backup is not None
    assert restored.replaced_backup.name.startswith("shop.sqlite3.unreadable-")
    assert restored.replaced_backup.read_bytes().startswith(b"not a database at all")


def test_uploaded_files_alone_make_a_shop_in_use(places: Callable[[str], Place]):
    # given a backup, and a shop with an empty database but an uploaded file
    _fill(places("origin"))
    made = backups.create_backup()
    target = places("target")
    upload = target.data_dir / "files" / "abcd" / "customer-upload.pdf"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"%PDF uploaded here")

    # when it is restored without --force, then it is refused and the file is still there
    with pytest.raises(backups.BackupFailed, match=r"in use \(1 uploaded files\)"):
        backups.restore_backup(archive=made.path)
    assert upload.read_bytes() == b"%PDF uploaded here"

    # when it is restored with --force, then the file is in the backup made first
    restored = backups.restore_backup(archive=made.path, force=True)
    assert restored.replaced_backup is not None
    with tarfile.open(restored.replaced_backup) as archive:
        assert "files/abcd/customer-upload.pdf" in archive.getnames()


# --- operations (audit findings 3, 4, 6, 7) -----------------------------------------------


def _staging_folder(directory: Path, name: str, *, locked_file: bool, hours_old: float) -> Path:
    folder = directory / f".backup-{name}"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "big.bin").write_bytes(b"x" * 1000)
    if locked_file:
        (folder / backups.STAGING_LOCK).write_text("")
    then = (utcnow() - timedelta(hours=hours_old)).timestamp()
    os.utime(folder, (then, then))
    return folder


def test_interrupted_backups_leave_nothing_behind_after_the_next_backup_or_pruning(
    shop_env: Path,
):
    # given the staging folders of two interrupted backups (one whose process died holding
    # its lock, one from before locks older than six hours), a fresh lock-less one, and one a
    # backup is still writing (its lock held)
    directory = backups.backup_dir()
    dead = _staging_folder(directory, "dead", locked_file=True, hours_old=0.1)
    old = _staging_folder(directory, "old", locked_file=False, hours_old=7)
    young = _staging_folder(directory, "young", locked_file=False, hours_old=0.1)
    live = _staging_folder(directory, "live", locked_file=True, hours_old=9)
    with (live / backups.STAGING_LOCK).open("r") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # when the next backup runs
        backups.create_backup()
        # then the abandoned ones are gone, and the ones that may be in use are kept
        assert not dead.exists()
        assert not old.exists()
        assert young.exists()
        assert live.exists()
    # when pruning runs after the live backup's process died
    backups.prune_backups(keep=7)
    # then its staging folder goes too; the archive made stays
    assert not live.exists()
    assert len(list(directory.glob("shop-backup-*.tar.gz"))) == 1
    assert not list(directory.glob(".backup-*/.in-progress"))


@pytest.mark.parametrize("storage_url", ["local:", "file:///data/files"])
def test_files_in_local_storage_named_by_url_are_backed_up(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch, storage_url: str
):
    # given STORAGE_URL naming local storage explicitly, and a product file there
    monkeypatch.setenv("STORAGE_URL", storage_url)
    get_settings.cache_clear()
    (shop_env / "files" / "ab").mkdir(parents=True)
    (shop_env / "files" / "ab" / "guide.pdf").write_bytes(b"%PDF the guide")
    # when the shop is backed up
    made = backups.create_backup()
    # then the file is in the archive, as for a shop without STORAGE_URL
    assert made.files_in_object_storage is False
    assert made.files == 1
    with tarfile.open(made.path) as archive:
        assert "files/ab/guide.pdf" in archive.getnames()


def test_an_archive_the_shop_cannot_read_is_reported_as_such(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # given a whole archive the shop's user may not read (copied in as root, mode 0600);
    # simulated, as these tests may run as root, who reads anything
    made = backups.create_backup()

    def refusing(opener: Callable[..., object]) -> Callable[..., object]:
        def open_unless_archive(path: object, *args: object, **kwargs: object) -> object:
            if Path(str(path)) == made.path:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return opener(path, *args, **kwargs)

        return open_unless_archive

    monkeypatch.setattr(Path, "open", refusing(Path.open))
    monkeypatch.setattr(tarfile, "bltn_open", refusing(tarfile.bltn_open))  # type: ignore[attr-defined]
    # when it is restored
    code = main(["restore", str(made.path), "--force"])
    # then the reason is the permission, not a damaged archive
    assert code == 1
    assert capsys.readouterr().err == f"error: cannot read {made.path}: permission denied\n"


def test_the_last_backup_outcome_is_kept_for_the_merchant(
    shop_env: Path, monkeypatch: pytest.MonkeyPatch
):
    # given a shop started two days ago, with daily backups
    started = utcnow() - timedelta(days=2)
    assert backups.backup_report(since=started).state == "overdue"
    # when a backup is made
    made = backups.create_backup()
    # then the report says when and which
    report = backups.backup_report(since=started)
    assert (report.state, report.last_file, report.warning) == ("ok", made.path.name, None)
    # when the next one fails (BACKUP_DIR cannot be made)
    (shop_env / "in-the-way").write_text("")
    monkeypatch.setenv("BACKUP_DIR", str(shop_env / "in-the-way" / "backups"))
    get_settings.cache_clear()
    with pytest.raises(backups.BackupFailed):
        backups.run_scheduled_backup()
    # then the report says it failed, when and why
    report = backups.backup_report(since=started)
    assert report.state == "failed"
    assert report.error is not None
    assert "could not be written" in report.error
    assert report.warning is not None
    assert report.warning.startswith("the last backup failed at ")
