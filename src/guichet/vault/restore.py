"""`guichet restore`: an archive into an empty instance, checked before and after.

Order, and why:

1. Verify the whole archive (decrypt, hash, compare with the manifest) and check that this code
   knows its migrations, that the keys its data keys need are installed, and that the instance
   is empty. All of this happens before the first write, so a tampered archive, wrong keys or a
   busy instance leave everything as it was.
2. Migrate the database to the archive's migration state, so the rows fit the schema they were
   read from (backup.py reads them through the models of that state, and so does this module).
3. Load every row in one transaction, with the primary keys and timestamps of the original
   (plain INSERTs: saving models would reset auto_now fields), then reset PostgreSQL sequences
   and compare the row counts with the manifest before committing.
4. Write the files into the default storage, each hashed again on the way.
5. Migrate forward to this code's state (data migrations run over the restored data as they would
   have on the original), which also recreates content types of models newer than the archive.
6. Check the result: every live data key unwraps under the installed KEKs, and every vault
   ciphertext found in a binary column or a stored file names a data key that exists.

"Empty" means: no row in any table except the content types and permissions that `migrate`
creates by itself, and no file in the storage. There is no --force: restoring over live data
would mix two instances' rows and keys.
"""

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.apps import apps as django_apps
from django.apps.registry import Apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import File
from django.core.files.storage import Storage, default_storage
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext as _

from guichet.vault.archive import BackupError
from guichet.vault.backup import (
    COPY_BLOCK,
    DB_PREFIX,
    FILES_PREFIX,
    MANIFEST,
    ArchiveReader,
    Output,
    decode_value,
    dumped_models,
    safe_member_path,
    storage_files,
    stored_fields,
    verify_archive,
)
from guichet.vault.blind import forget_blind_index_key
from guichet.vault.cache import reset_key_cache
from guichet.vault.envelope import FIELD_FORMAT, MIN_FIELD_BYTES
from guichet.vault.errors import VaultError
from guichet.vault.keys import unwrap_row
from guichet.vault.models import DataKey
from guichet.vault.providers import get_provider, reset_providers
from guichet.vault.streams import HEADER_BYTES as STREAM_HEADER_BYTES
from guichet.vault.streams import MAX_CHUNK, STREAM_FORMAT

PREPOPULATED = frozenset({"contenttypes.contenttype", "auth.permission"})
INSERT_BATCH = 500
_SHOWN = 10

Node = tuple[str, str]


def _quiet(message: str) -> None:
    del message


@dataclass
class RestoreReport:
    backup_id: str
    created_at: str
    rows: int = 0
    files: int = 0
    live_keys: int = 0
    ciphertexts: int = 0
    problems: list[str] = field(default_factory=list)


def restore_backup(
    path: Path, out: Output = _quiet, using: str = DEFAULT_DB_ALIAS
) -> RestoreReport:
    connection = connections[using]
    storage = default_storage
    with path.open("rb") as source:
        out(_("Verifying the archive (decrypting and hashing every entry)..."))
        manifest = verify_archive(source, out).manifest
        targets, executor = _migration_targets(connection, manifest)
        _check_keys_installed(manifest)
        _check_empty(connection, storage)
        report = RestoreReport(manifest["backup_id"], manifest["created_at"])
        try:
            out(
                _("Migrating the database to the archive's state (%(count)d targets)...")
                % {"count": len(targets)}
            )
            executor.migrate(targets)
            state_apps = executor.loader.project_state(nodes=targets, at_end=True).apps
            source.seek(0)
            _load(source, manifest, connection, state_apps, storage, report, out)
            out(_("Applying this version's newer migrations..."))
            ContentType.objects.clear_cache()
            call_command("migrate", interactive=False, verbosity=0, database=using)
            ContentType.objects.clear_cache()
        except Exception as error:
            raise BackupError(
                f"The restore stopped while writing ({type(error).__name__}: {error}). The "
                "instance is now partly restored: empty its database and storage folder, fix "
                "the cause, and run the restore again."
            ) from error
    out(_("Checking that every data key unwraps and every ciphertext has its key..."))
    applied = MigrationExecutor(connection).loader.project_state().apps
    report.live_keys, report.ciphertexts, report.problems = check_restored(applied, storage)
    return report


# --- Before writing -----------------------------------------------------------------------------


def _migration_targets(
    connection: BaseDatabaseWrapper, manifest: dict[str, Any]
) -> tuple[list[Node], MigrationExecutor]:
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    archived: set[Node] = {(str(a), str(n)) for a, n in manifest["database"]["migrations"]}
    unknown = sorted(node for node in archived if node not in graph.nodes)
    if unknown:
        shown = ", ".join(f"{a}.{n}" for a, n in unknown[:3])
        raise BackupError(
            f"This version of Guichet does not know the archive's migrations ({shown}): the "
            f"archive was made by Guichet {manifest.get('guichet_version', '?')}. Restore it "
            "with that version, then upgrade."
        )
    ahead = sorted(set(executor.loader.applied_migrations or {}) - archived)
    if ahead:
        shown = ", ".join(f"{a}.{n}" for a, n in ahead[:3])
        raise BackupError(
            f"This database is already migrated beyond the archive ({shown}). Restore into a "
            "new, empty database."
        )
    targets = sorted(
        node
        for node in archived
        if not any(child.key in archived for child in graph.node_map[node].children)
    )
    return targets, executor


