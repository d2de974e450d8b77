"""The residency guard: the start-up check refuses places outside the configured lists, and the
audit hook installed by the vault app refuses outbound connections to unlisted addresses.

Foreign addresses are TEST-NET ones (RFC 5737: 192.0.2.0/24, 198.51.100.0/24), which no network
routes; the hook refuses them before the system call, so the tests send nothing anywhere.
"""

import errno
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from guichet.tests.helpers import run_guichet
from guichet.vault import residency, service
from guichet.vault.models import KekVersion
from guichet.vault.residency import ResidencyViolation

ABROAD = "192.0.2.1"


# --- Start-up check -----------------------------------------------------------------------------


@pytest.fixture
def local_places(settings: Any, tmp_path: Path) -> Path:
    """The test's own folders (files, keys, SQLite test database) count as local."""
    places = [str(settings.VAR_DIR), str(tmp_path)]
    database = settings.DATABASES["default"]
    if "sqlite" in database["ENGINE"]:
        places.append(str(Path(database["NAME"]).parent))
    settings.GUICHET_RESIDENCY_PATHS = places
    return tmp_path


def _residency_errors() -> str:
    """The text of `guichet check --tag residency`, empty when it passes."""
    try:
        call_command("check", tags=["residency"], stdout=_Null(), stderr=_Null())
    except SystemCheckError as error:
        return str(error)
    return ""


class _Null:
    def write(self, text: str) -> None:
        del text


def _smtp(host: str) -> dict[str, Any]:
    backend = "django.core.mail.backends.smtp.EmailBackend"
    return {"default": {"BACKEND": backend, "OPTIONS": {"host": host, "port": 587}}}


def test_the_embedded_default_passes(local_places: Path) -> None:
    assert _residency_errors() == ""


def test_a_mail_relay_abroad_is_refused_until_listed(local_places: Path, settings: Any) -> None:
    settings.MAILERS = _smtp("198.51.100.25")

    errors = _residency_errors()

    assert "vault.E102" in errors
    assert (
        "MAILERS['default']['OPTIONS']['host'] is '198.51.100.25', outside "
        "GUICHET_RESIDENCY_HOSTS (127.0.0.1, localhost, ::1)"
    ) in errors
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1,localhost,::1,198.51.100.0/24"
    assert _residency_errors() == ""


@pytest.mark.parametrize("listed", ["smtp.gouv.sn", "*.gouv.sn", "SMTP.Gouv.SN."])
def test_hosts_are_listed_by_name_or_domain(local_places: Path, settings: Any, listed: str) -> None:
    settings.MAILERS = _smtp("smtp.gouv.sn")
    settings.GUICHET_RESIDENCY_HOSTS = ["127.0.0.1", listed]

    assert _residency_errors() == ""


def test_a_key_service_abroad_is_refused(local_places: Path, settings: Any) -> None:
    settings.GUICHET_TRANSIT_URL = "https://198.51.100.9:8200"

    errors = _residency_errors()

    assert "vault.E103" in errors
    assert "GUICHET_TRANSIT_URL is '198.51.100.9', outside GUICHET_RESIDENCY_HOSTS" in errors


def test_a_storage_location_outside_the_paths_is_refused(local_places: Path, settings: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/mnt/foreign-cloud/guichet-files"},
        },
    }

    errors = _residency_errors()

    assert "vault.E104" in errors
    assert "STORAGES['default'] is '/mnt/foreign-cloud/guichet-files', outside" in errors
    assert "GUICHET_RESIDENCY_PATHS" in errors


