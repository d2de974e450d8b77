"""`guichet vault export-keys` / `import-keys`: the keys kept in local files, sealed under a
passphrase.

Backups never hold keys, so restoring one on a new machine needs the key-encryption keys from
somewhere else: this export. It holds every local KEK file (kek-v<N>.key, retired versions too,
since older backups may need them) sealed with passphrase.py. Data keys need nothing more: they
are in the database (and so in the backups), wrapped by these KEKs; the blind-index key is one of
them. It also holds the Ed25519 signing keys kept as files in the same folder
(providers/ed25519.py: the transparency log's `audit-ed25519.key` by default), since a log whose
key is lost must start again under a new key that witnesses do not know. And it holds the EC
signing keys of the `signing/` sub-folder (the documents' CA, time-stamping authority and
organisation seals): without them a restored platform would seal under a new CA, and documents
verified offline against the published one would stop verifying for new decisions.

Keys in an HSM (pkcs11) or a transit engine cannot and must not be exported: they are created
non-extractable, and their custody is the key service's own backup procedure. What those two
providers leave in local files is exported all the same, and the export says (in its manifest,
authenticated with the rest) that the data KEKs stayed in the key service: with transit, the
documents' keys are always files, since a transit engine cannot sign; with pkcs11, the documents'
keys made before the move to the HSM stay files, as do the log's key when
GUICHET_AUDIT_KEY_PROVIDER is local and the KEK files of the local provider that older backups
(or a rotation not finished) still need.

The import writes into an empty keys directory only (0700, files 0600, written with O_EXCL), so it
can never replace a key that data on this machine already depends on.
"""

import base64
import binascii
import datetime
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.db import DatabaseError
from django.utils.translation import gettext as _

from guichet.vault.errors import VaultError
from guichet.vault.models import KekState, KekVersion
from guichet.vault.passphrase import PassphraseError, check_passphrase, seal, unseal
from guichet.vault.providers import active_provider_name, get_provider, reset_providers
from guichet.vault.providers.local import (
    KEK_BYTES,
    LocalKeyProvider,
    fsync_directory,
    keys_dir,
    read_private_file,
)

KIND = "guichet-key-export"
FORMAT = 1
_KEY_FILE = re.compile(r"kek-v(\d+)\.key")
_SIGNING_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.key")
# Where the documents' key store (documents/keys.py, local) keeps one PEM per label.
SEAL_FOLDER = "signing"
_SEAL_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.pem")
_PEM_PRIVATE = b"-----BEGIN PRIVATE KEY-----"
# Providers whose KEKs never leave their key service: their exports carry the local files only.
KEY_SERVICES = ("pkcs11", "transit")
PROVIDERS = ("local", *KEY_SERVICES)
_MAX_EXPORT_BYTES = 1024 * 1024


def fingerprint(material: bytes) -> str:
    """A short public identifier of a key, to compare an export with what a machine holds."""
    return hashlib.sha256(b"guichet-kek-fingerprint\x00" + material).hexdigest()[:16]


def _local() -> LocalKeyProvider:
    provider = get_provider("local")
    if not isinstance(provider, LocalKeyProvider):  # pragma: no cover (registry misuse)
        raise VaultError("The local key provider is not the built-in one.")
    return provider


def local_versions(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    found = (_KEY_FILE.fullmatch(path.name) for path in directory.iterdir())
    return sorted(int(match.group(1)) for match in found if match)


def _private_keys(directory: Path, name: re.Pattern[str], kind: type[Any]) -> dict[str, bytes]:
    """The unencrypted PEM private keys of type `kind` in `directory`, by file name."""
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.iterdir()):
        if not name.fullmatch(path.name) or _KEY_FILE.fullmatch(path.name):
            continue
        pem = read_private_file(path, f"{path} vanished during the export.")
        if not pem.startswith(_PEM_PRIVATE):
            continue
        try:
            key = load_pem_private_key(pem, password=None)
        except ValueError:
            continue
        if isinstance(key, kind):
            found[path.name] = pem
    return found