def _check_keys_installed(manifest: dict[str, Any]) -> None:
    missing = []
    for kek in manifest["keks"]:
        if not kek["live_keys"] or kek["state"] == "retired":
            continue
        name = f"{kek['provider']} KEK v{kek['version']}"
        try:
            present = get_provider(kek["provider"]).has_version(int(kek["version"]))
        except VaultError as error:
            raise BackupError(f"Cannot check for {name}: {error}") from error
        if not present:
            missing.append(f"{name} ({kek['live_keys']} data keys)")
    if missing:
        raise BackupError(
            f"The archive's data keys need {', '.join(missing)}, which this instance does not "
            "have. Install the keys first (`guichet vault import-keys FILE`, or the HSM's own "
            "key backup); nothing was written."
        )


def _check_empty(connection: BaseDatabaseWrapper, storage: Storage) -> None:
    tables = set(connection.introspection.table_names())
    busy = []
    for model in dumped_models(django_apps):
        if model._meta.db_table not in tables or model._meta.label_lower in PREPOPULATED:
            continue
        if model._base_manager.using(connection.alias).exists():
            busy.append(model._meta.label_lower)
    has_files = next(storage_files(storage), None) is not None
    if busy or has_files:
        where = []
        if busy:
            more = f" and {len(busy) - 3} more" if len(busy) > 3 else ""
            where.append(f"the database holds rows in {', '.join(busy[:3])}{more}")
        if has_files:
            where.append("the file storage holds files")
        raise BackupError(
            f"This instance is not empty: {'; '.join(where)}. `guichet restore` only restores "
            "into an empty instance (a new database and an empty storage folder), so that two "
            "instances' data and keys never mix; nothing was written."
        )


# --- Writing ------------------------------------------------------------------------------------


def _load(
    source: IO[bytes],
    manifest: dict[str, Any],
    connection: BaseDatabaseWrapper,
    state_apps: Apps,
    storage: Storage,
    report: RestoreReport,
    out: Output,
) -> None:
    reader = ArchiveReader(source)
    members = reader.members()
    by_label = {model._meta.label_lower: model for model in dumped_models(state_apps)}
    tables = manifest["database"]["tables"]
    unknown = sorted(set(tables) - set(by_label))
    if unknown:
        raise BackupError(f"The archive holds tables this schema lacks: {', '.join(unknown)}.")
    first_file = None
    out(_("Loading rows (one transaction)..."))
    with transaction.atomic(using=connection.alias):
        _clear_prepopulated(connection, [by_label[label] for label in tables])
        for member in members:
            if not member[0].startswith(DB_PREFIX):
                first_file = member
                break
            label = member[0].split("/")[1]
            if label not in tables:
                raise BackupError(f"The archive's entry {member[0]!r} names no table.")
            report.rows += _load_rows(connection, by_label[label], tables[label], member[1])
        loaded = [by_label[label] for label in tables]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), loaded):
                cursor.execute(statement)
        _check_counts(connection, by_label, tables)
    loaded_rows = {"rows": report.rows, "tables": len(tables)}
    out("  " + _("%(rows)d rows in %(tables)d tables") % loaded_rows)
    out(_("Writing files..."))
    expected = manifest["members"]
    rest = itertools.chain([first_file] if first_file else [], members)
    for name, handle, _size in rest:
        if name == MANIFEST:
            continue
        _store_file(storage, name, handle, expected[name]["sha256"])
        report.files += 1
    reader.finish()
    out("  " + _("%(count)d files") % {"count": report.files})
    # Keys cached by this process belonged to the instance before the restore.
    reset_providers()
    reset_key_cache()
    forget_blind_index_key()


