"""Vault speed on this machine, against baselines measured in the same run.

    .venv/bin/python bench/vault_bench.py [--rotate-keys 100000] [--pkcs11-keys 20000]
                                          [--stream-mb 100] [--quick]

Runs on a throwaway SQLite database and key directory in a temporary folder (GUICHET_VAR_DIR and
DATABASE_URL are set before Django starts), so it never touches var/. Figures:

- field: encrypt + decrypt of a 1 KiB text field with a cached data key, against bare AESGCM
  encrypt + decrypt of the same bytes (goal: under 20 us);
- stream: a 100 MB attachment sealed to disk and read back through DecryptingReader, against a
  plain write + read of the same bytes;
- rotation: rewrapping N data keys with the local provider (goal: 100,000 under 60 s), and with
  SoftHSM2 through PKCS#11 when the module is installed.
"""

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="guichet-vault-bench-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ["GUICHET_VAR_DIR"] = str(WORK)
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guichet.settings")
os.environ["GUICHET_LOG_LEVEL"] = "WARNING"

import django

django.setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from guichet.vault import rotation, service
from guichet.vault.cache import reset_key_cache
from guichet.vault.keys import active_kek
from guichet.vault.models import DataKey
from guichet.vault.providers import get_provider, reset_providers
from guichet.vault.providers.pkcs11 import DEFAULT_MODULE

Row = tuple[str, str, str, str]
HSM_LABEL = "guichet-bench"
PIN = "1234"


def per_op_us(action: Callable[[], object], count: int, repeats: int = 5) -> float:
    """Median over `repeats` runs of the mean time of one call, in microseconds."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            action()
        runs.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(runs)


def bench_field(count: int) -> list[Row]:
    owner = f"dossier:{uuid.uuid4()}"
    value = "x" * 1023  # 1 KiB of plaintext with the kind byte
    service.decrypt_text(owner, 1, "answers", service.encrypt_field(owner, 1, "answers", value))

    def vault_round_trip() -> object:
        sealed = service.encrypt_field(owner, 1, "answers", value)
        return service.decrypt_text(owner, 1, "answers", sealed)

    aead = AESGCM(AESGCM.generate_key(256))
    data = value.encode()
    aad = b"d" * 60

    def bare_round_trip() -> object:
        nonce = os.urandom(12)
        return aead.decrypt(nonce, aead.encrypt(nonce, data, aad), aad)

    vault_us = per_op_us(vault_round_trip, count)
    bare_us = per_op_us(bare_round_trip, count)
    goal = "ok" if vault_us < 20 else "MISSED"
    return [
        ("field 1 KiB enc+dec, bare AESGCM", f"{bare_us:.2f} us", "", ""),
        (
            "field 1 KiB enc+dec, vault (cached DEK)",
            f"{vault_us:.2f} us",
            f"{vault_us / bare_us:.1f}x bare",
            f"goal < 20 us: {goal}",
        ),
    ]


def _blocks(megabytes: int) -> Iterator[bytes]:
    block = os.urandom(1024 * 1024)
    for _ in range(megabytes):
        yield block


def _plain_copy(path: Path, megabytes: int) -> None:
    with path.open("wb") as out:
        for block in _blocks(megabytes):
            out.write(block)
    with path.open("rb") as handle:
        while handle.read(64 * 1024):
            pass


def _vault_copy(path: Path, megabytes: int) -> None:
    with path.open("wb") as out:
        service.encrypt_stream("dossier:bench", "att", "content", _blocks(megabytes), out)
    with path.open("rb") as handle:
        reader = service.open_attachment(handle, "dossier:bench", "att", "content")
        while reader.read(64 * 1024):
            pass


def bench_stream(megabytes: int, repeats: int = 3) -> list[Row]:
    """Best of `repeats` alternating runs: the page cache and writeback make single runs noisy."""
    timings: dict[str, list[float]] = {"plain": [], "vault": []}
    path = WORK / "stream.bin"
    for _ in range(repeats):
        for name, copy in (("plain", _plain_copy), ("vault", _vault_copy)):
            started = time.perf_counter()
            copy(path, megabytes)
            timings[name].append(time.perf_counter() - started)
            path.unlink()
    plain_s, vault_s = min(timings["plain"]), min(timings["vault"])
    mb = megabytes * 1024 * 1024 / 1e6
    return [
        (f"stream {megabytes} MB write+read, plain file", f"{mb / plain_s:.0f} MB/s", "", ""),
        (
            f"stream {megabytes} MB write+read, vault",
            f"{mb / vault_s:.0f} MB/s",
            f"{plain_s / vault_s:.2f}x plain",
            "",
        ),
    ]


def seed_keys(count: int) -> None:
    """`count` data keys wrapped under the active KEK, inserted in bulk."""
    kek = active_kek()
    provider = get_provider(kek.provider)
    now = timezone.now()
    batch: list[DataKey] = []
    for index in range(count):
        dek = os.urandom(32)
        wrapped = provider.wrap(kek.version, dek)
        batch.append(
            DataKey(owner=f"bench:{uuid.uuid4()}", wrapped=wrapped, kek=kek, created_at=now)
        )
        if len(batch) == 5000 or index == count - 1:
            DataKey.objects.bulk_create(batch)
            batch = []


def bench_rotation(label: str, count: int, goal: float | None) -> Row:
    DataKey.objects.all().delete()
    seed_keys(count)
    reset_key_cache()
    started = time.perf_counter()
    done, _ = rotation.rotate(batch_size=1000)
    seconds = time.perf_counter() - started
    assert done.rewrapped == count, (done.rewrapped, count)
    verdict = "" if goal is None else f"goal < {goal:.0f} s: {'ok' if seconds < goal else 'MISSED'}"
    return (
        f"rotate {count:,} DEKs, {label}",
        f"{seconds:.1f} s",
        f"{count / seconds:,.0f} keys/s",
        verdict,
    )


def setup_softhsm() -> str | None:
    if not Path(DEFAULT_MODULE).exists():
        return f"SoftHSM2 not installed ({DEFAULT_MODULE} missing)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 not installed"
    tokens = WORK / "tokens"
    tokens.mkdir()
    conf = WORK / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    util = shutil.which("softhsm2-util")
    if util is None:
        return "softhsm2-util not on PATH"
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            HSM_LABEL,
            "--pin",
            PIN,
            "--so-pin",
            "12345678",
        ],
        check=True,
        capture_output=True,
    )
    settings.GUICHET_PKCS11_TOKEN_LABEL = HSM_LABEL
    settings.GUICHET_PKCS11_PIN = PIN
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    reset_providers()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotate-keys", type=int, default=100_000)
    parser.add_argument("--pkcs11-keys", type=int, default=20_000)
    parser.add_argument("--stream-mb", type=int, default=100)
    parser.add_argument("--field-count", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.rotate_keys, args.pkcs11_keys, args.stream_mb, args.field_count = 5000, 500, 10, 2000

    call_command("migrate", verbosity=0)
    rows: list[Row] = []
    rows += bench_field(args.field_count)
    rows += bench_stream(args.stream_mb)
    rows.append(bench_rotation("local provider", args.rotate_keys, goal=60))
    problem = setup_softhsm()
    if problem is None:
        rows.append(bench_rotation("PKCS#11 SoftHSM2 2.6.1", args.pkcs11_keys, goal=None))
    else:
        rows.append(("rotate, PKCS#11", "skipped", problem, ""))

    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(f"Vault bench on {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
