"""Backups: one archive holds everything the shop cannot rebuild, and restores it whole.

An archive (`shop-backup-<UTC time>.tar.gz`, written 0600 because of the secrets in it) holds
- the database: SQLite through its online backup API (a consistent copy while the shop
  runs, WAL included), PostgreSQL through `pg_dump --format=custom` (the PostgreSQL client
  tools must be on PATH);
- what local storage keeps under the data dir: `files/` (what customers download) and
  `media/` (product images). With STORAGE_URL=s3://… they live in the object store, which is
  backed up there; the manifest says so;
- the secrets the shop generated in the data dir itself (`secret_key`,
  `stripe_webhook_secret`): without them, sessions and signed links made before a restore
  would be refused after it;
- `manifest.json`: when, which database, the schema revision, every member's size and SHA-256.

`restore_backup` reads and checks the whole archive (manifest, checksums, paths, a schema
this code knows) before it changes anything. It refuses while the shop runs on the same data
dir (every app process holds a shared lock on `<data dir>/shop.running`): the running shop
would go on writing into the database it replaced. It refuses to replace a shop that holds anything
(rows, uploaded files) unless told to (`force`), and then first backs up what it replaces (a
damaged SQLite file, which cannot be backed up, is set aside instead). It puts the
database and files in place and migrates to the newest schema, so an older backup works with
newer code. The shop must be stopped while it restores.

The `backup` job makes one every BACKUP_EVERY_HOURS into BACKUP_DIR and keeps the newest
BACKUP_KEEP; copying them off the machine is the operator's part (see the README). The outcome
of the last attempt (time, archive or error) is kept in `<data dir>/backup-status.json`, which
/api/ready reports (`backup_report`). An archive is built in a `.backup-*` staging folder that
its process holds locked; one nobody holds (its process died) is removed by the next backup
and by pruning.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DatabaseError, OperationalError

from shop import db
from shop.models import utcnow
from shop.services.errors import ShopError, one_line
from shop.services.storage import object_storage_location
from shop.settings import get_settings

log = logging.getLogger("shop.backups")

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
FILE_DIRS = ("files", "media")
SECRET_FILES = ("secret_key", "stripe_webhook_secret")
NAME_PREFIX = "shop-backup-"
NAME_SUFFIX = ".tar.gz"
RUNNING_MARK = "shop.running"
STATUS_FILE = "backup-status.json"
STAGING_PREFIX = ".backup-"
STAGING_LOCK = ".in-progress"
# A staging folder from before the lock existed counts as abandoned once this old.
STALE_STAGING_AGE = timedelta(hours=6)
# The first scheduled backup after a start, when none is recent enough.
FIRST_BACKUP_DELAY = timedelta(minutes=5)
# Tables whose rows mean the database is in use: restoring over them needs `force`.
CONTENT_TABLES = ("users", "products", "orders")


class BackupFailed(ShopError):
    """The backup or restore could not be made; nothing was changed."""

    code = "backup_failed"


@dataclass(frozen=True, slots=True)
class BackupMade:
    path: Path
    size_bytes: int
    database: str  # "sqlite" or "postgresql"
    files: int
    files_in_object_storage: bool


@dataclass(frozen=True, slots=True)
class Restored:
    database: str
    files: int
    revision: str  # the backup's schema
    migrated_to: str  # the schema after the restore (this version's newest)
    replaced_backup: Path | None  # what the restore replaced: its backup, or a damaged file


def backup_dir() -> Path:
    settings = get_settings()
    return (settings.backup_dir or settings.data_dir / "backups").resolve()


def create_backup(*, directory: Path | None = None, now: datetime | None = None) -> BackupMade:
    """Write an archive of the database, local files and generated secrets into `directory`
    (BACKUP_DIR by default). The outcome, made or failed, is recorded for /api/ready."""
    now = now or utcnow()
    directory = (directory or backup_dir()).resolve()
    try:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            remove_stale_staging(directory=directory)
            made = _write_backup(directory, now)
        except OSError as exc:
            raise BackupFailed(
                f"The backup could not be written to {directory}: {exc.strerror}."
            ) from exc
    except Exception as exc:
        _record_outcome({"failed_at": utcnow().isoformat(), "error": one_line(exc)})
        raise
    _record_outcome({"made_at": now.isoformat(), "file": made.path.name})
    return made


def files_in_object_storage() -> bool:
    """STORAGE_URL names an object store (storage's own test): files are backed up there."""
    return object_storage_location(get_settings().storage_url) is not None


def _write_backup(directory: Path, now: datetime) -> BackupMade:
    settings = get_settings()
    url = make_url(db.normalize_url(settings.effective_database_url))
    kind = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
    in_object_storage = files_in_object_storage()
    with _staging(directory) as staging:
        if kind == "sqlite":
            _copy_sqlite(Path(str(url.database)), staging / SQLITE_MEMBER)
        else:
            _pg_dump(url, staging / POSTGRES_MEMBER)
        members = [SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER]
        local_roots = [] if in_object_storage else [settings.data_dir / name for name in FILE_DIRS]
        file_members = [
            path.relative_to(settings.data_dir).as_posix()
            for root in local_roots
            if root.is_dir()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        ]
        secrets_kept = [
            f"secrets/{name}" for name in SECRET_FILES if (settings.data_dir / name).is_file()
        ]
        sources = {members[0]: staging / members[0]}
        sources |= {name: settings.data_dir / name for name in file_members}
        sources |= {name: settings.data_dir / name.split("/", 1)[1] for name in secrets_kept}
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "shop": settings.shop_name,
            "database": kind,
            "revision": _revision(),
            "files_in_object_storage": in_object_storage,
            "members": {name: _describe(path) for name, path in sources.items()},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
        final = directory / f"{NAME_PREFIX}{stamp}{NAME_SUFFIX}"
        partial = staging / final.name
        # Level 1: most of the bytes are product files that are compressed already, and the
        # job runs inside the app process.
        with tarfile.open(partial, "w:gz", compresslevel=1) as archive:
            archive.add(staging / MANIFEST, arcname=MANIFEST)
            for name, path in sources.items():
                archive.add(path, arcname=name)
        partial.chmod(0o600)
        # Whole or not at all: a half-written archive never carries the final name.
        os.replace(partial, final)
    return BackupMade(
        path=final,
        size_bytes=final.stat().st_size,
        database=kind,
        files=len(file_members),
        files_in_object_storage=in_object_storage,
    )


def restore_backup(*, archive: Path, force: bool = False) -> Restored:
    """Put the archive's database, files and secrets in place of the current ones, then
    migrate. Raises `BackupFailed` (nothing changed) for an archive that is not whole or not
    from this shop's kind of database, or a database in use without `force`."""
    settings = get_settings()
    url = make_url(db.normalize_url(settings.effective_database_url))
    kind = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
    if shop_is_running():
        raise BackupFailed(
            f"The shop is running on {settings.data_dir}: stop it first, or it would go on "
            "writing into the database the restore replaces."
        )
    with tempfile.TemporaryDirectory(prefix="shop-restore-") as work:
        staging = Path(work)
        manifest = _unpack_and_check(archive, staging)
        if manifest["database"] != kind:
            raise BackupFailed(
                f"The backup holds a {manifest['database']} database and this shop uses "
                f"{kind}; restore it into a shop set up with the same kind of database."
            )
        if manifest["revision"] not in _known_revisions():
            raise BackupFailed(
                f"The backup's schema ({manifest['revision']}) is newer than this version of "
                "the shop knows; upgrade the shop first, then restore."
            )
        replaced = _make_way(kind, Path(str(url.database)), force=force)
        db.dispose_engines()
        if kind == "sqlite":
            _put_sqlite(staging / SQLITE_MEMBER, Path(str(url.database)))
        else:
            _pg_restore(url, staging / POSTGRES_MEMBER)
        files = _put_files(staging, manifest)
        db.dispose_engines()
        db.migrate()
    return Restored(
        database=kind,
        files=files,
        revision=manifest["revision"],
        migrated_to=_revision(),
        replaced_backup=replaced,
    )


@contextmanager
def running_mark() -> Iterator[None]:
    """Held by every app process while it serves (a shared lock: many may hold it)."""
    path = get_settings().data_dir / RUNNING_MARK
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shop_is_running() -> bool:
    """True while an app process on this data dir holds `running_mark` (here, or in another
    container on the same volume)."""
    path = get_settings().data_dir / RUNNING_MARK
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def prune_backups(*, directory: Path | None = None, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives (by name, which is their UTC time), and the
    staging folders of backups that were interrupted."""
    directory = directory or backup_dir()
    archives = sorted(directory.glob(f"{NAME_PREFIX}*{NAME_SUFFIX}"))
    removed = archives[: max(0, len(archives) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    remove_stale_staging(directory=directory)
    return removed


def run_scheduled_backup() -> str:
    made = create_backup()
    removed = prune_backups(keep=get_settings().backup_keep)
    return f"{made.path.name} ({made.size_bytes} bytes), {len(removed)} old removed"


# --- staging, and what /api/ready says about backups -------------------------------------


@contextmanager
def _staging(directory: Path) -> Iterator[Path]:
    """A staging folder in `directory`, held locked while this backup uses it (so another
    process's clean-up knows it is alive) and removed after, whatever happens."""
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=STAGING_PREFIX))
    try:
        with (staging / STAGING_LOCK).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield staging
            finally:
                # Removed while still locked: nobody else deletes it under our feet.
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(
    *, directory: Path | None = None, now: datetime | None = None
) -> list[Path]:
    """Remove the staging folders that interrupted backups (a killed or restarted process)
    left behind: those whose lock nobody holds, and lock-less ones older than
    STALE_STAGING_AGE. A backup still running, in this process or another, keeps its own."""
    directory = directory or backup_dir()
    now = now or utcnow()
    removed = []
    for staging in directory.glob(f"{STAGING_PREFIX}*"):
        if not staging.is_dir() or staging.is_symlink():
            continue
        if _staging_is_abandoned(staging, now):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
            log.info("removed the staging folder of an interrupted backup: %s", staging.name)
    return removed


def _staging_is_abandoned(staging: Path, now: datetime) -> bool:
    lock_path = staging / STAGING_LOCK
    try:
        with lock_path.open("r") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a backup is writing it
            fcntl.flock(lock, fcntl.LOCK_UN)
            return True
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        changed = datetime.fromtimestamp(staging.stat().st_mtime, UTC)
    except OSError:
        return False
    return now - changed > STALE_STAGING_AGE


def _status_path() -> Path:
    return get_settings().data_dir / STATUS_FILE


def _record_outcome(outcome: dict[str, str]) -> None:
    """Keep the last success and the last failure (each replaces its own kind)."""
    path = _status_path()
    try:
        status = _read_status()
        status.update(outcome)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(status), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        log.warning("the backup outcome could not be recorded in %s: %s", path, exc.strerror)


def _read_status() -> dict[str, str]:
    try:
        status = json.loads(_status_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def newest_backup_at() -> datetime | None:
    """When the newest archive in BACKUP_DIR (or the last one recorded) was made."""
    times = []
    try:
        names = [path.name for path in backup_dir().glob(f"{NAME_PREFIX}*{NAME_SUFFIX}")]
    except OSError:
        names = []
    for name in names:
        stamp = name.removeprefix(NAME_PREFIX).removesuffix(NAME_SUFFIX)
        try:
            times.append(datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC))
        except ValueError:
            continue
    recorded = _parse_time(_read_status().get("made_at"))
    if recorded is not None:
        times.append(recorded)
    return max(times, default=None)


def first_backup_delay(*, now: datetime | None = None) -> timedelta:
    """When the scheduler's first backup is due: FIRST_BACKUP_DELAY after start if no backup
    is as recent as BACKUP_EVERY_HOURS, else when the newest is that old."""
    now = now or utcnow()
    every = timedelta(hours=get_settings().backup_every_hours)
    newest = newest_backup_at()
    if newest is None:
        return FIRST_BACKUP_DELAY
    return max(FIRST_BACKUP_DELAY, newest + every - now)


@dataclass(frozen=True, slots=True)
class BackupReport:
    state: str  # "ok", "failed", "overdue", "none_yet" or "disabled"
    last_backup_at: datetime | None
    last_file: str | None
    failed_at: datetime | None
    error: str | None
    warning: str | None  # set for "failed" and "overdue": what the merchant should know


def backup_report(*, since: datetime, now: datetime | None = None) -> BackupReport:
    """The backups' state for /api/ready: the last attempt failed, or none was made in twice
    BACKUP_EVERY_HOURS (counted from `since`, the process start, when there is none at all)."""
    now = now or utcnow()
    hours = get_settings().backup_every_hours
    status = _read_status()
    newest = newest_backup_at()
    failed_at = _parse_time(status.get("failed_at"))
    last_file = status.get("file") if newest == _parse_time(status.get("made_at")) else None
    if last_file is None and newest is not None:
        last_file = f"{NAME_PREFIX}{newest:%Y%m%dT%H%M%S%fZ}{NAME_SUFFIX}"
    failed = failed_at is not None and (newest is None or failed_at > newest)
    error = str(status.get("error") or "") if failed else None
    state, warning = "ok", None
    if not hours:
        state = "disabled"
    elif failed:
        state = "failed"
        # Not the error itself: /api/ready answers anyone, and pg_dump's words name paths,
        # hosts and databases. The shop's log and backup-status.json keep it.
        warning = (
            f"the last backup failed at {failed_at:%Y-%m-%d %H:%M} UTC; the shop's log says why"
        )
    elif now - (newest or since) > timedelta(hours=2 * hours):
        state = "overdue"
        warning = (
            f"no backup since {newest:%Y-%m-%d %H:%M} UTC"
            if newest
            else "no backup has been made yet"
        ) + f" (BACKUP_EVERY_HOURS is {hours})"
    elif newest is None:
        state = "none_yet"
    return BackupReport(
        state=state,
        last_backup_at=newest,
        last_file=last_file,
        failed_at=failed_at if failed else None,
        error=error,
        warning=warning,
    )


# --- the database -------------------------------------------------------------------------


def _copy_sqlite(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupFailed(f"No SQLite database at {source}.")
    origin = sqlite3.connect(source)
    copy = sqlite3.connect(target)
    try:
        with copy:
            origin.backup(copy)
    finally:
        copy.close()
        origin.close()


def _put_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    shutil.copyfile(source, incoming)
    # The old WAL belongs to the old file: left beside the new one, SQLite would replay it.
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(incoming, target)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A URL the client tools take, with the password passed in their environment (never on a
    command line, where `ps` shows it)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BackupFailed(
            f"`{tool}` (the PostgreSQL client tools) is not installed; install them "
            "(Debian: postgresql-client) in the same major version as the server."
        )
    return found


def _pg_dump(url: URL, target: Path) -> None:
    address, env = _libpq(url)
    command = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
    _run([*command, f"--file={target}", f"--dbname={address}"], env)


def _pg_restore(url: URL, source: Path) -> None:
    # The dump becomes SQL that psql runs in one transaction after emptying the schema: tables
    # a newer migration made would otherwise survive and trip the migration that follows, and
    # a restore that fails leaves the database as it was.
    script = source.with_suffix(".sql")
    address, env = _libpq(url)
    _run(
        [_pg_tool("pg_restore"), "--no-owner", "--no-privileges", f"--file={script}", str(source)],
        env,
    )
    _run(
        [
            _pg_tool("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--command=DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
            f"--file={script}",
            f"--dbname={address}",
        ],
        env,
    )


def _run(command: list[str], env: dict[str, str]) -> None:
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        tool = Path(command[0]).name
        raise BackupFailed(f"{tool} failed: {finished.stderr.strip()[:500]}")


def _revision() -> str:
    with db.get_engine().connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(db.alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def _make_way(kind: str, sqlite_path: Path, *, force: bool) -> Path | None:
    """Refuse (without `force`) to replace a shop that holds anything; with it, keep what is
    replaced: a backup of it, or a damaged SQLite file set aside. Returns where it is kept."""
    held = _content_counts()
    if held is None:  # a damaged SQLite file: the very case a restore is for
        if not force:
            raise BackupFailed(
                f"The current database ({sqlite_path}) cannot be read. Run again with --force "
                "to replace it; the unreadable file is kept beside it."
            )
        db.dispose_engines()
        return _set_aside(sqlite_path)
    files = _local_file_count()
    if files:
        held["uploaded files"] = files
    if not any(held.values()):
        return None
    if not force:
        listed = ", ".join(f"{n} {what}" for what, n in held.items() if n)
        raise BackupFailed(
            f"This shop is in use ({listed}). Restoring replaces all of it; run again with "
            "--force to do so (what it replaces is backed up first)."
        )
    return create_backup().path


def _content_counts() -> dict[str, int] | None:
    """Rows of the tables that mean the shop is in use; None for a SQLite file that cannot be
    read."""
    engine = db.get_engine()
    try:
        present = set(inspect(engine).get_table_names())
        counts = {}
        with engine.connect() as connection:
            for table in CONTENT_TABLES:
                if table in present:
                    counts[table] = int(
                        connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0
                    )
    except DatabaseError as exc:
        if engine.dialect.name == "sqlite" and not isinstance(exc, OperationalError):
            return None
        raise BackupFailed(f"The current database cannot be reached: {exc.orig}") from exc
    return counts


def _local_file_count() -> int:
    if files_in_object_storage():
        return 0
    data_dir = get_settings().data_dir
    return sum(1 for name in FILE_DIRS for _ in _files_under(data_dir / name))


def _set_aside(path: Path) -> Path:
    kept = path.with_name(f"{path.name}.unreadable-{utcnow():%Y%m%dT%H%M%SZ}")
    os.replace(path, kept)
    for suffix in ("-wal", "-shm"):
        companion = Path(str(path) + suffix)
        if companion.exists():
            os.replace(companion, Path(str(kept) + suffix))
    return kept


# --- the archive --------------------------------------------------------------------------


def _describe(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_and_check(archive: Path, staging: Path) -> dict[str, Any]:
    if not archive.is_file():
        raise BackupFailed(f"No backup archive at {archive}.")
    try:
        archive.open("rb").close()
    except OSError as exc:
        # Not the archive's fault: say so, rather than that it is not a whole backup.
        reason = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else exc.strerror
        raise BackupFailed(f"cannot read {archive}: {reason}") from exc
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # filter="data": no absolute paths, no "..", no links out, no device files.
            tar.extractall(staging, filter="data")
        if not (staging / MANIFEST).is_file():
            raise BackupFailed(f"{archive.name} is not a shop backup: it has no {MANIFEST}.")
        manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BackupFailed(f"{archive.name} is not a whole shop backup: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupFailed(f"{archive.name} is not a shop backup this version can read.")
    members: dict[str, Any] = manifest.get("members") or {}
    found = {path.relative_to(staging).as_posix() for path in _files_under(staging)}
    if found - {MANIFEST} != set(members):
        raise BackupFailed(f"{archive.name} does not hold what its manifest lists.")
    for name, described in members.items():
        if _sha256(staging / name) != described.get("sha256"):
            raise BackupFailed(f"{archive.name} is damaged: {name} does not match its checksum.")
    return manifest


def _files_under(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file())


def _put_files(staging: Path, manifest: dict[str, Any]) -> int:
    """Replace the local file directories (when the backup has them) and generated secrets."""
    data_dir = get_settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    if not manifest.get("files_in_object_storage"):
        for name in FILE_DIRS:
            target = data_dir / name
            if target.exists():
                shutil.rmtree(target)
            if (staging / name).is_dir():
                shutil.copytree(staging / name, target)
    for name in SECRET_FILES:
        source = staging / "secrets" / name
        if source.is_file():
            shutil.copyfile(source, data_dir / name)
            (data_dir / name).chmod(0o600)
    return sum(1 for name in manifest["members"] if name.split("/", 1)[0] in FILE_DIRS)
