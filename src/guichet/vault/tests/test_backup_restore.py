"""Backup, key export, import and restore as an operator runs them: `guichet` processes on
instances of their own (a var directory each, and a database each: SQLite files, or fresh
databases on the PostgreSQL server the suite runs on).

Instance A gets the demo world (users, dossiers with encrypted answers, messages, attachments)
plus data sealed directly through the vault service (a text field, a 3 MiB attachment, a key
crypto-shredded on purpose, the blind-index key). Its archive and key export are restored into
new instances, which must then be identical row by row and file by file, and read the same
through the API and the vault. `populate` and `dump` run inside the instances (`guichet shell`).
"""

import base64
import hashlib
import json
import os
import random
import secrets
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from guichet.tests.helpers import run_guichet
from guichet.vault.archive import CHUNK_SIZE, MAGIC, STREAM_HEADER_BYTES
from guichet.vault.tests.fake_transit import FakeTransit

OWNER = "user:backup-check"
GONE = "user:backup-shredded"
BIG_SIZE = 3 * 1024 * 1024 + 12345
PASSPHRASE = "correct horse battery staple"
NOTE = "Né le 12 mars 1994 à Kaolack, NIN 1 234 5678 90123"
TRANSIT_TOKEN = "s.backup-test-token"


# --- Run inside the instances -------------------------------------------------------------------


def _big_content() -> bytes:
    return random.Random(4).randbytes(BIG_SIZE)


def populate() -> None:
    """Vault data beside the demo's: a field, a multi-chunk file, a shredded key, a blind index."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from guichet.vault import service

    note = service.encrypt_field(OWNER, "r1", "note", NOTE)
    default_storage.save("vault-check/note.bin", ContentFile(note))
    big = _big_content()
    pieces = (big[i : i + 100_000] for i in range(0, len(big), 100_000))
    sealed = service.seal_attachment(OWNER, "r1", "scan", pieces, "scan.bin")
    default_storage.save("vault-check/scan.bin", sealed)
    gone = service.encrypt_field(GONE, "r2", "note", "erased on purpose")
    default_storage.save("vault-check/gone.bin", ContentFile(gone))
    service.destroy_key(GONE)
    service.blind_index("email", "awa.diop@example.sn")


def _normal(value: Any) -> Any:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
        return value
    return str(value)


def table_rows() -> dict[str, list[str]]:
    """Every row of every table, as sorted JSON lines (row order and JSON key order differ
    between SQLite and PostgreSQL, values must not)."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    rows = {}
    # The models of the applied migrations: the code may be ahead of them while other work is
    # in progress, and the tables are what is compared.
    state = MigrationLoader(connection).project_state().apps
    for model in state.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        names = [f.attname for f in model._meta.concrete_fields]
        values = model._base_manager.values_list(*names)
        rows[model._meta.label_lower] = sorted(
            json.dumps([_normal(v) for v in row], sort_keys=True) for row in values
        )
    return rows


def stored_files() -> dict[str, str]:
    storage: Any = settings.STORAGES["default"]
    root = Path(storage["OPTIONS"]["location"])
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def vault_view() -> dict[str, Any]:
    """What `populate` sealed, opened again through the vault service."""
    from django.core.files.storage import default_storage

    from guichet.vault import service

    vault: dict[str, Any] = {}
    with default_storage.open("vault-check/note.bin") as handle:
        vault["note"] = service.decrypt_text(OWNER, "r1", "note", handle.read())
    with default_storage.open("vault-check/scan.bin") as handle:
        digest = hashlib.sha256()
        for piece in service.decrypt_chunks(handle, OWNER, "r1", "scan"):
            digest.update(piece)
        vault["scan"] = digest.hexdigest()
    with default_storage.open("vault-check/gone.bin") as handle:
        try:
            service.decrypt_text(GONE, "r2", "note", handle.read())
        except service.KeyDestroyed:
            vault["gone"] = "KeyDestroyed"
    vault["blind"] = service.blind_index("email", "Awa.Diop@Example.sn")
    return vault


