"""Blind indexes: equal normalised values match, different kinds and values do not, bad input is
a clear error, and the index key is its own wrapped key, never stored in clear."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.vault import service
from guichet.vault.blind import BLIND_INDEX_OWNER, forget_blind_index_key
from guichet.vault.cache import key_cache
from guichet.vault.models import DataKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("national_id", ["1234567890123", "1 234 567 890 123", "1-234-567-890-123"]),
        (
            "email",
            ["awa.diop@example.sn", "  Awa.Diop@EXAMPLE.sn ", "\uff41\uff57\uff41.diop@example.sn"],
        ),
        ("phone", ["77 123 45 67", "+221 77 123 45 67", "00221771234567", "(77) 123-45-67"]),
        ("text", ["Awa  Diop", "awa diop", " AWA\tDIOP "]),
    ],
)
def test_spellings_of_one_value_share_an_index(kind: str, spellings: list[str]) -> None:
    indexes = {service.blind_index(kind, spelling) for spelling in spellings}
    assert len(indexes) == 1
    (index,) = indexes
    assert len(index) == 32 and int(index, 16) >= 0
    assert spellings[0] not in index


def test_kinds_and_values_are_kept_apart() -> None:
    assert service.blind_index("national_id", "1234567890123") != service.blind_index(
        "text", "1234567890123"
    )
    assert service.blind_index("phone", "+33612345678") != service.blind_index(
        "phone", "0612345678"
    )  # a national number is Senegalese: +2210612345678 is another number
    assert service.normalise("phone", "77 123 45 67") == "+221771234567"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(
    first=st.from_regex(r"[0-9]{13}", fullmatch=True),
    second=st.from_regex(r"[0-9]{13}", fullmatch=True),
)
def test_distinct_ids_get_distinct_indexes(first: str, second: str) -> None:
    same = service.blind_index("national_id", first) == service.blind_index("national_id", second)
    assert same == (first == second)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("national_id", "12AB", "digits only"),
        ("national_id", "", "digits only"),
        ("email", "awa.diop", "Not an email"),
        ("email", "@example.sn", "Not an email"),
        ("phone", "+22", "Not a phone"),
        ("phone", "77 12x 45 67", "Not a phone"),
        ("text", "   ", "Empty text"),
        ("shoe_size", "42", "Unknown blind index kind"),
    ],
)
def test_bad_values_are_clear_errors(kind: str, value: str, message: str) -> None:
    with pytest.raises(service.InvalidIndexValue, match=message):
        service.blind_index(kind, value)


def test_the_index_key_is_a_separate_wrapped_key_that_survives_a_cold_start() -> None:
    index = service.blind_index("email", "awa.diop@example.sn")
    row = DataKey.objects.get(owner=BLIND_INDEX_OWNER)
    assert row.wrapped is not None
    forget_blind_index_key()
    key_cache().clear()
    assert service.blind_index("email", "awa.diop@example.sn") == index
    assert DataKey.objects.filter(owner=BLIND_INDEX_OWNER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_index_key_from_a_rolled_back_transaction_is_not_kept() -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        doomed = service.blind_index("email", "awa.diop@example.sn")
        raise Abort
    assert not DataKey.objects.filter(owner=BLIND_INDEX_OWNER).exists()
    kept = service.blind_index("email", "awa.diop@example.sn")
    assert kept != doomed  # a new key was made and stored, not the phantom one reused
    forget_blind_index_key()
    assert service.blind_index("email", "awa.diop@example.sn") == kept
