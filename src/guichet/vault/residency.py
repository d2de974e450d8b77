"""Residency guard: personal data goes only where the configuration says it may live.

Two settings list the places:

- GUICHET_RESIDENCY_HOSTS: host names ("db.gouv.sn"), wildcard domains ("*.gouv.sn"), IP
  addresses and networks ("10.20.0.0/16") that may receive data: the database server, the mail
  relay, the key service, partner administrations' endpoints. Default: loopback only
  ("127.0.0.1,localhost,::1"); operators list theirs.
- GUICHET_RESIDENCY_PATHS: directories under which data may be stored (database file, uploaded
  files, keys, backups, caches). Default: VAR_DIR.

They are enforced twice:

1. A system check (ids vault.E100-E104) refuses to start with a database, mail host, key service
   or partner endpoint outside the host list, or a storage location outside the paths, and names
   the setting and its value. `guichet check`, `runserver`, `migrate`, `backup` and `restore` run
   it.
2. At run time, an audit hook (sys.addaudithook, installed by the vault app's ready()) refuses
   every outbound socket.connect, sendto and sendmsg to an internet address outside the list, with
   a ResidencyViolation (a PermissionError) that names the address and the setting. The hook runs
   before the system call, so nothing is sent. Unix sockets and loopback (when listed) are not
   affected. Listed names are resolved on first need and again at most every few seconds when an
   address is not found, so a DNS change does not lock the platform out; resolution itself goes
   through the system resolver, which should be in the country too.

Limits, stated so operators know them: the hook sees connections made by Python code (HTTP, SMTP,
the transit key service); PostgreSQL's libpq and the PKCS#11 library connect from C, which is why
the database host is also checked at start-up, and a PKCS#11 module is a local library. Child
processes are not covered. GUICHET_RESIDENCY_ENFORCE=false turns the hook off (warning vault.W102).
"""

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.signals import setting_changed

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
GUARDED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
RESOLVE_TTL = 60.0
REFRESH_AFTER = 5.0
# Settings that hold the URL of a service the platform sends data to. Interoperability code that
# adds partner endpoints lists its settings here (register_endpoint_setting) to get them checked.
# GUICHET_TSA_URL: an outside time-stamping authority receives the hash of every sealed document.
ENDPOINT_SETTINGS = ["GUICHET_TRANSIT_URL", "GUICHET_TSA_URL"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ResidencyViolation(PermissionError):
    """An outbound connection to a place the residency configuration does not list."""


def register_endpoint_setting(name: str) -> None:
    if name not in ENDPOINT_SETTINGS:
        ENDPOINT_SETTINGS.append(name)


def _entries(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(item).strip() for item in items if str(item).strip()]


def _ip(text: str) -> IPAddress | None:
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]  # IPv6 zone index
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return all(
        label and len(label) <= 63 and all(ch.isalnum() or ch in "-_" for ch in label)
        for label in labels
    )


@dataclass(frozen=True)
class HostList:
    entries: tuple[str, ...]
    networks: tuple[IPNetwork, ...]
    names: frozenset[str]
    suffixes: tuple[str, ...]
    invalid: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join(self.entries) or "nothing"

    def lists_name(self, name: str) -> bool:
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)


def parse_hosts(value: Any) -> HostList:
    entries, networks, names, suffixes, invalid = [], [], set(), [], []
    for entry in _entries(value):
        entries.append(entry)
        text = entry.lower()
        if "://" in text:  # a URL is accepted for its host: operators paste endpoints
            text = urlsplit(text).hostname or ""
        address = _ip(text)
        if address is not None:
            networks.append(ipaddress.ip_network(address))
        elif "/" in text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                invalid.append(entry)
        elif text.startswith("*.") and _valid_name(text[2:]):
            suffixes.append(text[1:])
        elif _valid_name(text.rstrip(".")):
            names.add(text.rstrip("."))
        else:
            invalid.append(entry)
    return HostList(
        tuple(entries), tuple(networks), frozenset(names), tuple(suffixes), tuple(invalid)
    )


def configured_hosts() -> HostList:
    return parse_hosts(getattr(settings, "GUICHET_RESIDENCY_HOSTS", DEFAULT_HOSTS))


def configured_roots() -> tuple[list[Path], list[str]]:
    """The allowed directories, resolved, and the entries that are not absolute paths."""
    value = getattr(settings, "GUICHET_RESIDENCY_PATHS", None) or [settings.VAR_DIR]
    roots, invalid = [], []
    for entry in _entries([value] if isinstance(value, Path) else value):
        path = Path(entry).expanduser()
        if path.is_absolute():
            roots.append(path.resolve())
        else:
            invalid.append(entry)
    return roots, invalid


def path_allowed(path: str | Path, roots: Iterable[Path]) -> bool:
    resolved = Path(path).expanduser().resolve()
    return any(resolved.is_relative_to(root) for root in roots)


