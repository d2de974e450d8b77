"""Submission with encryption against the same code path with encryption switched off.

    .venv/bin/python bench/vault_submission_bench.py [--rounds 20]

A submission is create + upload a PDF + submit, through the API with a bearer token, on a
throwaway SQLite database in a temporary folder (never var/). The "clear" rounds run the very
same code with the vault's calls replaced by pass-throughs of the same signatures, so the ratio
is the cost of the cryptography and the key handling alone. Rounds are interleaved one by one
so machine noise hits both sides alike. Goal (issue 4): sealed/clear throughput >= 0.9.
"""

import argparse
import atexit
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

WORK = Path(tempfile.mkdtemp(prefix="guichet-submission-bench-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ["GUICHET_VAR_DIR"] = str(WORK)
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["GUICHET_LOG_LEVEL"] = "WARNING"
os.environ["GUICHET_TASKS"] = "immediate"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guichet.settings")

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.test.utils import setup_test_environment

from guichet.demo import load_demo
from guichet.dossiers import access, actions
from guichet.identity import access as identity_access
from guichet.identity import actions as identity_actions
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file


class Clear:
    """Pass-throughs with the vault's signatures: the same code, minus the cryptography."""

    @staticmethod
    def encrypt_json(owner: str, record: Any, field: str, value: Any) -> bytes:
        return json.dumps(value).encode()

    @staticmethod
    def decrypt_json(owner: str, record: Any, field: str, sealed: Any) -> Any:
        return json.loads(bytes(sealed))

    @staticmethod
    def encrypt_field(owner: str, record: Any, field: str, value: Any) -> Any:
        return value.encode() if isinstance(value, str) else value

    @staticmethod
    def decrypt_text(owner: str, record: Any, field: str, sealed: Any) -> str:
        return bytes(sealed).decode()

    @staticmethod
    def seal_attachment(owner: str, record: Any, field: str, source: Any, name: str) -> Any:
        return source

    @staticmethod
    def open_attachment(source: Any, owner: str, record: Any, field: str) -> Any:
        return source

    @staticmethod
    def preload(ciphertexts: Any) -> None:
        return None


PATCHES = [
    (actions, "encrypt_json"),
    (actions, "encrypt_field"),
    (actions, "seal_attachment"),
    (access, "decrypt_json"),
    (access, "decrypt_text"),
    (access, "open_attachment"),
    (identity_actions, "encrypt_field"),
    (identity_access, "decrypt_text"),
    (identity_access, "preload"),
]
ORIGINALS = {(module, name): getattr(module, name) for module, name in PATCHES}


def clear_mode(on: bool) -> None:
    for (module, name), original in ORIGINALS.items():
        setattr(module, name, getattr(Clear, name) if on else original)


def submit_once(client: ApiClient) -> None:
    created = client.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    assert created.status_code == 201, created.content
    dossier_id = created.json()["id"]
    upload = client.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    assert upload.status_code == 201, upload.content
    submitted = client.post(f"dossiers/{dossier_id}/submit")
    assert submitted.status_code == 200, submitted.content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="10 submissions per side each")
    rounds = parser.parse_args().rounds
    setup_test_environment()  # the test client needs it; also a fast password hasher below
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    load_demo(with_dossiers=False)
    sealed_user = User.objects.create_user("sealed@example.sn", "x", full_name="Awa Sealed")
    clear_user = User.objects.create_user("clear@example.sn", "x")
    # The clear user's profile is stored as the pass-through would store it.
    User.objects.filter(pk=clear_user.pk).update(full_name_sealed=b"Awa Clear")
    clients = {
        "sealed": ApiClient(sealed_user),
        "clear": ApiClient(User.objects.get(pk=clear_user.pk)),
    }
    for mode in ("sealed", "clear"):  # warm up both paths
        clear_mode(mode == "clear")
        for _ in range(5):
            submit_once(clients[mode])
    clear_mode(False)
    wall: dict[str, list[float]] = {"sealed": [], "clear": []}
    for index in range(rounds * 10):
        order = ("sealed", "clear") if index % 2 == 0 else ("clear", "sealed")
        for mode in order:
            clear_mode(mode == "clear")
            started = time.perf_counter()
            submit_once(clients[mode])
            wall[mode].append(time.perf_counter() - started)
            clear_mode(False)
    median = {mode: statistics.median(times) for mode, times in wall.items()}
    p95 = {mode: statistics.quantiles(times, n=20)[18] for mode, times in wall.items()}
    print(f"{rounds * 10} submissions per side (create + upload + submit), interleaved")
    print(f"{'':10} {'median ms':>10} {'p95 ms':>8}")
    for mode in ("clear", "sealed"):
        print(f"{mode:10} {1000 * median[mode]:10.1f} {1000 * p95[mode]:8.1f}")
    ratio = median["clear"] / median["sealed"]
    print(f"throughput sealed / clear: {ratio:.2f}  (goal >= 0.90)")


if __name__ == "__main__":
    main()
