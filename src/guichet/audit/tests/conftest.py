"""Every audit test signs with its own key under its own VAR_DIR, and names the log alike."""

from pathlib import Path
from typing import Any

import pytest

ORIGIN = "guichet.test/transparency"


@pytest.fixture(autouse=True)
def audit_settings(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.GUICHET_AUDIT_ORIGIN = ORIGIN
    settings.GUICHET_AUDIT_KEY_FILE = str(tmp_path / "var" / "keys" / "audit-ed25519.key")
    return Path(settings.VAR_DIR)
