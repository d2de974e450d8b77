"""Data keys: create one per owner, unwrap on demand through the cache, destroy for erasure.

This module is the only one that touches wrapped key bytes; the envelope, stream and blind-index
modules ask it for ready-to-use keys.
"""

import os
import uuid
from collections.abc import Iterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from guichet import rows
from guichet.vault.cache import CachedKey, key_cache
from guichet.vault.errors import (
    KeyDestroyed,
    KeyMissing,
    KeyRetired,
    TamperedCiphertext,
    VaultError,
    VaultMisconfigured,
)
from guichet.vault.models import DataKey, KekState, KekVersion
from guichet.vault.providers import active_provider_name, get_provider

DEK_BYTES = 32
RESERVED_PREFIX = "vault:"
_CREATE_ATTEMPTS = 3


def check_owner(owner: str, *, internal: bool = False) -> str:
    if not isinstance(owner, str) or not owner or len(owner) > 200:
        raise VaultError("An owner is a non-empty string of at most 200 characters.")
    if owner.startswith(RESERVED_PREFIX) and not internal:
        raise VaultError(f"Owners starting with {RESERVED_PREFIX!r} are reserved to the vault.")
    return owner


def active_kek() -> KekVersion:
    """The KEK version that wraps new data keys; the very first one is made on first use."""
    kek = KekVersion.objects.filter(state=KekState.ACTIVE).first()
    return kek if kek is not None else _first_kek()


def _first_kek() -> KekVersion:
    if KekVersion.objects.exists():
        raise VaultMisconfigured(
            "No active key-encryption key although older versions exist; "
            "run `guichet vault rotate` to make one."
        )
    provider = get_provider(active_provider_name())
    provider.create_version(1)
    try:
        with transaction.atomic():
            return KekVersion.objects.create(
                provider=provider.name, version=1, state=KekState.ACTIVE
            )
    except IntegrityError:
        return KekVersion.objects.get(state=KekState.ACTIVE)


def unwrap_row(row: DataKey) -> bytes:
    if row.destroyed_at is not None or row.wrapped is None:
        raise KeyDestroyed(f"The data key of {row.owner!r} was destroyed on {row.destroyed_at}.")
    kek = row.kek
    if kek.state == KekState.RETIRED:
        raise KeyRetired(
            f"Data key {row.id} is wrapped under retired KEK {kek.provider}:v{kek.version}."
        )
    dek = get_provider(kek.provider).unwrap(kek.version, bytes(row.wrapped))
    if len(dek) != DEK_BYTES:
        raise TamperedCiphertext(f"Data key {row.id} unwrapped to a key of the wrong size.")
    return dek


def _remember(row_id: uuid.UUID, owner: str, dek: bytes) -> CachedKey:
    entry = CachedKey(row_id, owner, AESGCM(dek))
    cache = key_cache()
    if connection.in_atomic_block:
        # The row may belong to a transaction that rolls back: letting encryption find it by
        # owner before the commit could seal new data under a key that never existed.
        cache.put(entry, for_owner=False)
        transaction.on_commit(lambda: cache.put(entry, for_owner=True))
    else:
        cache.put(entry, for_owner=True)
    return entry


# A key the cache lacks is read on the first use of each dossier's key in each web worker (a
# submission, usually): the statements are built once (guichet/rows.py), both lookups unique.
_BY_ID = rows.Select(DataKey, ("kek",), where="{id} = %s", params=("id",))
_BY_OWNER = rows.Select(DataKey, ("kek",), where="{owner} = %s", params=("owner",))


def _row(*, key_id: uuid.UUID | None = None, owner: str | None = None) -> DataKey | None:
    if key_id is not None:
        return _BY_ID.one(key_id)
    return _BY_OWNER.one(owner)


