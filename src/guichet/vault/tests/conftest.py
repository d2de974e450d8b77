"""The vault's key isolation fixture lives in guichet.testing, since every app now encrypts."""

from guichet.testing import reset_vault_process_state

__all__ = ["reset_vault_process_state"]
