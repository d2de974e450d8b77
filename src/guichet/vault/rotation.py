"""KEK rotation: a new KEK version, then every data key rewrapped under it in batches.

Only the wrapping changes, never a DEK, so ciphertexts are not touched and reads keep working the
whole time: each DataKey row names the KEK version that wraps it, and the row's wrapped bytes and
version change together in one UPDATE. New data keys are wrapped under the new version as soon as
the rotation starts. Progress (count and the last id done) is committed with each batch, so a
rotation killed at any point resumes where it stopped when `guichet vault rotate` runs again.

A batch unwraps and rewraps outside any transaction (an HSM may take a while and SQLite holds its
write lock for the whole of a transaction), then applies the new wrappings in one short
transaction with a conditional UPDATE that skips rows destroyed or moved in the meantime. When no
live data key is left under an older version, that version is retired; its key material is left
for the operator to remove once no backup needs it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from guichet.vault.errors import VaultError
from guichet.vault.keys import unwrap_row
from guichet.vault.models import DataKey, KekState, KekVersion, Rotation, RotationState
from guichet.vault.providers import active_provider_name, get_provider

if TYPE_CHECKING:
    from django.db.models import QuerySet

DEFAULT_BATCH = 1000
_MAX_PASSES = 5

Progress = Callable[[Rotation], None]


def after_batch(rotation: Rotation) -> None:
    """Called after each committed batch; tests replace it to simulate a kill mid-rotation."""


def _pending(target: KekVersion) -> "QuerySet[DataKey]":
    return DataKey.objects.filter(destroyed_at__isnull=True).exclude(kek=target)


def rotate(
    batch_size: int = DEFAULT_BATCH, progress: Progress | None = None
) -> tuple[Rotation, list[KekVersion]]:
    """Run (or resume) a rotation to completion; returns it and the versions it retired."""
    if batch_size < 1:
        raise VaultError("The batch size must be at least 1.")
    _preflight()
    rotation = Rotation.objects.select_related("target").filter(state=RotationState.RUNNING).first()
    if rotation is None:
        rotation = _start()
    for _pass in range(_MAX_PASSES):
        _rewrap_all(rotation, batch_size, progress)
        if not _pending(rotation.target).exists():
            break
        # Keys created under the old version just before the switch may sit behind the cursor.
        rotation.last_id = None
        Rotation.objects.filter(id=rotation.id).update(last_id=None)
    else:
        raise VaultError("Data keys keep appearing under old KEK versions; rotation stopped.")
    Rotation.objects.filter(id=rotation.id).update(
        state=RotationState.DONE, finished_at=timezone.now()
    )
    rotation.refresh_from_db()
    return rotation, retire_unused()


def _preflight() -> None:
    """Unwrap one live data key per version in use, so that a key file with loose modes, a lost
    KEK or an unreachable HSM stops the rotation before it makes a new version, not half-way."""
    for kek in KekVersion.objects.exclude(state=KekState.RETIRED):
        sample = DataKey.objects.filter(kek=kek, destroyed_at__isnull=True).first()
        if sample is not None:
            sample.kek = kek
            unwrap_row(sample)


def _start() -> Rotation:
    provider = get_provider(active_provider_name())
    latest = KekVersion.objects.filter(provider=provider.name).order_by("-version").first()
    version = latest.version + 1 if latest else 1
    provider.create_version(version)
    try:
        with transaction.atomic():
            KekVersion.objects.filter(state=KekState.ACTIVE).update(state=KekState.RETIRING)
            target = KekVersion.objects.create(
                provider=provider.name, version=version, state=KekState.ACTIVE
            )
            return Rotation.objects.create(target=target, total=_pending(target).count())
    except IntegrityError as error:
        raise VaultError(
            "Another rotation started at the same time; run the command again."
        ) from error


def _rewrap_all(rotation: Rotation, batch_size: int, progress: Progress | None) -> None:
    target = rotation.target
    wrap = get_provider(target.provider).wrap
    while True:
        rows = _pending(target).select_related("kek").order_by("id")
        if rotation.last_id is not None:
            rows = rows.filter(id__gt=rotation.last_id)
        batch = list(rows[:batch_size])
        if not batch:
            return
        changes = [
            _Change(row.id, row.kek_id, wrap(target.version, unwrap_row(row))) for row in batch
        ]
        with transaction.atomic():
            _apply(changes, target)
            done = DataKey.objects.filter(id__in=[c.id for c in changes], kek=target).count()
            Rotation.objects.filter(id=rotation.id).update(
                rewrapped=F("rewrapped") + done, batches=F("batches") + 1, last_id=batch[-1].id
            )
        rotation.refresh_from_db(fields=["rewrapped", "batches", "last_id"])
        after_batch(rotation)
        if progress is not None:
            progress(rotation)


@dataclass(frozen=True, slots=True)
class _Change:
    id: object
    old_kek_id: int
    wrapped: bytes


def _apply(changes: list[_Change], target: KekVersion) -> None:
    # One executemany of a conditional UPDATE: bulk_update cannot say "only if still under the
    # old version and not destroyed", which is what makes a concurrent erasure win safely.
    table = connection.ops.quote_name(DataKey._meta.db_table)
    id_, wrapped, kek, rotated, destroyed = (
        _field(name) for name in ("id", "wrapped", "kek", "rotated_at", "destroyed_at")
    )
    # Identifiers are quoted model metadata; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {_col(wrapped)} = %s, {_col(kek)} = %s, {_col(rotated)} = %s "  # noqa: S608
        f"WHERE {_col(id_)} = %s AND {_col(kek)} = %s AND {_col(destroyed)} IS NULL"
    )
    now = rotated.get_db_prep_value(timezone.now(), connection)
    params = [
        (
            wrapped.get_db_prep_value(change.wrapped, connection),
            target.id,
            now,
            id_.get_db_prep_value(change.id, connection),
            change.old_kek_id,
        )
        for change in changes
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _field(name: str) -> "models.Field[Any, Any]":
    field = DataKey._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"DataKey.{name} is not a concrete field.")
    return field


def _col(field: "models.Field[Any, Any]") -> str:
    return connection.ops.quote_name(str(field.column))


def retire_unused() -> list[KekVersion]:
    """Retire every non-active version that no live data key uses any more."""
    retired = []
    for kek_id in KekVersion.objects.filter(state=KekState.RETIRING).values_list("id", flat=True):
        with transaction.atomic():
            # The row lock orders this with data key creation, which locks the same row.
            kek = KekVersion.objects.select_for_update().get(id=kek_id)
            in_use = DataKey.objects.filter(kek=kek, destroyed_at__isnull=True).exists()
            if kek.state != KekState.RETIRING or in_use:
                continue
            kek.state = KekState.RETIRED
            kek.retired_at = timezone.now()
            kek.save(update_fields=["state", "retired_at"])
            retired.append(kek)
    return retired


@dataclass(frozen=True)
class VersionStatus:
    provider: str
    version: int
    state: str
    created_at: object
    retired_at: object
    live_keys: int
    destroyed_keys: int
    material_present: bool | None


def status() -> tuple[list[VersionStatus], Rotation | None]:
    """Every KEK version with its data key counts, and the running rotation if any."""
    versions = KekVersion.objects.annotate(
        live=Count("data_keys", filter=Q(data_keys__destroyed_at__isnull=True)),
        destroyed=Count("data_keys", filter=Q(data_keys__destroyed_at__isnull=False)),
    ).order_by("created_at", "id")
    rows = []
    for kek in versions:
        try:
            present: bool | None = get_provider(kek.provider).has_version(kek.version)
        except VaultError:
            present = None
        rows.append(
            VersionStatus(
                kek.provider,
                kek.version,
                kek.state,
                kek.created_at,
                kek.retired_at,
                kek.live,
                kek.destroyed,
                present,
            )
        )
    running = Rotation.objects.select_related("target").filter(state=RotationState.RUNNING).first()
    return rows, running
