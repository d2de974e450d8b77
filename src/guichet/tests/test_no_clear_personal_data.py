"""The issue's "Done when": a demo instance stores no personal data in clear.

The demo is loaded and used a little more (profiles with phone and national id, a message, a
search), committed for real, then every byte the platform keeps is scanned for the demo citizens'
names, phone numbers, birth dates, national ids, company name, a reason written by an agent, and
the demo PDF: on SQLite the database file itself (after a checkpoint, so the WAL is folded in,
free pages included), on both databases every column of every row of every table, and every file
of the storage folder. The scan must see what is meant to stay in clear (the sign-in email, the
administrations' names), or it would prove nothing.
"""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from guichet.demo import load_demo
from guichet.dossiers import actions
from guichet.dossiers.demo import DEMO_PDF
from guichet.dossiers.models import Dossier
from guichet.identity.actions import do_update_profile
from guichet.identity.models import User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)

AWA_NIN = "1751199401234"
MOUSSA_NIN = "1880211012345"
REASON = "La pièce d'identité est illisible"  # written by the agent in the demo
SECRET_TEXTS = [
    "Awa Diop",
    "Moussa Fall",
    "771234567",
    "+221771234567",
    "77 123 45 67",
    "765551234",
    "1994-03-12",
    "1988-11-02",
    "Fall Services SARL",
    "Kaolack",
    "contact@fallservices.sn",
    AWA_NIN,
    MOUSSA_NIN,
    REASON,
    "Je vous renvoie la pièce",
    "cni-awa.pdf",
]
SECRET_BYTES = [DEMO_PDF, DEMO_PDF[:40], b"/Type/Catalog"]
KEPT_IN_CLEAR = [b"awa.diop@example.sn", b"Commune de Dakar-Plateau"]


def _use_the_demo() -> None:
    load_demo()
    awa = User.objects.get(email="awa.diop@example.sn")
    moussa = User.objects.get(email="moussa.fall@example.sn")
    do_update_profile(
        awa, full_name="Awa Diop", phone="77 123 45 67", national_id=AWA_NIN, language="fr"
    )
    do_update_profile(
        moussa, full_name="Moussa Fall", phone="765551234", national_id=MOUSSA_NIN, language="fr"
    )
    corrected = Dossier.objects.get(applicant=moussa, state="changes_requested")
    actions.do_post_message(moussa, corrected.pk, "Je vous renvoie la pièce ce soir.")
    fatou = ApiClient(User.objects.get(email="fatou.ndiaye@dakarplateau.sn"))
    found = fatou.get("queue", find="+221 77 123 45 67").json()["items"]
    assert [item["applicant"] for item in found] == ["Awa Diop"] * 2  # usable, yet sealed


def _cell(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _rows() -> bytes:
    """Every column of every row of every table, as the database driver returns it."""
    dump = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            name = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {name}")  # noqa: S608 (names from introspection)
            for row in cursor.fetchall():
                dump += b"\x00".join(_cell(value) for value in row) + b"\n"
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT t::text FROM {name} AS t")  # noqa: S608
                dump += b"\n".join(_cell(row[0]) for row in cursor.fetchall())
    return bytes(dump)


def _database_file() -> bytes:
    """SQLite: the database file's bytes, WAL checkpointed into it first."""
    if connection.vendor != "sqlite":
        return b""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(connection.settings_dict["NAME"])
    parts = [path.read_bytes()]
    for suffix in ("-wal", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            parts.append(extra.read_bytes())
    return b"".join(parts)


def _stored_files() -> dict[Path, bytes]:
    root = Path(default_storage.location)  # type: ignore[attr-defined]
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def _leaks(haystack: bytes) -> list[str]:
    lowered = haystack.lower()
    found = [text for text in SECRET_TEXTS if text.lower().encode() in lowered]
    found += [repr(data[:20]) for data in SECRET_BYTES if data in haystack]
    return found


def test_a_demo_instance_keeps_no_personal_data_in_clear() -> None:
    _use_the_demo()

    rows = _rows()
    database = _database_file()
    files = _stored_files()

    for clear in KEPT_IN_CLEAR:  # the scan does see the data
        assert clear in rows
        assert connection.vendor != "sqlite" or clear in database
    assert len(files) == 5  # the demo's four attachments and the accepted dossier's certificate
    assert _leaks(rows) == []
    assert _leaks(database) == []
    for path, content in files.items():
        assert _leaks(content) == [], path
        assert not content.startswith(b"%PDF")
