"""Field encryption through the public service: round trips, tampering, misplaced ciphertexts,
missing, retired and destroyed keys, and the promise that no unwrapped key is stored anywhere."""

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.vault import service
from guichet.vault.cache import key_cache
from guichet.vault.keys import owner_key_material
from guichet.vault.models import DataKey, KekState, KekVersion

pytestmark = pytest.mark.django_db

OWNER = "dossier:7f1c2a9e-0000-4000-8000-000000000001"
OTHER = "dossier:7f1c2a9e-0000-4000-8000-000000000002"
RECORD = uuid.UUID("7f1c2a9e-0000-4000-8000-000000000001")
fixture_ok = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@fixture_ok
@given(value=st.binary(max_size=2048) | st.text(max_size=512))
def test_bytes_and_text_come_back_with_their_type(value: bytes | str) -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "note", value)
    assert type(sealed) is bytes
    if value:
        raw = value.encode() if isinstance(value, str) else value
        assert raw not in sealed or len(raw) < 4  # short values can occur by chance
    opened = service.decrypt_field(OWNER, RECORD, "note", sealed)
    assert opened == value
    assert type(opened) is type(value)


@fixture_ok
@given(value=json_values)
def test_json_round_trips(value: Any) -> None:
    sealed = service.encrypt_json(OWNER, RECORD, "answers", value)
    assert service.decrypt_json(OWNER, RECORD, "answers", sealed) == value


@fixture_ok
@given(data=st.data())
def test_flipping_any_bit_is_detected(data: st.DataObject) -> None:
    sealed = service.encrypt_json(OWNER, RECORD, "answers", {"full_name": "Awa Diop"})
    index = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(sealed)
    tampered[index] ^= 1 << bit
    with pytest.raises(service.VaultError):
        service.decrypt_json(OWNER, RECORD, "answers", bytes(tampered))


@fixture_ok
@given(cut=st.integers(min_value=0, max_value=60))
def test_truncated_or_extended_ciphertext_is_refused(cut: int) -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "note", "Awa Diop")
    with pytest.raises(service.TamperedCiphertext):
        service.decrypt_field(OWNER, RECORD, "note", sealed[: len(sealed) - 1 - cut])
    with pytest.raises(service.TamperedCiphertext):
        service.decrypt_field(OWNER, RECORD, "note", sealed + b"\x00" * (cut + 1))


def test_moving_a_ciphertext_to_another_record_field_or_owner_fails() -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "national_id", "1234567890123")
    other_record = uuid.uuid4()
    with pytest.raises(service.TamperedCiphertext, match="another record or field"):
        service.decrypt_field(OWNER, other_record, "national_id", sealed)
    with pytest.raises(service.TamperedCiphertext, match="another record or field"):
        service.decrypt_field(OWNER, RECORD, "phone", sealed)
    with pytest.raises(service.TamperedCiphertext, match="another owner"):
        service.decrypt_field(OTHER, RECORD, "national_id", sealed)
    # The ambiguity a naive concatenation would allow: ("ab", "c") against ("a", "bc").
    split = service.encrypt_field(OWNER, "ab", "c", "x")
    with pytest.raises(service.TamperedCiphertext):
        service.decrypt_field(OWNER, "a", "bc", split)
    assert service.decrypt_field(OWNER, RECORD, "national_id", sealed) == "1234567890123"


def test_ciphertext_format_is_versioned_and_names_its_key() -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "note", "x")
    key = DataKey.objects.get(owner=OWNER)
    assert sealed[0] == 0x01
    assert sealed[1:17] == key.id.bytes
    assert len(sealed) == 1 + 16 + 12 + 2 + 16  # header, nonce, kind byte + "x", tag
    again = service.encrypt_field(OWNER, RECORD, "note", "x")
    assert again != sealed  # fresh nonce every time
    assert DataKey.objects.filter(owner=OWNER).count() == 1  # one DEK per owner


def test_typed_helpers_refuse_the_wrong_kind() -> None:
    text = service.encrypt_field(OWNER, RECORD, "note", "hello")
    raw = service.encrypt_field(OWNER, RECORD, "blob", b"hello")
    assert service.decrypt_text(OWNER, RECORD, "note", text) == "hello"
    assert service.decrypt_bytes(OWNER, RECORD, "blob", memoryview(raw)) == b"hello"
    with pytest.raises(service.VaultError, match="not sealed as bytes"):
        service.decrypt_bytes(OWNER, RECORD, "note", text)
    with pytest.raises(service.VaultError, match="not sealed as text"):
        service.decrypt_text(OWNER, RECORD, "blob", raw)
    with pytest.raises(service.VaultError, match="JSON"):
        service.encrypt_json(OWNER, RECORD, "answers", {"when": object()})
    with pytest.raises(service.VaultError, match="not JSON compliant"):
        service.encrypt_json(OWNER, RECORD, "answers", {"ratio": float("inf")})


