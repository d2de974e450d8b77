"""Shared test fixtures: the personas every test speaks of, and API clients signed in as them.

Personas (from the demo data, so tests and the demo describe the same world):
  citizen_a      Awa Diop, a citizen
  citizen_b      Moussa Fall, another citizen who must never see Awa's dossiers
  instructor     Fatou Ndiaye, instructor at the Commune de Dakar-Plateau (owns the birth procedure)
  supervisor     Ibrahima Sarr, supervisor at the same commune
  other_agent    Ousmane Sy, instructor at the ANSD: an agent, but of another organisation
  designer       Ndèye Guèye, procedure designer at the commune: writes the birth procedure's
                 rules, sees none of its dossiers
  admin          the platform administrator (manages organisations, sees no dossier)
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from guichet.identity.actions import do_create_token
from guichet.identity.models import User

# Property tests judge correctness, not speed (bench/ measures speed). Hypothesis' timing checks
# (a per-example deadline, "input generation is slow") fail when the machine stalls, and make
# test runs two test processes on two cores: a 1.4 s stall once failed a test that is otherwise
# green. Tests that set their own settings still override the rest of this profile.
hypothesis_settings.register_profile(
    "guichet", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("guichet")

PERSONAS = {
    "citizen_a": "awa.diop@example.sn",
    "citizen_b": "moussa.fall@example.sn",
    "instructor": "fatou.ndiaye@dakarplateau.sn",
    "supervisor": "ibrahima.sarr@dakarplateau.sn",
    "other_agent": "ousmane.sy@ansd.sn",
    "designer": "ndeye.gueye@dakarplateau.sn",
    "admin": "admin@guichet.sn",
}
BIRTH = "extrait-acte-naissance"
BIRTH_ANSWERS = {
    "full_name": "Awa Diop",
    "birth_date": "1994-03-12",
    "copy_kind": "extract",
    "copies": 2,
    "phone": "77 123 45 67",
}
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def pdf_file(name: str = "piece.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


def export_vault_keys(folder: Path) -> tuple[Path, Path, str]:
    """`guichet vault export-keys` into `folder`: the export, its passphrase file, and what the
    command printed (the key files it took)."""
    from io import StringIO

    from django.core.management import call_command

    passphrase = folder / "passphrase.txt"
    passphrase.write_text("deux tasses de café touba\n", encoding="utf-8")
    export = folder / "keys.json"
    out = StringIO()
    call_command(
        "vault", "export-keys", str(export), "--passphrase-file", str(passphrase), stdout=out
    )
    return export, passphrase, out.getvalue()


def totp_code(secret: str) -> str:
    """The current TOTP code for a secret, as an authenticator app would show it."""
    import time

    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return str(format_hotp_value(hotp_value(secret, int(time.time()) // 30)))


class ApiClient:
    """A test client that speaks JSON to /api/v1 with a bearer token."""

    def __init__(self, user: User | None) -> None:
        self.client = Client()
        self.user = user
        self.headers: dict[str, str] = {}
        if user is not None:
            _, raw = do_create_token(user, "tests")
            self.headers["Authorization"] = f"Bearer {raw}"

    def _url(self, path: str) -> str:
        return path if path.startswith("/") else f"/api/v1/{path}"

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(self._url(path), params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            self._url(path),
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self.headers,
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            self._url(path), json.dumps(body), content_type="application/json", headers=self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(self._url(path), headers=self.headers)

    def upload(self, path: str, field: str, upload: SimpleUploadedFile) -> Any:
        return self.client.post(
            self._url(path), {"field": field, "file": upload}, headers=self.headers
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite, test on a file rather than in memory. The in-memory test database shares one
    cache between threads, with table locks that ignore busy_timeout, so the concurrency tests
    would fail there for reasons production never meets; a file behaves as production does (WAL,
    BEGIN IMMEDIATE, busy_timeout). A directory of its own keeps parallel runs apart."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "sqlite" in database["ENGINE"]:
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


def reset_vault_process_state() -> None:
    """Forget every key this process holds: providers, unwrapped data keys, the blind-index key."""
    from guichet.vault.blind import forget_blind_index_key
    from guichet.vault.cache import reset_key_cache
    from guichet.vault.providers import reset_providers

    reset_providers()
    reset_key_cache()
    forget_blind_index_key()


@pytest.fixture(autouse=True)
def vault_keys(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """Every test gets its own key directory and a cold key cache: no test writes keys into var/
    or finds a key another test unwrapped."""
    reset = reset_vault_process_state
    keys = tmp_path / "keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(keys)
    settings.GUICHET_AUDIT_KEY_FILE = str(keys / "audit-ed25519.key")
    settings.GUICHET_KEY_PROVIDER = "local"
    reset()
    yield keys
    reset()


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Security alerts are off unless a test turns them on: no test may depend on the time of day.
    settings.GUICHET_ALERT_WORKING_HOURS = ""
    settings.GUICHET_ALERT_UNASSIGNED_OPENINGS = 0
    settings.GUICHET_ALERT_EXPORT_ITEMS = 0
    # Files, keys and the SQLite test database live in pytest's temporary folders: the residency
    # check must accept them as it accepts VAR_DIR.
    settings.GUICHET_RESIDENCY_PATHS = [str(settings.VAR_DIR), str(tmp_path_factory.getbasetemp())]
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def world(db: None) -> dict[str, User]:
    """The demo organisations, procedures and persona accounts, without demo dossiers."""
    from guichet.demo import load_demo

    load_demo(with_dossiers=False)
    return {name: User.objects.get(email=email) for name, email in PERSONAS.items()}


@pytest.fixture
def api(world: dict[str, User]) -> Iterator[dict[str, ApiClient]]:
    """One API client per persona, plus `anonymous`."""
    clients = {name: ApiClient(user) for name, user in world.items()}
    clients["anonymous"] = ApiClient(None)
    yield clients