def dump(path: str, api: str = "yes") -> None:
    """Everything an instance holds, in a form two instances (even SQLite and PostgreSQL) can
    be compared in: every row, every stored file's hash, and what the API and the vault give
    back in clear."""
    from django.test.utils import setup_test_environment

    rows, files, vault = table_rows(), stored_files(), vault_view()
    # The API reads below create tokens: only after every row was dumped.
    if api == "yes":
        setup_test_environment()
    view = api_view() if api == "yes" else {}
    Path(path).write_text(json.dumps({"rows": rows, "files": files, "vault": vault, "api": view}))


def api_view() -> dict[str, Any]:
    """Each dossier as its applicant reads it through the API, attachments included."""
    from guichet.dossiers.models import Dossier
    from guichet.testing import ApiClient

    view: dict[str, Any] = {}
    for dossier in Dossier.objects.select_related("applicant").order_by("pk"):
        client = ApiClient(dossier.applicant)
        detail = client.get(f"dossiers/{dossier.pk}")
        body = detail.json()
        downloads = {}
        for attachment in body.get("attachments", []):
            response = client.get(f"dossiers/{dossier.pk}/attachments/{attachment['id']}")
            content = b"".join(response.streaming_content)
            downloads[attachment["id"]] = [
                response.status_code,
                hashlib.sha256(content).hexdigest(),
            ]
        messages = client.get(f"dossiers/{dossier.pk}/messages")
        view[str(dossier.pk)] = {
            "status": detail.status_code,
            "body": body,
            "downloads": downloads,
            "messages": [messages.status_code, messages.json()],
        }
    return view


def seal_a_document() -> None:
    """A dossier of the demo's birth procedure, filed, accepted, and its document sealed as the
    task worker seals it (under the platform's CA, made on first use)."""
    from guichet.documents.service import issue_decision_document
    from guichet.dossiers import actions
    from guichet.dossiers.tests.test_pages_support import submitted_for
    from guichet.identity.models import User
    from guichet.testing import PERSONAS

    citizen = User.objects.get(email=PERSONAS["citizen_a"])
    instructor = User.objects.get(email=PERSONAS["instructor"])
    dossier = submitted_for(citizen)
    actions.do_transition(instructor, dossier.pk, "take")
    actions.do_transition(instructor, dossier.pk, "accept")
    issue_decision_document(dossier.pk)


def documents_view(path: str) -> None:
    """Each document's verdict, read back from storage and verified, and the certificates."""
    from guichet.documents.access import read_pdf
    from guichet.documents.models import Document, SealCertificate
    from guichet.documents.verify import verify_pdf

    documents = Document.objects.select_related("dossier__applicant").order_by("pk")
    # Read back as their applicant would download them (own reads: checked, not logged).
    verdicts = {str(d.pk): verify_pdf(read_pdf(d.dossier.applicant, d)).result for d in documents}
    certificates = sorted(str(pk) for pk in SealCertificate.objects.values_list("pk", flat=True))
    Path(path).write_text(json.dumps({"verdicts": verdicts, "certificates": certificates}))


# --- Instances ----------------------------------------------------------------------------------


def _postgres() -> dict[str, Any] | None:
    database: dict[str, Any] = dict(settings.DATABASES["default"])
    return database if "postgresql" in str(database["ENGINE"]) else None


@dataclass
class Instance:
    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    database: str | None = None  # PostgreSQL database name, None for SQLite

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_guichet(self.var_dir, *args, **self.env)
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def call(self, function: str, *args: str) -> None:
        quoted = ", ".join(repr(arg) for arg in args)
        module = "guichet.vault.tests.test_backup_restore"
        self.run("shell", "-c", f"from {module} import {function}; {function}({quoted})")

    def dump(self, api: bool = True) -> dict[str, Any]:
        target = self.var_dir.parent / f"dump-{uuid.uuid4().hex}.json"
        self.call("dump", str(target), "yes" if api else "no")
        return dict(json.loads(target.read_text()))

    def documents(self) -> dict[str, Any]:
        target = self.var_dir.parent / f"documents-{uuid.uuid4().hex}.json"
        self.call("documents_view", str(target))
        return dict(json.loads(target.read_text()))

    def tables(self) -> list[str]:
        if self.database is None:
            path = self.var_dir / "guichet.sqlite3"
            if not path.exists():
                return []
            with sqlite3.connect(path) as probe:
                found = probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
                return [name for (name,) in found]
        with _server() as server:
            names = server.execute(
                "SELECT datname FROM pg_database WHERE datname = %s", [self.database]
            ).fetchall()
        if not names:
            return []
        with _server(self.database) as probe:
            found = probe.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            return [name for (name,) in found]

    def files(self) -> list[Path]:
        root = self.var_dir / "files"
        return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