def test_keys_and_backups_outside_the_paths_are_refused(
    local_places: Path, settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    settings.GUICHET_VAULT_KEYS_DIR = str(elsewhere / "keys")
    settings.GUICHET_BACKUP_DIR = str(elsewhere / "backups")

    errors = _residency_errors()

    assert f"GUICHET_VAULT_KEYS_DIR is '{elsewhere / 'keys'}'" in errors
    assert f"GUICHET_BACKUP_DIR is '{elsewhere / 'backups'}'" in errors


def test_malformed_entries_are_errors(local_places: Path, settings: Any) -> None:
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1,10.0.0.0/33,smtp.gouv.sn:587"
    settings.GUICHET_RESIDENCY_PATHS = [*settings.GUICHET_RESIDENCY_PATHS, "relative/files"]

    errors = _residency_errors()

    assert "GUICHET_RESIDENCY_HOSTS entry '10.0.0.0/33' is not" in errors
    assert "GUICHET_RESIDENCY_HOSTS entry 'smtp.gouv.sn:587' is not" in errors
    assert "GUICHET_RESIDENCY_PATHS entry 'relative/files' is not an absolute path" in errors


def test_turning_enforcement_off_is_a_warning(local_places: Path, settings: Any) -> None:
    settings.GUICHET_RESIDENCY_ENFORCE = False

    messages = residency.check_residency()

    assert [m.id for m in messages] == ["vault.W102"]


def test_a_database_server_abroad_stops_the_platform(tmp_path: Path) -> None:
    # Only the residency check runs: nothing tries to reach that server.
    url = "postgres://guichet@192.0.2.10:5432/guichet"

    result = run_guichet(tmp_path / "var", "check", "--tag", "residency", DATABASE_URL=url)

    assert result.returncode == 1
    assert "vault.E101" in result.stderr
    assert "DATABASES['default']['HOST'] is '192.0.2.10', outside GUICHET_RESIDENCY_HOSTS" in (
        result.stderr
    )


def test_a_database_file_outside_the_paths_stops_the_platform(tmp_path: Path) -> None:
    database = tmp_path / "mounted-elsewhere" / "guichet.sqlite3"

    result = run_guichet(
        tmp_path / "var", "check", "--tag", "residency", DATABASE_URL=f"sqlite:///{database}"
    )

    assert result.returncode == 1
    assert f"DATABASES['default']['NAME'] is '{database}', outside" in result.stderr


# --- Outbound connections -----------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[Any]:
    """Starts echo servers on loopback addresses; all are closed at the end."""
    opened: list[socket.socket] = []

    def start(host: str = "127.0.0.1") -> tuple[str, int]:
        listener = socket.socket()
        listener.bind((host, 0))
        listener.listen()
        opened.append(listener)

        def echo() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(connection.recv(64))

        threading.Thread(target=echo, daemon=True).start()
        address: tuple[str, int] = listener.getsockname()
        return address

    yield start
    for listener in opened:
        listener.close()


def _echo(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as client:
        client.sendall(b"ping")
        return client.recv(64)


def test_the_guard_is_on_in_every_process_and_refuses_an_address_abroad() -> None:
    # No set-up: the vault app installed the hook when Django started this test process.
    with pytest.raises(ResidencyViolation) as refused:
        socket.create_connection((ABROAD, 443), timeout=5)

    message = str(refused.value)
    assert f"connection to {ABROAD} port 443 refused before anything was sent" in message
    assert "not in GUICHET_RESIDENCY_HOSTS (127.0.0.1, localhost, ::1)" in message
    assert isinstance(refused.value, PermissionError)


def test_the_refusal_comes_before_the_system_call() -> None:
    # Had connect() reached the kernel, this UDP socket would now have a peer (UDP connect
    # sends nothing, it records the address); it has none.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(ResidencyViolation):
            udp.connect((ABROAD, 53))
        with pytest.raises(OSError) as unconnected:
            udp.getpeername()
        assert unconnected.value.errno == errno.ENOTCONN
        with pytest.raises(ResidencyViolation):
            udp.sendto(b"query", ("198.51.100.53", 53))


def test_loopback_and_unix_sockets_keep_working(server: Any, tmp_path: Path) -> None:
    assert _echo(server("127.0.0.1")) == b"ping"
    path = str(tmp_path / "guichet.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)


def test_the_list_decides_even_on_loopback(server: Any, settings: Any) -> None:
    address = server("127.0.0.2")
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1"
    with pytest.raises(ResidencyViolation, match=re.escape("connection to 127.0.0.2 port")):
        _echo(address)

    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.0/8"
    assert _echo(address) == b"ping"


def test_enforcement_can_be_turned_off(server: Any, settings: Any) -> None:
    address = server("127.0.0.2")
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1"
    settings.GUICHET_RESIDENCY_ENFORCE = False

    assert _echo(address) == b"ping"


def test_listed_names_are_resolved(server: Any, settings: Any) -> None:
    host, port = server("127.0.0.1")
    settings.GUICHET_RESIDENCY_HOSTS = "localhost"  # no address listed, only the name

    assert _echo((host, port)) == b"ping"
    with socket.socket() as client:
        client.settimeout(5)
        client.connect(("localhost", port))  # a name given to connect() itself
    with pytest.raises(ResidencyViolation):
        _echo(server("127.0.0.2"))


def test_http_clients_see_a_clear_error() -> None:
    with pytest.raises(urllib.error.URLError) as failed:
        urllib.request.urlopen(f"http://{ABROAD}:8080/", timeout=5)

    assert isinstance(failed.value.reason, ResidencyViolation)
    assert "GUICHET_RESIDENCY_HOSTS" in str(failed.value.reason)


@pytest.mark.django_db
def test_a_key_service_abroad_is_never_called(settings: Any) -> None:
    settings.GUICHET_KEY_PROVIDER = "transit"
    settings.GUICHET_TRANSIT_URL = f"http://{ABROAD}:8200"
    settings.GUICHET_TRANSIT_TOKEN = "s.test-token"

    with pytest.raises(service.ProviderUnavailable, match="Residency guard"):
        service.encrypt_field("user:abroad", 1, "phone", "+221771234567")

    assert not KekVersion.objects.exists()
