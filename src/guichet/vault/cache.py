"""A small in-process cache of unwrapped data keys: bounded (LRU), short-lived (TTL), memory only.

Unwrapping costs a KEK operation (an HSM round trip in production), so a request that reads ten
fields of one dossier should pay it once. Entries hold the AESGCM object built from the DEK,
live at most GUICHET_VAULT_CACHE_SECONDS, and the oldest is dropped past GUICHET_VAULT_CACHE_SIZE.
Nothing here is ever pickled, logged or written to Django's shared cache: a DEK reaches no disk.
Crypto-shredding evicts the owner's entry in this process at once; other processes drop theirs
when the TTL runs out, which bounds how long a destroyed key can still be used anywhere.
"""

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_SIZE = 4096


@dataclass(frozen=True, slots=True)
class CachedKey:
    key_id: uuid.UUID
    owner: str
    aead: AESGCM
    raw_id: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_id", self.key_id.bytes)

    def __repr__(self) -> str:  # never let a key object print its material into a log
        return f"CachedKey({self.key_id}, {self.owner!r})"


class KeyCache:
    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        # Keyed by the id's 16 raw bytes, as found in a ciphertext header: hashing bytes is much
        # cheaper than building and hashing a UUID object on every decryption.
        self._by_id: OrderedDict[bytes, tuple[float, CachedKey]] = OrderedDict()
        self._by_owner: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def by_id(self, key_id: bytes) -> CachedKey | None:
        with self._lock:
            item = self._by_id.get(key_id)
            if item is None:
                return None
            expires, entry = item
            if expires < time.monotonic():
                self._forget(key_id)
                return None
            self._by_id.move_to_end(key_id)
            return entry

    def by_owner(self, owner: str) -> CachedKey | None:
        key_id = self._by_owner.get(owner)
        return None if key_id is None else self.by_id(key_id)

    def put(self, entry: CachedKey, *, for_owner: bool) -> None:
        """Remember a key by id; `for_owner` also lets encryption find it by owner."""
        if self.size <= 0 or self.ttl <= 0:
            return
        with self._lock:
            self._by_id[entry.raw_id] = (time.monotonic() + self.ttl, entry)
            self._by_id.move_to_end(entry.raw_id)
            if for_owner:
                self._by_owner[entry.owner] = entry.raw_id
            while len(self._by_id) > self.size:
                oldest = next(iter(self._by_id))
                self._forget(oldest)

    def evict_owner(self, owner: str) -> None:
        with self._lock:
            key_id = self._by_owner.pop(owner, None)
            if key_id is not None:
                self._by_id.pop(key_id, None)
            for cached_id, (_, entry) in list(self._by_id.items()):
                if entry.owner == owner:
                    self._by_id.pop(cached_id, None)

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._by_owner.clear()

    def __len__(self) -> int:
        return len(self._by_id)

    def _forget(self, key_id: bytes) -> None:
        _, entry = self._by_id.pop(key_id)
        if self._by_owner.get(entry.owner) == key_id:
            del self._by_owner[entry.owner]


_cache: KeyCache | None = None


def key_cache() -> KeyCache:
    global _cache
    if _cache is None:
        _cache = KeyCache(
            ttl=float(getattr(settings, "GUICHET_VAULT_CACHE_SECONDS", DEFAULT_TTL_SECONDS)),
            size=int(getattr(settings, "GUICHET_VAULT_CACHE_SIZE", DEFAULT_SIZE)),
        )
    return _cache


def reset_key_cache() -> None:
    """Drop every cached key and reread the cache settings on next use."""
    global _cache
    if _cache is not None:
        _cache.clear()
    _cache = None