def path_refusal(path: str | Path, what: str) -> str | None:
    """Why `path` may not hold data, or None if it may (for commands that write data)."""
    roots, _invalid = configured_roots()
    if path_allowed(path, roots):
        return None
    listed = ", ".join(str(root) for root in roots) or "nothing"
    return (
        f"{what} {path} is outside GUICHET_RESIDENCY_PATHS ({listed}). Write it under one of "
        "those, or add its directory to GUICHET_RESIDENCY_PATHS if data may be kept there."
    )


def enforce_enabled() -> bool:
    value = getattr(settings, "GUICHET_RESIDENCY_ENFORCE", True)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _resolve(name: str) -> frozenset[IPAddress]:
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return frozenset()
    addresses = (_ip(str(info[4][0])) for info in found)
    return frozenset(address for address in addresses if address is not None)


class Guard:
    """Decides whether a host may receive data; the audit hook asks it on every connect."""

    def __init__(self, hosts: HostList) -> None:
        self.hosts = hosts
        self._resolved: frozenset[IPAddress] = frozenset()
        self._resolved_at = float("-inf")
        self._lock = threading.Lock()

    def permits(self, host: str) -> bool:
        address = _ip(host)
        if address is not None:
            return self._address_allowed(address)
        name = host.strip().lower().rstrip(".")
        if not name:
            return True  # "" is this machine (INADDR_ANY)
        if self.hosts.lists_name(name):
            return True
        addresses = _resolve(name)
        return bool(addresses) and all(self._address_allowed(a) for a in addresses)

    def _address_allowed(self, address: IPAddress) -> bool:
        if address.is_unspecified:  # 0.0.0.0 and :: reach this machine itself
            return True
        if any(address in network for network in self.hosts.networks):
            return True
        return address in self._listed_addresses(refresh=False) or (
            address in self._listed_addresses(refresh=True)
        )

    def _listed_addresses(self, refresh: bool) -> frozenset[IPAddress]:
        if not self.hosts.names:
            return frozenset()
        age = time.monotonic() - self._resolved_at
        if age < (REFRESH_AFTER if refresh else RESOLVE_TTL):
            return self._resolved
        with self._lock:
            if time.monotonic() - self._resolved_at >= (REFRESH_AFTER if refresh else RESOLVE_TTL):
                found: set[IPAddress] = set()
                for name in sorted(self.hosts.names):
                    found |= _resolve(name)
                self._resolved = frozenset(found)
                self._resolved_at = time.monotonic()
            return self._resolved

    def inspect(self, args: tuple[Any, ...]) -> None:
        """Raise ResidencyViolation if an audited socket call sends to an unlisted address."""
        try:
            family = args[0].family
            address = args[1]
        except (AttributeError, IndexError, TypeError):
            return
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return
        host = address[0] if address else None
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str) or self.permits(host):
            return
        port = address[1] if len(address) > 1 else "?"
        raise ResidencyViolation(
            f"Residency guard: connection to {host} port {port} refused before anything was "
            f"sent; {host} is not in GUICHET_RESIDENCY_HOSTS ({self.hosts.describe()}). If "
            "personal data may go there, add its name, address or network to "
            "GUICHET_RESIDENCY_HOSTS."
        )


_guard: Guard | None = None
_installed = False
_install_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process (file opens, imports...): stay cheap.
    if event not in GUARDED_EVENTS:
        return
    guard = _guard
    if guard is not None:
        guard.inspect(args)


def configure() -> None:
    """(Re)read the settings; the hook uses the new list from the next connection on."""
    global _guard
    _guard = Guard(configured_hosts()) if enforce_enabled() else None


def install() -> None:
    """Install the audit hook once per process (hooks cannot be removed; configure() can turn
    enforcement off) and follow setting changes."""
    global _installed
    with _install_lock:
        configure()
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True
    setting_changed.connect(_setting_changed, dispatch_uid="guichet.vault.residency")


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"GUICHET_RESIDENCY_HOSTS", "GUICHET_RESIDENCY_ENFORCE"}:
        configure()


# --- System check ---------------------------------------------------------------------------------


def _database_places() -> Iterator[tuple[str, str, bool]]:
    """(setting, value, is_path) for every database."""
    for alias, database in settings.DATABASES.items():
        if "sqlite" in str(database.get("ENGINE", "")):
            name = str(database.get("NAME") or "")
            if name and name != ":memory:" and not name.startswith("file:"):
                yield f"DATABASES[{alias!r}]['NAME']", name, True
            continue
        for host in str(database.get("HOST") or "").split(","):
            if host.strip() and not host.strip().startswith("/"):  # "/...": a Unix socket
                yield f"DATABASES[{alias!r}]['HOST']", host.strip(), False


def _mail_hosts() -> Iterator[tuple[str, str]]:
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, dict):
        for alias, mailer in mailers.items():
            if str(mailer.get("BACKEND", "")).endswith("smtp.EmailBackend"):
                options = mailer.get("OPTIONS") or {}
                host = options.get("host") or getattr(settings, "EMAIL_HOST", "localhost")
                yield f"MAILERS[{alias!r}]['OPTIONS']['host']", str(host)
    elif str(getattr(settings, "EMAIL_BACKEND", "")).endswith("smtp.EmailBackend"):
        yield "EMAIL_HOST", str(getattr(settings, "EMAIL_HOST", "localhost"))


