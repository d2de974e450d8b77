"""`guichet backup`: one consistent, compressed, encrypted and integrity-checked archive.

Design, and why:

- **Database: every row of every model, serialized inside one read transaction**, rather than a
  copy of the SQLite file or a pg_dump. One read transaction gives a consistent snapshot while the
  platform keeps serving (SQLite in WAL: a deferred transaction that never takes the write lock;
  PostgreSQL: REPEATABLE READ, READ ONLY). Serializing rows, not database pages, makes the same
  archive restorable on SQLite or PostgreSQL (moving from the embedded default to PostgreSQL is a
  backup and a restore), needs no pg_dump of the server's exact version, and lets `restore`
  check every row it writes. Rows are read through the models of the *applied migration state*
  (not the current code's models), so what is written matches the schema exactly; that state is
  recorded and `restore` migrates a new database to it before loading, then migrates forward.
  Values are written losslessly (full-precision times, base64 bytes), in primary key order, as
  JSON lines, in members of at most 4 MiB, so memory stays small whatever the table size.
- **Files**: every file under the default storage (attachments are immutable and named by ids),
  copied after the snapshot, streamed in blocks and never read whole. A file the snapshot
  references but that is gone (erased in between, or lost) is listed in the manifest and
  reported; files newer than the snapshot are harmless extras.
- **Container** (archive.py): tar, gzip, then the vault's chunked AES-256-GCM stream under a
  fresh random key wrapped by the active KEK. Keys are never in the archive: restoring needs the
  KEK (`guichet vault export-keys` makes a separate, passphrase-protected copy of local keys).
- **Manifest** (last member): SHA-256 and size of every member, row counts, the migration state,
  the KEK versions with their live data keys, creation time and Guichet version. Verification
  decrypts and hashes everything and compares it with the manifest, and reads the stream to its
  authenticated end, so a truncated, reordered or altered archive is refused as a whole.

The archive is written to "<name>.partial" (0600) and renamed when complete, so a crash never
leaves a file that looks like a finished backup.
"""

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.apps.registry import Apps
from django.core.files.storage import Storage, default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.duration import duration_iso_string
from django.utils.translation import gettext as _

from guichet.vault.archive import (
    KEY_BYTES,
    BackupError,
    OpeningReader,
    SealingWriter,
    make_header,
    read_header,
    unwrap_archive_key,
)
from guichet.vault.keys import active_kek
from guichet.vault.models import KekVersion
from guichet.vault.providers import get_provider
from guichet.vault.providers.local import fsync_directory

MANIFEST = "manifest.json"
DB_PREFIX = "db/"
FILES_PREFIX = "files/"
MEMBER_BYTES = 4 * 1024 * 1024
ITERATOR_CHUNK = 2000
COPY_BLOCK = 1024 * 1024

Output = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


# --- Rows ---------------------------------------------------------------------------------------


def dumped_models(state_apps: Apps) -> list[type[models.Model]]:
    """Every model with a table of its own in a migration state, in a stable order."""
    found = [
        model
        for model in state_apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]
    return sorted(found, key=lambda model: model._meta.label_lower)


def stored_fields(model: type[models.Model]) -> list["models.Field[Any, Any]"]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.Field) and not getattr(f, "generated", False)
    ]


def encode_value(value: Any, is_json: bool) -> Any:
    """A JSON-safe, lossless form of a column value; `decode_value` reverses it per field."""
    if value is None or is_json or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()  # full precision: Django's JSON encoder would cut microseconds
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    raise BackupError(f"Cannot write a value of type {type(value).__name__} into a backup.")


def decode_value(model_field: "models.Field[Any, Any]", value: Any) -> Any:
    if value is None or isinstance(model_field, models.JSONField):
        return value
    return model_field.to_python(value)


# --- Snapshot -----------------------------------------------------------------------------------