MakeInstance = Callable[..., Instance]


def _server(dbname: str = "postgres") -> Any:
    import psycopg

    database = _postgres()
    assert database is not None
    return psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def new_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeInstance]:
    """Makes empty instances on the database engine the suite runs on (vendor="sqlite" forces
    a SQLite one); PostgreSQL databases made here are dropped at the end."""
    made: list[str] = []

    def make(name: str, vendor: str | None = None) -> Instance:
        var_dir = tmp_path_factory.mktemp(name) / "var"
        database = _postgres()
        if database is None or vendor == "sqlite":
            return Instance(var_dir)
        dbname = f"guichet_backup_{name}_{secrets.token_hex(4)}"
        with _server() as server:
            server.execute(f'CREATE DATABASE "{dbname}"')
        made.append(dbname)
        user = database["USER"] or "postgres"
        secret = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
        url = f"postgres://{user}{secret}@{database['HOST']}:{database['PORT']}/{dbname}"
        return Instance(var_dir, {"DATABASE_URL": url}, dbname)

    yield make
    if made:
        with _server() as server:
            for dbname in made:
                server.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@dataclass
class Scenario:
    source: Instance
    archive: Path
    keys: Path
    passphrase_file: Path
    dumped: dict[str, Any]


@pytest.fixture(scope="module")
def scenario(new_instance: MakeInstance, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    source = new_instance("a")
    source.run("migrate", "--no-input", "-v", "0")
    source.run("demo")
    source.call("populate")
    archive = source.var_dir / "backups" / "a.gbk"
    made = source.run("backup", "--output", str(archive))
    assert "Sauvegarde écrite\u00a0: " in made.stdout
    secrets_dir = tmp_path_factory.mktemp("custody")
    passphrase_file = secrets_dir / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    keys = secrets_dir / "keys.json"
    source.run("vault", "export-keys", str(keys), "--passphrase-file", str(passphrase_file))
    return Scenario(source, archive, keys, passphrase_file, source.dump())


def _import_keys(instance: Instance, scenario: Scenario) -> None:
    instance.run(
        "vault",
        "import-keys",
        str(scenario.keys),
        "--passphrase-file",
        str(scenario.passphrase_file),
    )


@pytest.fixture(scope="module")
def keyed_empty(scenario: Scenario, new_instance: MakeInstance) -> Instance:
    """An empty instance holding the source's keys: every refused restore must leave it so."""
    target = new_instance("keyed")
    _import_keys(target, scenario)
    return target


def _assert_untouched(instance: Instance) -> None:
    assert instance.tables() == []
    assert instance.files() == []


# --- Tests --------------------------------------------------------------------------------------


def test_the_source_instance_holds_what_the_comparison_relies_on(scenario: Scenario) -> None:
    dumped = scenario.dumped
    assert dumped["vault"] == {
        "note": NOTE,
        "scan": hashlib.sha256(_big_content()).hexdigest(),
        "gone": "KeyDestroyed",
        "blind": dumped["vault"]["blind"],
    }
    assert len(dumped["rows"]["dossiers.dossier"]) >= 4
    assert len(dumped["rows"]["vault.datakey"]) >= 5
    assert any(view["downloads"] for view in dumped["api"].values())
    assert all(view["status"] == 200 for view in dumped["api"].values())
    assert "Awa Diop" in json.dumps(dumped["api"])  # answers read back in clear through the API
    archive = scenario.archive.read_bytes()
    assert stat_mode(scenario.archive) == 0o600
    assert NOTE.encode() not in archive and b"awa.diop" not in archive  # encrypted as a whole
    kek = (scenario.source.var_dir / "keys" / "kek-v1.key").read_bytes().strip()
    assert kek not in archive  # keys never travel with the data
    assert kek not in scenario.keys.read_bytes()  # and the export holds them sealed only
    assert stat_mode(scenario.keys) == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_backup_verify_decrypts_and_hashes_everything(scenario: Scenario) -> None:
    result = scenario.source.run("backup", "--verify", str(scenario.archive))

    assert "OK\u00a0: chaque entrée se déchiffre et correspond au manifeste." in result.stdout
    assert "clé chiffrée par local:v1" in result.stdout
    assert f"{len(scenario.dumped['files'])} (" in result.stdout  # every stored file is in


def test_restore_into_a_new_instance_is_identical_and_everything_decrypts(
    scenario: Scenario, new_instance: MakeInstance
) -> None:
    target = new_instance("b")
    _import_keys(target, scenario)
    keys_dir = target.var_dir / "keys"
    assert stat_mode(keys_dir) == 0o700
    assert [stat_mode(p) for p in keys_dir.iterdir()] == [0o600]

    result = target.run("restore", str(scenario.archive))

    assert "restaurée\u00a0: " in result.stdout, result.stdout
    restored = target.dump()
    assert restored["rows"] == scenario.dumped["rows"]
    assert restored["files"] == scenario.dumped["files"]
    assert restored["vault"] == scenario.dumped["vault"]
    assert restored["api"] == scenario.dumped["api"]
    assert target.run("check").returncode == 0  # keys present, modes right, nothing missing


@pytest.mark.skipif(_postgres() is None, reason="needs PostgreSQL: the suite runs on SQLite")
def test_an_archive_from_postgresql_restores_into_sqlite(
    scenario: Scenario, new_instance: MakeInstance
) -> None:
    target = new_instance("c", vendor="sqlite")
    _import_keys(target, scenario)

    target.run("restore", str(scenario.archive))

    restored = target.dump()
    assert restored["rows"] == scenario.dumped["rows"]
    assert restored["vault"] == scenario.dumped["vault"]
    assert restored["api"] == scenario.dumped["api"]


def test_restore_into_an_already_migrated_empty_database(
    scenario: Scenario, new_instance: MakeInstance
) -> None:
    target = new_instance("d")
    target.run("migrate", "--no-input", "-v", "0")  # content types and permissions of its own
    _import_keys(target, scenario)

    target.run("restore", str(scenario.archive))

    assert target.dump()["rows"] == scenario.dumped["rows"]


def test_restore_refuses_an_instance_that_holds_data(scenario: Scenario) -> None:
    before = scenario.source.dump(api=False)

    result = scenario.source.run("restore", str(scenario.archive), ok=False)

    assert result.returncode == 1
    assert "This instance is not empty: the database holds rows in" in result.stderr
    assert "the file storage holds files" in result.stderr
    assert scenario.source.dump(api=False) == before


def _tampered(scenario: Scenario, tmp_path: Path, offset: int) -> Path:
    data = bytearray(scenario.archive.read_bytes())
    data[offset] ^= 0x01
    copy = tmp_path / "tampered.gbk"
    copy.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("body", "does not authenticate at chunk"),
        ("header date", "does not authenticate at chunk 0"),
        ("magic", "Not a Guichet backup archive"),
        ("cut in a chunk", "does not authenticate at chunk"),
        ("cut at a chunk boundary", "does not authenticate at chunk"),
    ],
)
def test_a_damaged_archive_is_refused_before_anything_is_written(
    scenario: Scenario, keyed_empty: Instance, tmp_path: Path, where: str, message: str
) -> None:
    data = scenario.archive.read_bytes()
    if where.startswith("cut"):
        length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
        body = len(MAGIC) + 4 + length + STREAM_HEADER_BYTES
        end = body + 2 * (CHUNK_SIZE + 16) if "boundary" in where else len(data) - 1000
        damaged = tmp_path / "cut.gbk"
        damaged.write_bytes(data[:end])
    else:
        offset = {
            "body": len(data) // 2,
            "header date": data.index(b'"created_at": "') + len('"created_at": "') + 3,
            "magic": 0,
        }[where]
        damaged = _tampered(scenario, tmp_path, offset)
    target = keyed_empty

    verify = target.run("backup", "--verify", str(damaged), ok=False)
    result = target.run("restore", str(damaged), ok=False)

    assert verify.returncode == 1 and message in verify.stderr, verify.stderr
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    _assert_untouched(target)


