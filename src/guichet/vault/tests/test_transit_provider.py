"""The transit provider against the in-repo fake OpenBao transit engine (no real server can be
installed here): wrap/unwrap, rotation from local files into transit, tampering, a refused token
and an engine that is down failing cleanly and recovering."""

import io
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from guichet.vault import service
from guichet.vault.cache import key_cache
from guichet.vault.models import DataKey, KekVersion
from guichet.vault.tests.conftest import reset_vault_process_state
from guichet.vault.tests.fake_transit import FakeTransit

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "s.test-token"


@pytest.fixture
def transit(settings: Any) -> Iterator[FakeTransit]:
    with FakeTransit(TOKEN) as fake:
        settings.GUICHET_TRANSIT_URL = fake.url
        settings.GUICHET_TRANSIT_TOKEN = TOKEN
        yield fake


def use_transit(settings: Any) -> None:
    settings.GUICHET_KEY_PROVIDER = "transit"
    reset_vault_process_state()


def make_owners(count: int) -> dict[str, bytes]:
    sealed = {}
    for _ in range(count):
        owner = f"user:{uuid.uuid4()}"
        sealed[owner] = service.encrypt_field(owner, 1, "phone", "+221771234567")
    return sealed


def assert_all_readable(sealed: dict[str, bytes]) -> None:
    key_cache().clear()
    for owner, value in sealed.items():
        assert service.decrypt_field(owner, 1, "phone", value) == "+221771234567"


def test_transit_round_trip_stores_only_engine_ciphertexts(
    transit: FakeTransit, settings: Any
) -> None:
    use_transit(settings)
    sealed = make_owners(3)
    assert list(KekVersion.objects.values_list("provider", "version")) == [("transit", 1)]
    assert set(transit.keys) == {"guichet-kek-v1"}
    for wrapped in DataKey.objects.values_list("wrapped", flat=True):
        assert wrapped is not None and bytes(wrapped).startswith(b"vault:v1:")
    assert_all_readable(sealed)


def test_rotation_from_local_files_into_transit(transit: FakeTransit, settings: Any) -> None:
    local = make_owners(5)
    use_transit(settings)
    call_command("vault", "rotate", "--batch-size", "2", stdout=io.StringIO())
    assert set(DataKey.objects.values_list("kek__provider", flat=True)) == {"transit"}
    states = list(KekVersion.objects.order_by("id").values_list("provider", "state"))
    assert states == [("local", "retired"), ("transit", "active")]
    assert_all_readable(local | make_owners(2))


def test_a_tampered_wrapped_key_is_refused_by_the_engine(
    transit: FakeTransit, settings: Any
) -> None:
    use_transit(settings)
    sealed = make_owners(1)
    owner = next(iter(sealed))
    DataKey.objects.filter(owner=owner).update(wrapped=b"vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    key_cache().clear()
    with pytest.raises(service.TamperedCiphertext, match="message authentication failed"):
        service.decrypt_field(owner, 1, "phone", sealed[owner])


def test_a_refused_token_or_a_sealed_engine_fails_cleanly_then_recovers(
    transit: FakeTransit, settings: Any
) -> None:
    use_transit(settings)
    sealed = make_owners(1)
    owner = next(iter(sealed))
    key_cache().clear()
    settings.GUICHET_TRANSIT_TOKEN = "s.wrong"
    reset_vault_process_state()
    with pytest.raises(service.ProviderUnavailable, match="permission denied"):
        service.decrypt_field(owner, 1, "phone", sealed[owner])
    settings.GUICHET_TRANSIT_TOKEN = TOKEN
    reset_vault_process_state()
    transit.down = True
    with pytest.raises(service.ProviderUnavailable, match="sealed"):
        service.decrypt_field(owner, 1, "phone", sealed[owner])
    transit.down = False
    assert service.decrypt_field(owner, 1, "phone", sealed[owner]) == "+221771234567"


def test_an_unreachable_engine_is_provider_unavailable(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.GUICHET_TRANSIT_URL = f"http://127.0.0.1:{port}"
    settings.GUICHET_TRANSIT_TOKEN = TOKEN
    use_transit(settings)
    with pytest.raises(service.ProviderUnavailable, match="unreachable"):
        service.encrypt_field("user:x", 1, "phone", "+221771234567")
    assert not KekVersion.objects.exists()  # nothing half-made