@contextmanager
def snapshot(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """One read transaction that sees the database as of its first read, writers unblocked."""
    if connection.in_atomic_block:
        raise BackupError("A backup needs a transaction of its own; do not run it inside one.")
    if connection.vendor == "sqlite":
        # The platform's SQLite transactions are IMMEDIATE (they take the write lock up front);
        # a deferred one only reads, so in WAL mode writers carry on beside the backup. The mode
        # is read from the settings when the connection opens, hence opening it first.
        connection.ensure_connection()
        previous = getattr(connection, "transaction_mode", None)
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
        try:
            with transaction.atomic(using=connection.alias):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM sqlite_master")  # the snapshot starts
                yield
        finally:
            connection.transaction_mode = previous  # type: ignore[attr-defined]
    elif connection.vendor == "postgresql":
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")


# --- Files --------------------------------------------------------------------------------------


def storage_files(storage: Storage) -> Iterator[str]:
    """Every file name under a storage, depth first, sorted: what backup and restore walk."""

    def walk(prefix: str) -> Iterator[str]:
        try:
            directories, files = storage.listdir(prefix)
        except FileNotFoundError:
            return
        for name in sorted(files):
            yield f"{prefix}/{name}" if prefix else name
        for directory in sorted(directories):
            yield from walk(f"{prefix}/{directory}" if prefix else directory)

    return walk("")


def safe_member_path(name: str) -> str:
    """A storage name from an archive member, refused if it could leave the storage root."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise BackupError(f"The archive holds a file with an unsafe name: {name!r}.")
    if "\\" in name or "\x00" in name:
        raise BackupError(f"The archive holds a file with an unsafe name: {name!r}.")
    return str(path)


class _HashingReader:
    """What tarfile copies from: counts and hashes the bytes as they pass."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


# --- Writing ------------------------------------------------------------------------------------


@dataclass
class BackupSummary:
    path: Path
    backup_id: uuid.UUID
    created_at: str
    size: int
    rows: int
    tables: int
    files: int
    file_bytes: int
    missing_files: list[str]
    kek: str
    seconds: float


@dataclass
class _Writer:
    tar: tarfile.TarFile
    mtime: int
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_bytes(self, name: str, data: bytes, **extra: Any) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), self.mtime, 0o600
        self.tar.addfile(info, io.BytesIO(data))
        self.members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        self.members[name].update(extra)

    def add_stream(self, name: str, source: IO[bytes], size: int) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o600
        reader = _HashingReader(source)
        self.tar.addfile(info, reader)
        self.members[name] = {"sha256": reader.sha256.hexdigest(), "size": reader.size}