def test_an_archive_cannot_be_restored_without_its_keys(
    scenario: Scenario, new_instance: MakeInstance
) -> None:
    target = new_instance("nokeys")

    result = target.run("restore", str(scenario.archive), ok=False)

    assert result.returncode == 1
    assert "which this instance does not have" in result.stderr
    assert "guichet vault import-keys" in result.stderr
    _assert_untouched(target)


def test_an_archive_cannot_be_restored_with_other_keys(
    scenario: Scenario, new_instance: MakeInstance
) -> None:
    target = new_instance("otherkeys")
    keys = target.var_dir / "keys"
    keys.mkdir(parents=True, mode=0o700)
    other = keys / "kek-v1.key"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")

    result = target.run("restore", str(scenario.archive), ok=False)

    assert result.returncode == 1
    assert "does not unwrap under local KEK v1" in result.stderr
    assert "not those of the instance that made the archive" in result.stderr
    assert [p.name for p in target.var_dir.glob("files/**/*")] == []
    assert target.tables() == []


def test_import_keys_refuses_a_wrong_passphrase_and_a_keys_directory_in_use(
    scenario: Scenario, new_instance: MakeInstance, tmp_path: Path
) -> None:
    target = new_instance("import")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the right passphrase at all\n")

    refused = target.run(
        "vault", "import-keys", str(scenario.keys), "--passphrase-file", str(wrong), ok=False
    )

    assert refused.returncode == 1
    assert "Wrong passphrase, or the file was altered." in refused.stderr
    assert not (target.var_dir / "keys").exists()
    _import_keys(target, scenario)
    installed = (target.var_dir / "keys" / "kek-v1.key").read_bytes()
    again = target.run(
        "vault",
        "import-keys",
        str(scenario.keys),
        "--passphrase-file",
        str(scenario.passphrase_file),
        ok=False,
    )
    assert again.returncode == 1
    assert "is not empty" in again.stderr
    assert (target.var_dir / "keys" / "kek-v1.key").read_bytes() == installed
    assert installed == (scenario.source.var_dir / "keys" / "kek-v1.key").read_bytes()