def _clear_prepopulated(connection: BaseDatabaseWrapper, loaded: list[type[models.Model]]) -> None:
    """Drop the rows `migrate` made by itself (content types, permissions): the archive's own
    rows, with their original ids, replace them, so foreign keys to them stay right."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in loaded:
            if model._meta.label_lower in PREPOPULATED:
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")  # noqa: S608


def _load_rows(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    table: dict[str, Any],
    handle: IO[bytes],
) -> int:
    by_name = {f.attname: f for f in stored_fields(model)}
    names: list[str] = table["fields"]
    if sorted(names) != sorted(by_name):
        raise BackupError(
            f"The archive's columns of {model._meta.label_lower} do not match its schema."
        )
    fields = [by_name[name] for name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Identifiers come from model metadata and are quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    count = 0
    for batch in _batches(_rows(handle, fields, connection), INSERT_BATCH):
        with connection.cursor() as cursor:
            cursor.executemany(sql, batch)
        count += len(batch)
    return count


def _rows(
    handle: IO[bytes], fields: list["models.Field[Any, Any]"], connection: BaseDatabaseWrapper
) -> Iterator[tuple[Any, ...]]:
    for line in handle:
        values = json.loads(line)
        if not isinstance(values, list) or len(values) != len(fields):
            raise BackupError("An archived row does not have the columns of its table.")
        yield tuple(
            f.get_db_prep_save(decode_value(f, value), connection)
            for f, value in zip(fields, values, strict=True)
        )


def _batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _check_counts(
    connection: BaseDatabaseWrapper,
    by_label: dict[str, type[models.Model]],
    tables: dict[str, dict[str, Any]],
) -> None:
    for label, table in tables.items():
        found = by_label[label]._base_manager.using(connection.alias).count()
        if found != table["rows"]:
            raise BackupError(
                f"{label} holds {found} rows after loading, the archive {table['rows']}; "
                "the load was rolled back."
            )


class _MemberFile(File[bytes]):
    """An archive entry handed to storage.save(): streamed in blocks and hashed as it goes."""

    def __init__(self, handle: IO[bytes], name: str) -> None:
        super().__init__(handle, name)
        self.handle = handle
        self.digest = hashlib.sha256()

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        while block := self.handle.read(COPY_BLOCK):
            self.digest.update(block)
            yield block

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        return True


def _store_file(storage: Storage, member: str, handle: IO[bytes], sha256: str) -> None:
    name = safe_member_path(member[len(FILES_PREFIX) :])
    content = _MemberFile(handle, name)
    saved = storage.save(name, content)
    if saved != name:
        raise BackupError(f"The storage renamed {name!r} to {saved!r}; it was not empty.")
    if content.digest.hexdigest() != sha256:
        storage.delete(saved)
        raise BackupError(f"The file {name!r} changed between verification and restore.")


# --- After writing ------------------------------------------------------------------------------


def check_restored(
    state_apps: Apps, storage: Storage = default_storage
) -> tuple[int, int, list[str]]:
    """(live data keys that unwrap, ciphertexts found, problems) for a restored instance whose
    tables are those of `state_apps` (the applied migration state).

    Ciphertexts are recognised by their vault headers: a binary column value starting with the
    field format byte, or a stored file starting with the stream format byte, followed by a
    version 4 UUID (how data key ids are made). The vault does not know the domain's columns,
    so this is a recognition, not a schema; it errs towards checking more.
    """
    problems: list[str] = []
    live = 0
    keys = DataKey.objects.filter(destroyed_at__isnull=True).select_related("kek")
    for row in keys.iterator(chunk_size=1000):
        try:
            unwrap_row(row)
        except VaultError as error:
            problems.append(f"Data key {row.id} of {row.owner} does not unwrap: {error}")
        else:
            live += 1
    known = set(DataKey.objects.values_list("id", flat=True))
    found = 0
    columns = _column_references(state_apps)
    for key_id, where in itertools.chain(columns, _file_references(storage)):
        found += 1
        if key_id not in known:
            problems.append(
                f"{where} is sealed under data key {key_id}, which the database does not hold."
            )
    if len(problems) > _SHOWN:
        problems[_SHOWN:] = [f"... and {len(problems) - _SHOWN} more."]
    return live, found, problems


def _key_id(data: bytes, format_byte: int) -> uuid.UUID | None:
    if len(data) < 17 or data[0] != format_byte:
        return None
    key_id = uuid.UUID(bytes=bytes(data[1:17]))
    return key_id if key_id.version == 4 and key_id.variant == uuid.RFC_4122 else None


def _column_references(state_apps: Apps) -> Iterator[tuple[uuid.UUID, str]]:
    for model in dumped_models(state_apps):
        if model._meta.app_label == "vault":
            continue
        for column in stored_fields(model):
            if not isinstance(column, models.BinaryField):
                continue
            values = (
                model._base_manager.exclude(**{f"{column.attname}__isnull": True})
                .values_list("pk", column.attname)
                .iterator(chunk_size=1000)
            )
            for pk, value in values:
                data = bytes(value)
                key_id = _key_id(data, FIELD_FORMAT) if len(data) >= MIN_FIELD_BYTES else None
                if key_id is not None:
                    yield key_id, f"{model._meta.label_lower} {pk} {column.name}"


def _file_references(storage: Storage) -> Iterator[tuple[uuid.UUID, str]]:
    for name in storage_files(storage):
        with storage.open(name, "rb") as handle:
            head = handle.read(STREAM_HEADER_BYTES)
        key_id = _key_id(head, STREAM_FORMAT) if len(head) == STREAM_HEADER_BYTES else None
        if key_id is not None and 1 <= int.from_bytes(head[-4:], "big") <= MAX_CHUNK:
            yield key_id, f"file {name}"
