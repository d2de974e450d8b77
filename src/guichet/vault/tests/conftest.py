"""Every vault test gets its own key directory and a cold key cache, so no test leaks keys into
var/ or finds a key another test unwrapped."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guichet.vault.blind import forget_blind_index_key
from guichet.vault.cache import reset_key_cache
from guichet.vault.providers import reset_providers


def reset_vault_process_state() -> None:
    reset_providers()
    reset_key_cache()
    forget_blind_index_key()


@pytest.fixture(autouse=True)
def vault_keys(tmp_path: Path, settings: Any) -> Iterator[Path]:
    keys = tmp_path / "keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(keys)
    settings.GUICHET_KEY_PROVIDER = "local"
    reset_vault_process_state()
    yield keys
    reset_vault_process_state()
