"""`guichet backup` and `guichet restore` called in the test process, on the suite's database
(SQLite or PostgreSQL): output rules, verification, and a full round trip through a wiped
database and storage. The same commands run as separate processes in test_backup_restore.py."""

import io
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from guichet.demo import load_demo
from guichet.testing import ApiClient
from guichet.vault import service
from guichet.vault.models import DataKey
from guichet.vault.tests.test_backup_restore import (
    NOTE,
    OWNER,
    api_view,
    populate,
    stored_files,
    table_rows,
    vault_view,
)
from guichet.vault.tests.test_pkcs11_provider import hsm, softhsm  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def places(settings: Any, tmp_path: Path) -> Path:
    """Backups under the test's folder, which the residency paths allow (with VAR_DIR)."""
    settings.GUICHET_BACKUP_DIR = str(tmp_path / "backups")
    settings.GUICHET_RESIDENCY_PATHS = [str(tmp_path), str(settings.VAR_DIR)]
    return tmp_path


def _run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_backup_writes_a_private_archive_named_by_its_time(places: Path) -> None:
    service.encrypt_field(OWNER, "r1", "note", NOTE)

    out = _run("backup")

    archives = list((places / "backups").iterdir())
    assert len(archives) == 1  # and no .partial left behind
    assert re.fullmatch(r"guichet-\d{8}T\d{6}Z\.gbk", archives[0].name)
    assert archives[0].stat().st_mode & 0o777 == 0o600
    assert (places / "backups").stat().st_mode & 0o777 == 0o700
    assert f"Sauvegarde écrite\u00a0: {archives[0]} (" in out
    assert NOTE.encode() not in archives[0].read_bytes()


def test_backup_refuses_a_place_outside_the_residency_paths(
    places: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("abroad") / "copy.gbk"

    with pytest.raises(CommandError, match="outside GUICHET_RESIDENCY_PATHS"):
        _run("backup", "--output", str(elsewhere))

    assert not elsewhere.parent.joinpath("copy.gbk.partial").exists()
    assert list(elsewhere.parent.iterdir()) == []


def test_backup_never_overwrites_a_file(places: Path) -> None:
    target = places / "existing.gbk"
    target.write_bytes(b"an older backup")

    with pytest.raises(CommandError, match="already exists"):
        _run("backup", "--output", str(target))

    assert target.read_bytes() == b"an older backup"


def test_verify_reports_the_content_and_refuses_one_altered_byte(places: Path) -> None:
    populate()
    archive = places / "a.gbk"
    _run("backup", "--output", str(archive))

    out = _run("backup", "--verify", str(archive))

    assert "OK\u00a0: chaque entrée se déchiffre et correspond au manifeste." in out
    assert "fichiers\u00a0: 3 (" in out
    data = bytearray(archive.read_bytes())
    data[-40] ^= 0x80
    archive.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="does not authenticate at chunk"):
        _run("backup", "--verify", str(archive))


def test_a_backup_sees_one_moment_while_writers_carry_on(
    places: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request commits a new data key after the backup read the tables and before it reads
    the key summary: the writer is not blocked, and the summary, read in the same snapshot as
    the rows, does not see the new key either."""
    from guichet.vault import backup

    populate()
    live_before = DataKey.objects.filter(destroyed_at__isnull=True).count()
    rows_before = DataKey.objects.count()
    read_rows = backup._dump_rows
    written = []

    def serve_a_request() -> None:
        service.encrypt_field("user:late", "r", "note", "written during the backup")
        written.append(DataKey.objects.filter(owner="user:late").exists())
        connection.close()

    def read_rows_then_serve(*args: Any, **kwargs: Any) -> Any:
        tables = read_rows(*args, **kwargs)
        other = threading.Thread(target=serve_a_request)  # its own database connection
        other.start()
        other.join()
        return tables

    monkeypatch.setattr(backup, "_dump_rows", read_rows_then_serve)
    archive = places / "moment.gbk"
    _run("backup", "--output", str(archive))

    assert written == [True]
    assert DataKey.objects.filter(destroyed_at__isnull=True).count() == live_before + 1
    manifest = _manifest(archive)
    assert manifest["database"]["tables"]["vault.datakey"]["rows"] == rows_before
    assert [k["live_keys"] for k in manifest["keks"]] == [live_before]


def _manifest(archive: Path) -> dict[str, Any]:
    from guichet.vault.backup import verify_archive

    with archive.open("rb") as source:
        return verify_archive(source).manifest


def test_round_trip_through_a_wiped_database_and_storage(places: Path) -> None:
    users = load_demo()
    populate()
    before_api = api_view()
    before_rows, before_files = table_rows(), stored_files()
    before_vault = vault_view()
    archive = places / "round-trip.gbk"
    _run("backup", "--output", str(archive))
    storage_root = Path(places / "files")
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(storage_root)
    assert not DataKey.objects.exists()

    out = _run("restore", str(archive))

    checked = re.search(r"(\d+) clés de données déchiffrables, (\d+) chiffrés vérifiés", out)
    assert checked is not None, out
    assert int(checked[1]) == DataKey.objects.filter(destroyed_at__isnull=True).count() > 0
    assert int(checked[2]) >= 3  # at least the note, the scan and the shredded note
    assert table_rows() == before_rows
    assert stored_files() == before_files
    assert vault_view() == before_vault
    assert api_view() == before_api
    awa = users["awa.diop@example.sn"]
    assert ApiClient(awa).get("dossiers").status_code == 200


def test_restore_refuses_an_instance_that_holds_data_and_changes_nothing(places: Path) -> None:
    populate()
    archive = places / "busy.gbk"
    _run("backup", "--output", str(archive))
    before = table_rows(), stored_files()

    with pytest.raises(CommandError, match="This instance is not empty"):
        _run("restore", str(archive))

    assert (table_rows(), stored_files()) == before


@pytest.mark.usefixtures("hsm")
def test_with_the_hsm_the_archive_key_is_wrapped_by_it_and_restores(places: Path) -> None:
    populate()
    before_rows, before_vault = table_rows(), vault_view()
    archive = places / "hsm.gbk"

    _run("backup", "--output", str(archive))

    assert "clé chiffrée par pkcs11:v1" in _run("backup", "--verify", str(archive))
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(places / "files")
    _run("restore", str(archive))  # the KEK never left the token: nothing to import
    assert table_rows() == before_rows
    assert vault_view() == before_vault