def _endpoint_hosts() -> Iterator[tuple[str, str]]:
    for name in ENDPOINT_SETTINGS:
        values = getattr(settings, name, None)
        for value in [values] if isinstance(values, str) else list(values or []):
            if value:
                yield name, urlsplit(str(value)).hostname or str(value)


def _data_paths() -> Iterator[tuple[str, str]]:
    from guichet.vault.providers import active_provider_name
    from guichet.vault.providers.local import keys_dir

    yield "VAR_DIR", str(settings.VAR_DIR)
    if active_provider_name() == "local" or keys_dir().exists():
        yield "GUICHET_VAULT_KEYS_DIR", str(keys_dir())
    backups = getattr(settings, "GUICHET_BACKUP_DIR", None) or Path(settings.VAR_DIR) / "backups"
    yield "GUICHET_BACKUP_DIR", str(backups)
    if getattr(settings, "FILE_UPLOAD_TEMP_DIR", None):
        yield "FILE_UPLOAD_TEMP_DIR", str(settings.FILE_UPLOAD_TEMP_DIR)
    for alias, cache in settings.CACHES.items():
        if "filebased" in str(cache.get("BACKEND", "")) and cache.get("LOCATION"):
            yield f"CACHES[{alias!r}]['LOCATION']", str(cache["LOCATION"])


def _storage_places() -> Iterator[tuple[str, str | None, str | None]]:
    """(setting, local path or None, remote host or None) for every storage but static files."""
    from django.core.files.storage import storages

    for alias in getattr(settings, "STORAGES", {}):
        if alias == "staticfiles":
            continue  # the platform's own CSS and icons, no personal data
        backend = storages[alias]
        location = getattr(backend, "location", None)
        config: Any = settings.STORAGES[alias]
        options = config.get("OPTIONS") or {}
        remote = next(
            (str(options[k]) for k in ("endpoint_url", "url", "host") if options.get(k)), None
        )
        setting = f"STORAGES[{alias!r}]"
        if location:
            yield setting, str(location), None
        else:
            yield setting, None, urlsplit(remote).hostname or remote if remote else None


def check_residency(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    hosts = configured_hosts()
    roots, bad_roots = configured_roots()
    guard = Guard(hosts)
    listed_hosts = f"GUICHET_RESIDENCY_HOSTS ({hosts.describe()})"
    listed_paths = f"GUICHET_RESIDENCY_PATHS ({', '.join(map(str, roots)) or 'nothing'})"
    messages: list[CheckMessage] = [
        Error(
            f"GUICHET_RESIDENCY_HOSTS entry {entry!r} is not a host name, an IP address, a "
            "network (10.0.0.0/8) or a wildcard domain (*.gouv.sn).",
            id="vault.E100",
        )
        for entry in hosts.invalid
    ]
    messages += [
        Error(f"GUICHET_RESIDENCY_PATHS entry {entry!r} is not an absolute path.", id="vault.E100")
        for entry in bad_roots
    ]

    def host_error(setting: str, host: str, what: str, error_id: str) -> None:
        if not guard.permits(host):
            messages.append(
                Error(
                    f"{setting} is {host!r}, outside {listed_hosts}.",
                    hint=f"Use a {what} where personal data may live, or, if {host} is such a "
                    "place, add it to GUICHET_RESIDENCY_HOSTS.",
                    id=error_id,
                )
            )

    def path_error(setting: str, path: str, what: str, error_id: str) -> None:
        if not path_allowed(path, roots):
            messages.append(
                Error(
                    f"{setting} is {path!r}, outside {listed_paths}.",
                    hint=f"Keep {what} under one of those directories, or add its directory to "
                    "GUICHET_RESIDENCY_PATHS if data may be kept there.",
                    id=error_id,
                )
            )

    for setting, value, is_path in _database_places():
        if is_path:
            path_error(setting, value, "the database file", "vault.E101")
        else:
            host_error(setting, value, "database server", "vault.E101")
    for setting, host in _mail_hosts():
        host_error(setting, host, "mail relay", "vault.E102")
    for setting, host in _endpoint_hosts():
        host_error(setting, host, "key service or partner endpoint", "vault.E103")
    for setting, path in _data_paths():
        path_error(setting, path, "this data", "vault.E104")
    for setting, location, remote in _storage_places():
        if location is not None:
            path_error(setting, location, "stored files", "vault.E104")
        elif remote is not None:
            host_error(setting, remote, "file storage service", "vault.E104")
        else:
            messages.append(
                Warning(
                    f"{setting} is not a local file system storage; the residency guard cannot "
                    "tell where it keeps files.",
                    hint="Check by hand that it stores data in the country.",
                    id="vault.W101",
                )
            )
    if not enforce_enabled():
        messages.append(
            Warning(
                "GUICHET_RESIDENCY_ENFORCE is off: outbound connections are not restricted to "
                "GUICHET_RESIDENCY_HOSTS.",
                hint="Turn it back on in production.",
                id="vault.W102",
            )
        )
    return messages
