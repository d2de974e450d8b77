"""The pkcs11 provider against a real SoftHSM2 token in a private directory: non-extractable KEKs,
wrap/unwrap, rotation from local files into the HSM and within it, and a token that fails during
a request failing only that request.

Needs Debian's softhsm2 (apt-get install softhsm2) and python-pkcs11; skipped with the reason
printed otherwise.
"""

import io
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from guichet.vault import service
from guichet.vault.cache import key_cache
from guichet.vault.checks import check_keys
from guichet.vault.models import DataKey, KekVersion
from guichet.vault.providers import get_provider
from guichet.vault.providers.pkcs11 import DEFAULT_MODULE, Pkcs11KeyProvider
from guichet.vault.tests.conftest import reset_vault_process_state

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "4321"
TOKEN = "guichet-test"


def _missing() -> str | None:
    if not Path(DEFAULT_MODULE).exists():
        return f"SoftHSM2 module {DEFAULT_MODULE} not installed (apt-get install softhsm2)"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not on PATH (apt-get install softhsm2)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 is not installed"
    return None


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reason = _missing()
    if reason:
        print(f"SKIP pkcs11 tests: {reason}")  # noqa: T201 (the brief asks for the reason printed)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    util = shutil.which("softhsm2-util") or "softhsm2-util"
    subprocess.run(  # noqa: S603 (fixed arguments, test setup)
        [
            util,
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "87654321",
        ],
        check=True,
        capture_output=True,
    )
    yield root
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def hsm(softhsm: Path, settings: Any) -> Iterator[Pkcs11KeyProvider]:
    """The HSM configured as the key provider, with KEK labels unique to this test."""
    settings.GUICHET_PKCS11_MODULE = DEFAULT_MODULE
    settings.GUICHET_PKCS11_TOKEN_LABEL = TOKEN
    settings.GUICHET_PKCS11_PIN = PIN
    settings.GUICHET_PKCS11_KEY_PREFIX = f"kek-{uuid.uuid4().hex[:8]}"
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    reset_vault_process_state()
    provider = get_provider("pkcs11")
    assert isinstance(provider, Pkcs11KeyProvider)
    yield provider
    reset_vault_process_state()


def make_owners(count: int) -> dict[str, bytes]:
    sealed = {}
    for _ in range(count):
        owner = f"user:{uuid.uuid4()}"
        sealed[owner] = service.encrypt_field(owner, owner, "national_id", "1234567890123")
    return sealed


def assert_all_readable(sealed: dict[str, bytes]) -> None:
    key_cache().clear()
    for owner, value in sealed.items():
        assert service.decrypt_field(owner, owner, "national_id", value) == "1234567890123"


def test_hsm_round_trip_with_a_non_extractable_kek(hsm: Pkcs11KeyProvider) -> None:
    import pkcs11

    sealed = make_owners(3)
    assert list(KekVersion.objects.values_list("provider", "version", "state")) == [
        ("pkcs11", 1, "active")
    ]
    assert_all_readable(sealed)
    with hsm._open() as session:
        kek = hsm._find(session, 1)
        assert kek[pkcs11.Attribute.EXTRACTABLE] is False
        assert kek[pkcs11.Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            kek[pkcs11.Attribute.VALUE]
    row = DataKey.objects.first()
    assert row is not None and row.wrapped is not None and len(row.wrapped) == 40  # RFC 5649


def test_a_tampered_wrapped_key_is_refused_by_the_hsm(hsm: Pkcs11KeyProvider) -> None:
    sealed = make_owners(1)
    owner = next(iter(sealed))
    row = DataKey.objects.get(owner=owner)
    wrapped = bytearray(row.wrapped or b"")
    wrapped[3] ^= 1
    DataKey.objects.filter(id=row.id).update(wrapped=bytes(wrapped))
    key_cache().clear()
    with pytest.raises(service.TamperedCiphertext, match="HSM rejected"):
        service.decrypt_field(owner, owner, "national_id", sealed[owner])


def test_rotation_from_local_files_into_the_hsm_then_within_it(
    softhsm: Path, settings: Any, vault_keys: Path
) -> None:
    on_disk = make_owners(12)  # local provider (the conftest default)
    index = service.blind_index("email", "Awa.Diop@Example.SN")
    settings.GUICHET_PKCS11_MODULE = DEFAULT_MODULE
    settings.GUICHET_PKCS11_TOKEN_LABEL = TOKEN
    settings.GUICHET_PKCS11_PIN = PIN
    settings.GUICHET_PKCS11_KEY_PREFIX = f"kek-{uuid.uuid4().hex[:8]}"
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    reset_vault_process_state()
    assert [m.id for m in check_keys()] == ["vault.W001"]  # configured HSM, keys still local

    out = io.StringIO()
    call_command("vault", "rotate", "--batch-size", "5", stdout=out)
    assert "13/13 clés de données rechiffrées (100%" in out.getvalue()
    assert set(DataKey.objects.values_list("kek__provider", "kek__version")) == {("pkcs11", 1)}
    assert check_keys() == []
    # The local KEK is retired and its file can go: the HSM alone now opens every key.
    (vault_keys / "kek-v1.key").unlink()
    reset_vault_process_state()
    assert_all_readable(on_disk)
    assert service.blind_index("email", "awa.diop@example.sn") == index

    in_hsm = make_owners(4)
    call_command("vault", "rotate", stdout=io.StringIO())
    states = list(KekVersion.objects.order_by("id").values_list("provider", "version", "state"))
    assert states == [("local", 1, "retired"), ("pkcs11", 1, "retired"), ("pkcs11", 2, "active")]
    assert_all_readable(on_disk | in_hsm)


def test_a_token_failing_mid_request_fails_that_request_and_the_next_recovers(
    hsm: Pkcs11KeyProvider,
) -> None:
    sealed = make_owners(2)
    first, second = sealed
    key_cache().clear()
    assert hsm._session is not None
    hsm._session.close()  # the HSM drops our session (restart, network cut, failover)
    with pytest.raises(service.ProviderUnavailable, match="HSM operation failed"):
        service.decrypt_field(first, first, "national_id", sealed[first])
    assert service.decrypt_field(second, second, "national_id", sealed[second]) == "1234567890123"
    assert service.decrypt_field(first, first, "national_id", sealed[first]) == "1234567890123"


def test_an_unreachable_module_is_provider_unavailable(
    hsm: Pkcs11KeyProvider, settings: Any
) -> None:
    sealed = make_owners(1)
    owner = next(iter(sealed))
    settings.GUICHET_PKCS11_MODULE = "/nonexistent/libhsm.so"
    reset_vault_process_state()
    with pytest.raises(service.ProviderUnavailable, match="Cannot load PKCS#11 module"):
        service.decrypt_field(owner, owner, "national_id", sealed[owner])
    assert [m.id for m in check_keys()] == ["vault.W002"]
    settings.GUICHET_PKCS11_MODULE = DEFAULT_MODULE
    reset_vault_process_state()
    assert service.decrypt_field(owner, owner, "national_id", sealed[owner]) == "1234567890123"
