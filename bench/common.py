"""What the load benchmarks and drills share: a throw-away instance served exactly as production
serves it (scripts/serve.sh: granian, the task worker, the scheduler), an optional throw-away
PostgreSQL cluster, citizens with API tokens, the submission journey, memory readings.

A script using it calls `setup_environment()` before anything imports Django: the instance lives
in a temporary folder (never var/), on SQLite there or on its own PostgreSQL cluster, and this
process shares its settings so it can prepare the data and check the results through the ORM.
"""

import atexit
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks import Receipt

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PROCEDURE = "extrait-acte-naissance"
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PDF_SHA256 = hashlib.sha256(PDF_BYTES).hexdigest()
BOUNDARY = "guichetbenchboundary7f3a"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM and the load average now, for the record."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        ram_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        ram_kb = 0
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "ram": f"{ram_kb / 1048576:.0f} GiB",
        "load": f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": sys.version.split()[0],
    }


# --- PostgreSQL ----------------------------------------------------------------------------------


def postgres_missing() -> str | None:
    for binary in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / binary).exists():
            return f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15)"
    return None


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throw-away cluster on a free loopback port, durable (fsync and synchronous_commit on,
    as production), so commit costs and crash recovery are real."""

    def __init__(self) -> None:
        # Apart from the instance's folder (0700, root's): the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="guichet-bench-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/guichet"

    def init(self) -> None:
        (self.root / "socket").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root / "socket", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.start()
        subprocess.run(
            [
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "guichet",
            ],
            check=True,
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root / 'socket'} "
            "-c max_connections=300 -c shared_buffers=256MB -c fsync=on "
            "-c synchronous_commit=on"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-w",
                    "-t",
                    "120",
                    "-o",
                    options,
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def postmaster(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """A power cut for the database: SIGKILL to the postmaster and every backend at once."""
        pid = self.postmaster()
        if pid is None:
            return
        for victim in [pid, *descendants(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        for _ in range(100):
            if not any(Path(f"/proc/{p}").exists() for p in [pid, *descendants(pid)]):
                break
            time.sleep(0.05)

    def stop(self) -> None:
        if self.postmaster() is not None:
            subprocess.run(
                [
                    *_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast"]),
                    "-w",
                    "stop",
                ],
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )


# --- The instance -------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and brackets: the ppid is 2 fields after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    result: list[int] = []
    queue = [pid]
    while queue:
        for child in children(queue.pop()):
            result.append(child)
            queue.append(child)
    return result


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB: RSS counts shared pages in every process, PSS shares them out."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5); here counted after the ")" (field 2).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Instance:
    """Guichet in a temporary folder, started by scripts/serve.sh as `make run` starts it."""

    db: str = "sqlite"
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="guichet-bench-")))
    port: int = field(default_factory=free_port)
    postgres: Postgres | None = None
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def var(self) -> Path:
        return self.work / "var"

    def environment(self) -> dict[str, str]:
        env = {
            "GUICHET_VAR_DIR": str(self.var),
            "DATABASE_URL": self.postgres.url
            if self.postgres
            else f"sqlite:///{self.var / 'guichet.sqlite3'}",
            "GUICHET_BENCH_ENDPOINTS": "1",
            "GUICHET_LOG_LEVEL": "WARNING",
            "GUICHET_SITE_URL": f"http://127.0.0.1:{self.port}",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DJANGO_SETTINGS_MODULE": "guichet.settings",
        }
        env.update(self.extra_env)
        return env

    def log_path(self) -> Path:
        return self.work / "server.log"

    def start(self, wait: float = 90) -> float:
        """Start scripts/serve.sh; returns the seconds until /healthz answered 200."""
        env = {**os.environ, **self.environment()}
        log = self.log_path().open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "serve.sh")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self.wait_healthy(wait):
            raise RuntimeError(f"the server did not answer within {wait} s; see {self.log_path()}")
        return time.perf_counter() - started

    def wait_healthy(self, wait: float) -> bool:
        deadline = time.perf_counter() + wait
        while time.perf_counter() < deadline:
            if self.healthy():
                return True
            if self.process is not None and self.process.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/healthz", timeout=2
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def processes(self) -> dict[str, list[int]]:
        """The instance's processes by role: web master, web workers, task worker, scheduler."""
        roles: dict[str, list[int]] = {"serve.sh": [], "web master": [], "web worker": []}
        roles.update({"task worker": [], "scheduler": []})
        if self.process is None:
            return roles
        roles["serve.sh"] = [self.process.pid]
        for pid in children(self.process.pid):
            line = cmdline(pid)
            if "granian" in line:
                roles["web master"].append(pid)
                roles["web worker"] += children(pid)
            elif "db_worker" in line:  # serve.sh's restart loop, then the worker itself
                roles["task worker"] += [pid, *children(pid)]
            elif "schedule" in line:
                roles["scheduler"] += [pid, *children(pid)]
        return roles

    def memory(self) -> dict[str, tuple[int, int]]:
        """Largest RSS and PSS (kB) per role, and the sum over the whole instance."""
        result: dict[str, tuple[int, int]] = {}
        total_rss = total_pss = 0
        for role, pids in self.processes().items():
            readings = [memory_kb(pid) for pid in pids]
            for rss, pss in readings:
                total_rss += rss
                total_pss += pss
            if readings:
                result[role] = max(readings)
        result["whole instance"] = (total_rss, total_pss)
        return result

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far per role, summed over its processes; "load generator" is
        this process. Read before and after a phase, the difference says where the CPU went."""
        used = {
            role: sum(cpu_seconds(pid) for pid in pids) for role, pids in self.processes().items()
        }
        used["load generator"] = sum(os.times()[:2])
        postmaster = self.postgres.postmaster() if self.postgres else None
        if postmaster is not None:
            used["database"] = sum(cpu_seconds(p) for p in [postmaster, *descendants(postmaster)])
        return used

    def kill9(self) -> None:
        """The application machine dies: SIGKILL to serve.sh and every process under it."""
        if self.process is None:
            return
        victims = [self.process.pid, *descendants(self.process.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        for _ in range(100):
            if not any(Path(f"/proc/{pid}").exists() for pid in victims):
                break
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self.postgres is not None:
            self.postgres.stop()
            shutil.rmtree(self.postgres.root, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


def setup_environment(db: str) -> Instance:
    """Make the instance (and its cluster), export its settings to this process, register its
    cleanup. Call before Django is imported."""
    instance = Instance(db=db)
    atexit.register(instance.cleanup)
    instance.var.mkdir(parents=True)
    if db == "postgres":
        instance.postgres = Postgres()
        instance.postgres.init()
    os.environ.update(instance.environment())
    return instance


def prepare_data(citizens: int) -> list[str]:
    """Migrate, collect static files, load the demo; return API tokens of new citizens."""
    import django

    django.setup()
    from django.core.management import call_command

    from guichet.demo import load_demo
    from guichet.identity.actions import do_create_token
    from guichet.identity.models import User

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    load_demo(with_dossiers=False)
    tokens = []
    for index in range(citizens):
        user = User.objects.create_user(
            f"bench-{uuid.uuid4().hex[:12]}@example.sn", None, full_name=f"Citoyenne {index}"
        )
        tokens.append(do_create_token(user, "bench")[1])
    return tokens


# --- The citizen's journey ----------------------------------------------------------------------


def answers_for(rng: random.Random) -> dict[str, Any]:
    """Answers to the birth-certificate procedure, different every time, so a check can tell
    one dossier's answers from another's."""
    return {
        "full_name": f"Awa Diop {rng.randrange(10**9)}",
        "birth_date": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
        "copy_kind": "extract",
        "copies": rng.randrange(1, 5),
        "phone": f"77 {rng.randrange(100, 999)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
    }


def upload_body() -> tuple[bytes, str]:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="field"\r\n\r\nid_document\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="piece.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF_BYTES
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


@dataclass
class Receipts:
    items: list[Receipt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, receipt: Receipt) -> None:
        with self.lock:
            self.items.append(receipt)


def outcome(status: int) -> str:
    if status == 0:
        return "no answer"
    if status in (429, 503):
        return "shed"
    if status >= 500:
        return "5xx"
    return f"{status}"


def draft(client: Any, rng: random.Random) -> tuple[str | None, dict[str, Any], str]:
    """Create a draft with its answers and upload the document. (id, answers, outcome)."""
    answers = answers_for(rng)
    created = client.json(
        "create", "POST", "/api/v1/dossiers", {"procedure": PROCEDURE, "data": answers}
    )
    if created.status != 201:
        return None, answers, outcome(created.status)
    dossier_id = created.json()["id"]
    body, content_type = upload_body()
    uploaded = client.request(
        "upload",
        "POST",
        f"/api/v1/dossiers/{dossier_id}/attachments",
        body,
        {"Content-Type": content_type},
    )
    if uploaded.status != 201:
        return None, answers, outcome(uploaded.status)
    return dossier_id, answers, "ok"


def submit(client: Any, dossier_id: str, answers: dict[str, Any], receipts: Receipts) -> str:
    submitted = client.json("submit", "POST", f"/api/v1/dossiers/{dossier_id}/submit")
    if submitted.status != 200:
        return outcome(submitted.status)
    number = submitted.json().get("number")
    receipts.add(Receipt(dossier_id, str(number), answers, PDF_SHA256))
    return "ok"


def journey(client: Any, rng: random.Random, receipts: Receipts) -> str:
    """A citizen's whole submission: create with answers, upload the document, submit."""
    dossier_id, answers, result = draft(client, rng)
    if dossier_id is None:
        return result
    return submit(client, dossier_id, answers, receipts)


def write_json(path: str | None, rows: list[dict[str, Any]]) -> None:
    """Machine-readable rows for bench/run_all.py, when asked for."""
    if path:
        Path(path).write_text(json.dumps(rows, indent=1))


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    header = ("figure", "Guichet", "baseline", "ratio", "p50/p95/p99 ms", "goal", "result")
    keys = ("figure", "guichet", "baseline", "ratio", "latency", "goal", "result")
    table = [header, *[tuple(str(row.get(k, "")) for k in keys) for row in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print(f"\n{title}")
    for line in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
