"""The in-memory key cache: bounded, expiring, and never trusting a key whose row rolled back."""

import time
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction

from guichet.vault import service
from guichet.vault.cache import CachedKey, KeyCache, key_cache
from guichet.vault.models import DataKey

pytestmark = pytest.mark.django_db(transaction=True)


def entry(owner: str) -> CachedKey:
    return CachedKey(uuid.uuid4(), owner, AESGCM(AESGCM.generate_key(256)))


def test_least_recently_used_keys_are_dropped_past_the_bound() -> None:
    cache = KeyCache(ttl=60, size=2)
    a, b, c = entry("a"), entry("b"), entry("c")
    cache.put(a, for_owner=True)
    cache.put(b, for_owner=True)
    assert cache.by_id(a.raw_id) is a  # a is now the most recent
    cache.put(c, for_owner=True)
    assert cache.by_owner("b") is None and cache.by_id(b.raw_id) is None
    assert cache.by_owner("a") is a and cache.by_owner("c") is c
    assert len(cache) == 2
    assert "AESGCM" not in repr(a) and repr(a).startswith("CachedKey(")


def test_keys_expire_after_the_ttl() -> None:
    cache = KeyCache(ttl=0.05, size=10)
    a = entry("a")
    cache.put(a, for_owner=True)
    assert cache.by_owner("a") is a
    time.sleep(0.06)
    assert cache.by_owner("a") is None and len(cache) == 0


def test_a_zero_ttl_disables_caching() -> None:
    cache = KeyCache(ttl=0, size=10)
    cache.put(entry("a"), for_owner=True)
    assert len(cache) == 0


def test_a_key_created_in_a_rolled_back_transaction_is_not_reused() -> None:
    owner = f"dossier:{uuid.uuid4()}"

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        doomed = service.encrypt_field(owner, 1, "note", "draft")
        assert DataKey.objects.filter(owner=owner).exists()
        raise Abort
    assert not DataKey.objects.filter(owner=owner).exists()
    assert key_cache().by_owner(owner) is None
    sealed = service.encrypt_field(owner, 1, "note", "kept")
    assert sealed[1:17] != doomed[1:17]  # a new key, whose row exists
    assert DataKey.objects.get(owner=owner).id.bytes == sealed[1:17]
    assert service.decrypt_field(owner, 1, "note", sealed) == "kept"


def test_keys_are_found_by_owner_once_the_transaction_commits() -> None:
    owner = f"dossier:{uuid.uuid4()}"
    with transaction.atomic():
        service.encrypt_field(owner, 1, "note", "x")
        assert key_cache().by_owner(owner) is None
    assert key_cache().by_owner(owner) is not None