def key_for_encrypt(owner: str) -> CachedKey:
    cache = key_cache()
    cached = cache.by_owner(owner)
    if cached is not None:
        return cached
    row = _row(owner=owner)
    if row is not None:
        # Inside a transaction a key is cached by id only until the commit (see _remember): an
        # action that decrypts then re-encrypts must not unwrap the same key twice.
        known = cache.by_id(row.id.bytes) if row.destroyed_at is None else None
        return known if known is not None else _remember(row.id, owner, unwrap_row(row))
    created = _create(owner)
    row_id, dek = created if created is not None else owner_key_material(owner)
    return _remember(row_id, owner, dek)


def preload(ciphertexts: Iterable[bytes | bytearray | memoryview | None]) -> None:
    """Unwrap, in one query, the data keys that these ciphertexts name and the cache lacks.

    For lists: showing 25 rows sealed under 25 owners' keys costs one query, not 25. Owners are
    still checked when each ciphertext is opened; destroyed keys are skipped here and refused
    there.
    """
    cache = key_cache()
    missing = set()
    for sealed in ciphertexts:
        if sealed is not None and len(sealed) > 17:
            raw_id = bytes(sealed[1:17])
            if cache.by_id(raw_id) is None:
                missing.add(uuid.UUID(bytes=raw_id))
    if not missing:
        return
    for row in DataKey.objects.select_related("kek").filter(
        id__in=missing, destroyed_at__isnull=True
    ):
        _remember(row.id, row.owner, unwrap_row(row))


def key_for_decrypt(raw_id: bytes, owner: str) -> CachedKey:
    """The key a ciphertext names by the 16 bytes of its id, checked to belong to `owner`."""
    cached = key_cache().by_id(raw_id)
    if cached is None:
        key_id = uuid.UUID(bytes=raw_id)
        row = _row(key_id=key_id)
        if row is None:
            raise KeyMissing(
                f"No data key {key_id}: the ciphertext names a key that never existed."
            )
        if row.owner != owner:
            raise TamperedCiphertext("The ciphertext was sealed for another owner.")
        cached = _remember(row.id, row.owner, unwrap_row(row))
    elif cached.owner != owner:
        raise TamperedCiphertext("The ciphertext was sealed for another owner.")
    return cached


def owner_key_material(owner: str) -> tuple[uuid.UUID, bytes]:
    """The id and raw DEK of the owner's data key, created (wrapped, stored) if it has none."""
    for _attempt in range(_CREATE_ATTEMPTS):
        row = _row(owner=owner)
        if row is not None:
            return row.id, unwrap_row(row)
        created = _create(owner)
        if created is not None:
            return created
    raise VaultError(f"Could not create a data key for {owner!r}; please retry.")


def _create(owner: str) -> tuple[uuid.UUID, bytes] | None:
    kek = active_kek()
    dek = os.urandom(DEK_BYTES)
    wrapped = get_provider(kek.provider).wrap(kek.version, dek)
    try:
        with transaction.atomic():
            # Locking the KEK row orders this insert with a rotation retiring that version: the
            # retirement counts data keys under the same lock, so none can slip in behind it.
            locked = KekVersion.objects.select_for_update().get(id=kek.id)
            if locked.state == KekState.RETIRED:
                return None
            row = DataKey.objects.create(owner=owner, wrapped=wrapped, kek=locked)
    except IntegrityError:
        return None  # another request created the owner's key first: use that one
    return row.id, dek


def destroy_key(owner: str) -> bool:
    """Crypto-shred the owner's data key; True if there was a live key to destroy."""
    check_owner(owner, internal=True)
    with transaction.atomic():
        if connection.vendor == "sqlite":
            # Freed pages are zeroed instead of keeping the old wrapped bytes on disk.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA secure_delete = ON")
        destroyed = DataKey.objects.filter(owner=owner, destroyed_at__isnull=True).update(
            wrapped=None, destroyed_at=timezone.now()
        )
        transaction.on_commit(lambda: key_cache().evict_owner(owner))
    key_cache().evict_owner(owner)
    return destroyed > 0