def test_a_ciphertext_naming_an_unknown_key_is_a_missing_key() -> None:
    sealed = bytearray(service.encrypt_field(OWNER, RECORD, "note", "x"))
    sealed[1:17] = uuid.uuid4().bytes
    with pytest.raises(service.KeyMissing, match="never existed"):
        service.decrypt_field(OWNER, RECORD, "note", bytes(sealed))


def test_a_key_under_a_retired_kek_is_refused() -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "note", "x")
    key_cache().clear()
    KekVersion.objects.update(state=KekState.RETIRED)
    with pytest.raises(service.KeyRetired, match="retired KEK local:v1"):
        service.decrypt_field(OWNER, RECORD, "note", sealed)


def test_a_tampered_wrapped_key_is_refused_not_used() -> None:
    sealed = service.encrypt_field(OWNER, RECORD, "note", "x")
    key_cache().clear()
    row = DataKey.objects.get(owner=OWNER)
    wrapped = bytearray(row.wrapped or b"")
    wrapped[5] ^= 0x40
    DataKey.objects.filter(id=row.id).update(wrapped=bytes(wrapped))
    with pytest.raises(service.TamperedCiphertext, match="does not unwrap"):
        service.decrypt_field(OWNER, RECORD, "note", sealed)


def test_destroy_key_makes_every_ciphertext_of_the_owner_unreadable() -> None:
    mine = service.encrypt_field(OWNER, RECORD, "note", "Awa Diop")
    theirs = service.encrypt_field(OTHER, RECORD, "note", "Moussa Fall")
    assert len(key_cache()) == 2
    assert service.destroy_key(OWNER) is True
    row = DataKey.objects.get(owner=OWNER)
    assert row.wrapped is None and row.destroyed_at is not None
    assert all(entry[1].owner != OWNER for entry in key_cache()._by_id.values())
    with pytest.raises(service.KeyDestroyed, match="destroyed"):
        service.decrypt_field(OWNER, RECORD, "note", mine)
    with pytest.raises(service.KeyDestroyed):
        service.encrypt_field(OWNER, RECORD, "note", "new data for an erased owner")
    assert service.decrypt_field(OTHER, RECORD, "note", theirs) == "Moussa Fall"
    assert service.destroy_key(OWNER) is False
    assert service.destroy_key("dossier:never-had-a-key") is False


def test_reserved_and_empty_owners_are_refused() -> None:
    with pytest.raises(service.VaultError, match="reserved"):
        service.encrypt_field("vault:blind-index", RECORD, "note", "x")
    with pytest.raises(service.VaultError, match="non-empty"):
        service.encrypt_field("", RECORD, "note", "x")


def _stored_values() -> list[bytes]:
    found: list[bytes] = []
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        for row in model._default_manager.values_list(*fields):
            for value in row:
                if value is None:
                    continue
                found.append(bytes(value) if isinstance(value, bytes | memoryview) else b"")
                found.append(str(value).encode())
    return found


def _files_under(*roots: Path) -> list[bytes]:
    return [
        p.read_bytes() for root in roots if root.exists() for p in root.rglob("*") if p.is_file()
    ]


def test_no_table_or_file_holds_an_unwrapped_key(vault_keys: Path) -> None:
    owners = [f"user:{uuid.uuid4()}" for _ in range(5)]
    for owner in owners:
        service.decrypt_field(owner, 1, "f", service.encrypt_field(owner, 1, "f", "x"))
    service.blind_index("email", "awa.diop@example.sn")
    deks = [owner_key_material(owner)[1] for owner in [*owners, "vault:blind-index"]]
    forms = [f(dek) for dek in deks for f in (bytes, bytes.hex, base64.b64encode)]
    stored = _stored_values() + _files_under(vault_keys)
    assert len(stored) > 20
    for form in forms:
        as_bytes = form if isinstance(form, bytes) else form.encode()
        assert not any(as_bytes in blob for blob in stored)