def ed25519_files(directory: Path) -> dict[str, bytes]:
    """The Ed25519 private keys kept as PEM files directly in the keys folder, by file name."""
    return _private_keys(directory, _SIGNING_FILE, Ed25519PrivateKey)


def seal_files(directory: Path) -> dict[str, bytes]:
    """The documents' EC signing keys (signing/<label>.pem), by file name."""
    return _private_keys(directory / SEAL_FOLDER, _SEAL_FILE, EllipticCurvePrivateKey)


@dataclass(frozen=True)
class Exported:
    provider: str  # the configured provider: "local", or the key service whose KEKs stayed there
    versions: list[int]  # the local KEK versions in the export
    ed25519_keys: list[str]  # Ed25519 key files of the keys folder
    seal_keys: list[str]  # the documents' key files of signing/
    warnings: list[str]


def not_exported(provider: str) -> str:
    """What an export made under a key service leaves behind, for its manifest and the
    operator."""
    return _(
        "The data key-encryption keys of the %(provider)s provider are not in this export: they "
        "stay in the key service, non-extractable. Keep them with its own backup procedure; "
        "restoring a backup needs access to the same keys."
    ) % {"provider": provider}


def export_keys(path: Path, passphrase: str) -> Exported:
    """Write the sealed export of every key kept in local files; returns what it holds and
    warnings for the operator."""
    configured = active_provider_name()
    if configured not in PROVIDERS:
        raise VaultError(f"Unknown key provider {configured!r} (GUICHET_KEY_PROVIDER).")
    check_passphrase(passphrase)  # before any key is read
    provider = _local()
    versions = local_versions(provider.directory)
    if configured == "local" and not versions:
        raise VaultError(
            f"No local key-encryption key in {provider.directory}: none was made yet (the first "
            "is made when data is first encrypted), or GUICHET_VAULT_KEYS_DIR points elsewhere."
        )
    materials = {str(v): provider._read(v) for v in versions}  # checks modes and format
    signing = ed25519_files(provider.directory)
    seals = seal_files(provider.directory)
    if not (materials or signing or seals):
        raise VaultError(
            f"GUICHET_KEY_PROVIDER is {configured!r}: its keys live in the key service and are "
            "non-extractable, and no key is kept in local files under "
            f"{provider.directory}, so there is nothing to export. Use the HSM's (or OpenBao's) "
            "own backup procedure for its keys; backups of Guichet's data need those keys to "
            "restore."
        )
    warnings = _missing_versions(versions)
    public: dict[str, Any] = {
        "kind": KIND,
        "format": FORMAT,
        "provider": configured,
        "created_at": datetime.datetime.now(tz=datetime.UTC).isoformat(),
        "versions": versions,
        "fingerprints": {v: fingerprint(m) for v, m in materials.items()},
        "ed25519_keys": sorted(signing),
        "seal_keys": sorted(seals),
    }
    if configured in KEY_SERVICES:
        public["keks_in_key_service"] = configured
        public["not_exported"] = not_exported(configured)
    payload = json.dumps(
        {
            "keks": {v: base64.b64encode(m).decode() for v, m in materials.items()},
            "ed25519": {name: base64.b64encode(pem).decode() for name, pem in signing.items()},
            "seals": {name: base64.b64encode(pem).decode() for name, pem in seals.items()},
        }
    ).encode()
    envelope = seal(payload, passphrase, public)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(envelope, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return Exported(configured, versions, sorted(signing), sorted(seals), warnings)


def _missing_versions(exported: list[int]) -> list[str]:
    try:
        needed = KekVersion.objects.filter(provider="local").exclude(state=KekState.RETIRED)
        return [
            _(
                "The database uses local KEK v%(version)d, but its file is missing: the export "
                "cannot restore data wrapped under it."
            )
            % {"version": kek.version}
            for kek in needed
            if kek.version not in exported
        ]
    except DatabaseError:
        return []


def read_export(path: Path, passphrase: str) -> dict[int, bytes]:
    """The KEKs of an export file, after checking the passphrase and every field."""
    return _read(path, passphrase).keks


@dataclass(frozen=True)
class _Export:
    provider: str  # "local", or the key service that kept its KEKs
    keks: dict[int, bytes]
    signing: dict[str, bytes]  # Ed25519 key files of the keys folder, by name
    seals: dict[str, bytes]  # the documents' key files of signing/, by name


def _read(path: Path, passphrase: str) -> _Export:
    """The KEKs and the signing key files (by name) of an export; older exports have no
    signing keys."""
    try:
        if path.stat().st_size > _MAX_EXPORT_BYTES:
            raise VaultError(f"{path} is too large to be a key export.")
        envelope = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VaultError(f"Cannot read the key export {path}: {error}") from error
    if not isinstance(envelope, dict) or envelope.get("kind") != KIND:
        raise VaultError(f"{path} is not a Guichet key export.")
    if envelope.get("format") != FORMAT:
        raise VaultError(f"Key export format {envelope.get('format')} is not supported.")
    payload = unseal(envelope, passphrase)
    # Read only once unsealed: the envelope's visible fields are authenticated with the keys,
    # so a "provider" changed to pass off an export without KEKs has already been refused.
    provider = envelope.get("provider", "local")
    if provider not in PROVIDERS:
        raise PassphraseError(f"The key export names an unknown key provider {provider!r}.")
    try:
        content = json.loads(payload)
        keks = {int(v): base64.b64decode(m, validate=True) for v, m in content["keks"].items()}
        signing = _files(content.get("ed25519", {}))
        seals = _files(content.get("seals", {}))
    except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as error:
        raise PassphraseError("The key export's content is malformed.") from error
    # Without KEKs only when its provider kept them in the key service.
    if (not keks and provider == "local") or any(
        v < 1 or len(m) != KEK_BYTES for v, m in keks.items()
    ):
        raise PassphraseError("The key export holds no valid key-encryption key.")
    if not (keks or signing or seals):
        raise PassphraseError("The key export holds no key.")
    names_ok = all(_SIGNING_FILE.fullmatch(n) and not _KEY_FILE.fullmatch(n) for n in signing)
    names_ok = names_ok and all(_SEAL_FILE.fullmatch(n) for n in seals)
    pems = [*signing.values(), *seals.values()]
    if not names_ok or any(not pem.startswith(_PEM_PRIVATE) for pem in pems):
        raise PassphraseError("The key export holds a malformed signing key.")
    return _Export(provider, keks, signing, seals)


def _files(encoded: dict[str, str]) -> dict[str, bytes]:
    return {str(name): base64.b64decode(pem, validate=True) for name, pem in encoded.items()}


def _write_private(target: Path, content: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class Imported:
    directory: Path
    provider: str  # the export's: "local", or the key service that kept its KEKs
    versions: list[int]
    ed25519_keys: list[str]
    seal_keys: list[str]


def import_keys(path: Path, passphrase: str) -> Imported:
    """Install the export's KEKs and signing key files into the (empty) keys directory."""
    export = _read(path, passphrase)
    directory = keys_dir()
    if directory.exists() and any(directory.iterdir()):
        raise VaultError(
            f"The keys directory {directory} is not empty. Keys are only imported into an empty "
            "one, so that no key that data here depends on is ever replaced; move it aside first "
            "if this machine's keys are really to be discarded."
        )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    provider = _local()
    for version, material in sorted(export.keks.items()):
        _write_private(directory / provider.path(version).name, base64.b64encode(material) + b"\n")
    for name, pem in sorted(export.signing.items()):
        _write_private(directory / name, pem)
    if export.seals:
        seals = directory / SEAL_FOLDER
        seals.mkdir(mode=0o700)
        for name, pem in sorted(export.seals.items()):
            _write_private(seals / name, pem)
        fsync_directory(seals)
    fsync_directory(directory)
    reset_providers()  # a provider built before the import must not remember "missing"
    return Imported(
        directory,
        export.provider,
        sorted(export.keks),
        sorted(export.signing),
        sorted(export.seals),
    )