@pytest.mark.slow
def test_under_transit_a_restored_instance_verifies_and_seals_with_the_same_keys(
    new_instance: MakeInstance, tmp_path: Path
) -> None:
    """The operator's whole path with the transit provider: the KEKs never leave the key
    service (both instances reach the same one), the documents' keys travel in the export, and
    the restored instance verifies the documents sealed before and seals new ones under the
    same CA and seal."""
    with FakeTransit(TRANSIT_TOKEN) as transit:
        env = {
            "GUICHET_KEY_PROVIDER": "transit",
            "GUICHET_TRANSIT_URL": transit.url,
            "GUICHET_TRANSIT_TOKEN": TRANSIT_TOKEN,
        }
        source = new_instance("transit-a")
        source.env.update(env)
        source.run("migrate", "--no-input", "-v", "0")
        source.run("demo")
        source.call("seal_a_document")
        before = source.documents()
        [verdict] = before["verdicts"].values()
        assert verdict == "valid"
        assert not list((source.var_dir / "keys").glob("kek-v*.key"))  # all in the service
        archive = source.var_dir / "backups" / "a.gbk"
        source.run("backup", "--output", str(archive))
        passphrase = tmp_path / "passphrase"
        passphrase.write_text(PASSPHRASE + "\n")
        keys = tmp_path / "keys.json"
        exported = source.run(
            "vault", "export-keys", str(keys), "--passphrase-file", str(passphrase)
        )
        assert "fournisseur transit ne sont pas dans cet export" in exported.stdout

        target = new_instance("transit-b")
        target.env.update(env)
        imported = target.run(
            "vault", "import-keys", str(keys), "--passphrase-file", str(passphrase)
        )
        assert "fournisseur transit ne sont pas dans cet export" in imported.stdout
        restored = target.run("restore", str(archive))
        assert "restaurée\u00a0: " in restored.stdout, restored.stdout

        assert target.documents() == before
        target.call("seal_a_document")
        after = target.documents()
        assert after["certificates"] == before["certificates"]  # no new CA, TSA or seal
        assert list(after["verdicts"].values()) == ["valid", "valid"]
        assert target.run("check").returncode == 0