def migration_state(connection: BaseDatabaseWrapper) -> tuple[MigrationExecutor, Apps]:
    """The executor and the models of the applied state; refuses a half-migrated database."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        raise BackupError(
            f"The database has unapplied migrations ({names}); run `guichet migrate` first, "
            "so that the backup records one consistent schema."
        )
    return executor, executor.loader.project_state().apps


def _dump_rows(
    writer: _Writer,
    connection: BaseDatabaseWrapper,
    state_apps: Apps,
    referenced: set[str],
    out: Output,
) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for model in dumped_models(state_apps):
        label = model._meta.label_lower
        fields = stored_fields(model)
        names = [f.attname for f in fields]
        json_flags = [isinstance(f, models.JSONField) for f in fields]
        file_columns = [i for i, f in enumerate(fields) if isinstance(f, models.FileField)]
        rows = (
            model._base_manager.using(connection.alias)
            .order_by("pk")
            .values_list(*names)
            .iterator(chunk_size=ITERATOR_CHUNK)
        )
        buffer, count, part, in_part = bytearray(), 0, 0, 0
        for row in rows:
            values = [encode_value(v, is_json) for v, is_json in zip(row, json_flags, strict=True)]
            buffer += json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
            buffer += b"\n"
            count += 1
            in_part += 1
            referenced.update(str(row[i]) for i in file_columns if row[i])
            if len(buffer) >= MEMBER_BYTES:
                part += 1
                writer.add_bytes(
                    f"{DB_PREFIX}{label}/{part:06d}.jsonl", bytes(buffer), rows=in_part
                )
                buffer, in_part = bytearray(), 0
        if buffer:
            part += 1
            writer.add_bytes(f"{DB_PREFIX}{label}/{part:06d}.jsonl", bytes(buffer), rows=in_part)
        tables[label] = {"table": model._meta.db_table, "fields": names, "rows": count}
        if count:
            out("  " + _("%(table)s: %(count)d rows") % {"table": label, "count": count})
    return tables


def _kek_versions() -> list[dict[str, Any]]:
    versions = KekVersion.objects.annotate(
        live=Count("data_keys", filter=Q(data_keys__destroyed_at__isnull=True))
    ).order_by("provider", "version")
    return [
        {"provider": k.provider, "version": k.version, "state": k.state, "live_keys": k.live}
        for k in versions
    ]


def _copy_files(
    writer: _Writer, storage: Storage, referenced: set[str], out: Output
) -> tuple[int, int, list[str]]:
    count = total = 0
    for name in storage_files(storage):
        try:
            handle = storage.open(name, "rb")
        except FileNotFoundError:
            continue  # erased after the listing: the snapshot check below says if it mattered
        with handle:
            try:
                size = os.fstat(handle.fileno()).st_size
            except (AttributeError, OSError, io.UnsupportedOperation):
                size = storage.size(name)
            writer.add_stream(FILES_PREFIX + name, handle, size)
        referenced.discard(name)
        count += 1
        total += size
    missing = sorted(referenced)
    out("  " + _("%(count)d files, %(bytes)d bytes") % {"count": count, "bytes": total})
    return count, total, missing


def _guichet_version() -> str:
    try:
        return version("guichet")
    except PackageNotFoundError:
        return "unknown"


def create_backup(
    output: Path, out: Output = _quiet, using: str = DEFAULT_DB_ALIAS
) -> BackupSummary:
    """Write one archive of the database and the stored files to `output` (must not exist)."""
    started = time.monotonic()
    connection = connections[using]
    if output.exists():
        raise BackupError(f"{output} already exists; backups are never overwritten.")
    _plan, state_apps = migration_state(connection)
    kek = active_kek()
    key = os.urandom(KEY_BYTES)
    wrapped = get_provider(kek.provider).wrap(kek.version, key)
    now = timezone.now()
    header = make_header(uuid.uuid4(), now.isoformat(), kek.provider, kek.version, wrapped)
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as destination:
            sealing = SealingWriter(destination, key, header)
            manifest = _write_body(sealing, header.backup_id, now, connection, state_apps, out)
            sealing.finish()
            destination.flush()
            os.fsync(destination.fileno())
        os.replace(partial, output)
        fsync_directory(output.parent)
    except (DatabaseError, OSError, EOFError, zlib.error, tarfile.TarError) as error:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"The backup failed and left no archive ({type(error).__name__}: {error})."
        ) from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(
        path=output,
        backup_id=header.backup_id,
        created_at=header.created_at,
        size=output.stat().st_size,
        rows=sum(t["rows"] for t in manifest["database"]["tables"].values()),
        tables=len(manifest["database"]["tables"]),
        files=manifest["files"]["count"],
        file_bytes=manifest["files"]["bytes"],
        missing_files=manifest["files"]["missing"],
        kek=f"{kek.provider}:v{kek.version}",
        seconds=time.monotonic() - started,
    )


def _write_body(
    sealing: SealingWriter,
    backup_id: uuid.UUID,
    now: datetime.datetime,
    connection: BaseDatabaseWrapper,
    state_apps: Apps,
    out: Output,
) -> dict[str, Any]:
    # Attachments are already encrypted and compress poorly; level 6 keeps the cost moderate.
    with (
        gzip.GzipFile(fileobj=sealing, mode="wb", compresslevel=6, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        writer = _Writer(tar, int(now.timestamp()))
        referenced: set[str] = set()
        out(_("Reading the database (one consistent snapshot)..."))
        with snapshot(connection):
            applied = sorted(MigrationExecutor(connection).recorder.applied_migrations())
            tables = _dump_rows(writer, connection, state_apps, referenced, out)
            keks = _kek_versions()
        out(_("Copying stored files..."))
        count, total, missing = _copy_files(writer, default_storage, referenced, out)
        manifest = {
            "kind": "guichet-backup-manifest",
            "format": 1,
            "backup_id": str(backup_id),
            "created_at": now.isoformat(),
            "guichet_version": _guichet_version(),
            "database": {
                "vendor": connection.vendor,
                "migrations": [list(node) for node in applied],
                "tables": tables,
            },
            "files": {"count": count, "bytes": total, "missing": missing},
            "keks": keks,
            "members": writer.members,
        }
        data = json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), writer.mtime, 0o600
        tar.addfile(info, io.BytesIO(data))
    return manifest


# --- Reading ------------------------------------------------------------------------------------


class ArchiveReader:
    """Members of an archive in order, from one pass over its decrypted, decompressed stream."""

    def __init__(self, source: IO[bytes]) -> None:
        self.header = read_header(source)
        key = unwrap_archive_key(self.header)
        self._plain = OpeningReader(source, key, self.header)
        self._compressed = gzip.GzipFile(
            fileobj=io.BufferedReader(self._plain, COPY_BLOCK), mode="rb"
        )
        try:
            # Closed with the archive file by the caller: one pass, no extraction to disk.
            self._tar = tarfile.open(fileobj=self._compressed, mode="r|")  # noqa: SIM115
        except (tarfile.TarError, OSError, EOFError) as error:
            raise _damaged(error) from error

    def members(self) -> Iterator[tuple[str, IO[bytes], int]]:
        try:
            for info in self._tar:
                if not info.isreg():
                    raise BackupError(f"The archive holds an unexpected entry {info.name!r}.")
                name = info.name
                if name != MANIFEST and not name.startswith((DB_PREFIX, FILES_PREFIX)):
                    raise BackupError(f"The archive holds an unexpected entry {name!r}.")
                handle = self._tar.extractfile(info)
                if handle is None:
                    raise BackupError(f"The archive entry {name!r} has no content.")
                yield name, handle, info.size
        except (tarfile.TarError, OSError, EOFError) as error:
            raise _damaged(error) from error

    def finish(self) -> None:
        """Read to the authenticated end: a stream cut after the manifest is refused too."""
        try:
            while self._compressed.read(COPY_BLOCK):
                pass
            if self._plain.read(1):
                raise BackupError("The archive has data after its end.")
        except (OSError, EOFError) as error:
            raise _damaged(error) from error


def _damaged(error: BaseException) -> BackupError:
    if isinstance(error, BackupError):
        return error
    return BackupError(f"The archive's content is damaged ({type(error).__name__}: {error}).")


@dataclass
class VerifiedArchive:
    header_id: uuid.UUID
    kek: str
    manifest: dict[str, Any]


def hash_member(handle: IO[bytes]) -> tuple[str, int, int]:
    digest, size, lines = hashlib.sha256(), 0, 0
    while block := handle.read(COPY_BLOCK):
        digest.update(block)
        size += len(block)
        lines += block.count(b"\n")
    return digest.hexdigest(), size, lines


def verify_archive(source: IO[bytes], out: Output = _quiet) -> VerifiedArchive:
    """Decrypt, decompress and hash every member; compare everything with the manifest."""
    try:
        return _verify(source, out)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as error:
        raise _damaged(error) from error


def _verify(source: IO[bytes], out: Output) -> VerifiedArchive:
    reader = ArchiveReader(source)
    seen: dict[str, tuple[str, int, int]] = {}
    manifest: dict[str, Any] | None = None
    for name, handle, _size in reader.members():
        if manifest is not None:
            raise BackupError(f"The archive has an entry after its manifest ({name!r}).")
        if name == MANIFEST:
            try:
                manifest = json.loads(handle.read())
            except ValueError as error:
                raise BackupError("The archive's manifest is not valid JSON.") from error
            continue
        if name in seen:
            raise BackupError(f"The archive holds {name!r} twice.")
        seen[name] = hash_member(handle)
    reader.finish()
    if manifest is None:
        raise BackupError("The archive has no manifest: it is incomplete.")
    _compare(manifest, seen, reader.header.backup_id)
    out(_("Verified %(count)d entries against the manifest.") % {"count": len(seen)})
    return VerifiedArchive(
        reader.header.backup_id,
        f"{reader.header.provider}:v{reader.header.kek_version}",
        manifest,
    )


def _compare(
    manifest: dict[str, Any], seen: dict[str, tuple[str, int, int]], backup_id: uuid.UUID
) -> None:
    try:
        if manifest["backup_id"] != str(backup_id):
            raise BackupError("The manifest belongs to another archive.")
        # Fields the restore relies on: a manifest without them is refused here, not half-way.
        for kek in manifest["keks"]:
            str(kek["provider"]), int(kek["version"]), int(kek["live_keys"]), str(kek["state"])
        for app_label, name in manifest["database"]["migrations"]:
            str(app_label), str(name)
        list(manifest["files"]["missing"])
        str(manifest["created_at"])
        listed: dict[str, dict[str, Any]] = manifest["members"]
        unlisted = sorted(set(seen) - set(listed))
        absent = sorted(set(listed) - set(seen))
        if unlisted or absent:
            raise BackupError(
                f"The archive and its manifest disagree: not listed {unlisted[:3]}, "
                f"missing {absent[:3]}."
            )
        for name, (digest, size, lines) in seen.items():
            expected = listed[name]
            if expected["sha256"] != digest or expected["size"] != size:
                raise BackupError(f"The archive entry {name!r} does not match its SHA-256.")
            if name.startswith(DB_PREFIX) and expected["rows"] != lines:
                raise BackupError(f"The archive entry {name!r} does not hold its rows.")
        for label, table in manifest["database"]["tables"].items():
            in_members = sum(
                m["rows"]
                for n, m in listed.items()
                if n.startswith(f"{DB_PREFIX}{label}/") and n.count("/") == 2
            )
            if in_members != table["rows"]:
                raise BackupError(f"The archive's rows of {label} do not add up.")
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError(f"The archive's manifest is incomplete ({error}).") from error


def default_output(directory: Path) -> Path:
    stamp = datetime.datetime.now(tz=datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return directory / f"guichet-{stamp}.gbk"
