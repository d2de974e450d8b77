"""What the project-level tests share: running `guichet` as a separate process."""

import os
import subprocess
import sys
from pathlib import Path

# Variables of the test run that must not leak into a child process configured on purpose
# (the browser tests, for one, set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy refuses).
_CONFIG_PREFIXES = ("GUICHET_", "DATABASE_URL", "EMAIL_", "DJANGO_")


def guichet_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """A clean environment for `guichet`: SQLite and secrets under var_dir, nothing inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_CONFIG_PREFIXES)}
    env["GUICHET_VAR_DIR"] = str(var_dir)
    env["DJANGO_SETTINGS_MODULE"] = "guichet.settings"
    env.update(overrides)
    return env


def run_guichet(var_dir: Path, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("guichet")
    return subprocess.run(  # noqa: S603 (our own console script)
        [str(script), *args],
        env=guichet_env(var_dir, **overrides),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
