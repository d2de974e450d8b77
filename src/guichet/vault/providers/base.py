"""One small interface for every place a key-encryption key (KEK) can live.

A provider creates numbered KEK versions and wraps and unwraps 32-byte data keys under them. It
never sees ciphertexts, owners or records: the envelope layer above it does. Providers are chosen
by name; `GUICHET_KEY_PROVIDER` names the one that wraps new keys, while any registered provider
can still unwrap the keys it wrapped earlier, which is what lets a rotation move data keys from
one provider to another (local files to an HSM, say). Built in: local, pkcs11, transit.
"""

import threading
from abc import ABC, abstractmethod
from typing import ClassVar

from django.conf import settings

from guichet.vault.errors import VaultMisconfigured

DEFAULT_PROVIDER = "local"


class KeyProvider(ABC):
    name: ClassVar[str]

    @abstractmethod
    def create_version(self, version: int) -> None:
        """Make new KEK material for `version`; an existing one is an error, never overwritten."""

    @abstractmethod
    def has_version(self, version: int) -> bool:
        """Whether the KEK material of `version` is present (used by checks and status)."""

    @abstractmethod
    def wrap(self, version: int, dek: bytes) -> bytes:
        """Encrypt a data key under KEK `version`."""

    @abstractmethod
    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        """Decrypt a data key wrapped under KEK `version`; tampering raises TamperedCiphertext."""

    def problems(self, versions_in_use: list[int]) -> list[str]:
        """Configuration problems an operator must fix before the platform may serve."""
        return [
            f"{self.name} KEK version {version} is missing but data keys are wrapped under it."
            for version in versions_in_use
            if not self.has_version(version)
        ]

    def close(self) -> None:  # noqa: B027 (most providers hold nothing to release)
        """Release sessions or handles; called when providers are reset."""


_registry: dict[str, type[KeyProvider]] = {}
_instances: dict[str, KeyProvider] = {}
_lock = threading.Lock()


def register_provider(cls: type[KeyProvider]) -> type[KeyProvider]:
    _registry[cls.name] = cls
    return cls


def active_provider_name() -> str:
    return str(getattr(settings, "GUICHET_KEY_PROVIDER", DEFAULT_PROVIDER) or DEFAULT_PROVIDER)


def get_provider(name: str | None = None) -> KeyProvider:
    """The provider instance for `name` (the configured one by default), built once per process."""
    _load_builtin_providers()
    name = name or active_provider_name()
    with _lock:
        instance = _instances.get(name)
        if instance is None:
            cls = _registry.get(name)
            if cls is None:
                known = ", ".join(sorted(_registry))
                raise VaultMisconfigured(f"Unknown key provider {name!r} (known: {known}).")
            instance = _instances[name] = cls()
        return instance


def reset_providers() -> None:
    """Forget provider instances so the next use rereads settings (tests, settings changes)."""
    from guichet.vault.providers.ed25519 import reset_ed25519_keys

    reset_ed25519_keys()
    with _lock:
        for instance in _instances.values():
            instance.close()
        _instances.clear()


def _load_builtin_providers() -> None:
    # Imported lazily so that the pkcs11 module is only needed where the HSM is configured.
    from guichet.vault.providers import local, pkcs11, transit

    del local, pkcs11, transit
