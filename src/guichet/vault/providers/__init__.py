"""Key providers: where key-encryption keys live. See base.py for the interface and registry."""

from guichet.vault.providers.base import (
    KeyProvider,
    active_provider_name,
    get_provider,
    register_provider,
    reset_providers,
)

__all__ = [
    "KeyProvider",
    "active_provider_name",
    "get_provider",
    "register_provider",
    "reset_providers",
]
