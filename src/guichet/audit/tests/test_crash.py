"""Crash: kill -9 the production server (granian, as scripts/serve.sh starts it) in the middle of
submissions and transitions, start it again, and check that the log still verifies and that
every committed change has its event, and every event its change.

Runs a real server on its own SQLite database in a temporary folder (never the one named by
DATABASE_URL), so it takes a while: marked `slow`, and still run by `make test`.
"""

import http.client
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from guichet.testing import BIRTH, BIRTH_ANSWERS, PDF_BYTES, PERSONAS

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# DossierEvent (kind, action) -> the log's action code (dossiers/actions.py, journal.py).
LOG_CODE = {
    ("created", ""): 101,
    ("saved", ""): 102,
    ("attachment_added", ""): 103,
    ("attachment_removed", ""): 104,
    ("message", ""): 113,
    ("transition", "submit"): 105,
    ("transition", "take"): 106,
    ("transition", "assign"): 107,
    ("transition", "request_changes"): 108,
    ("transition", "resubmit"): 109,
    ("transition", "accept"): 110,
    ("transition", "reject"): 111,
    ("transition", "withdraw"): 112,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(var: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GUICHET_") and k != "DATABASE_URL"
    }
    env.update(
        GUICHET_VAR_DIR=str(var),
        GUICHET_TASKS="immediate",  # no worker: notifications are written inline, after commit
        GUICHET_LOG_LEVEL="WARNING",
        GUICHET_AUDIT_ORIGIN="crash.test/transparency",
    )
    return env


def _guichet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command, fixed arguments)
        [str(BIN / "guichet"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    # The command line of scripts/serve.sh; a session of its own, so kill -9 reaches the
    # master and its workers at once, as a power cut or the OOM killer would.
    server = subprocess.Popen(  # noqa: S603
        [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--blocking-threads",
            "4",
            "--no-ws",
            "guichet.wsgi:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise AssertionError("the server did not answer /healthz within 60 s")


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1/"
        self.token = token

    def call(self, method: str, path: str, body: Any = None, files: bytes | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if files is not None:
            boundary = uuid.uuid4().hex
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            data = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="field"\r\n\r\n'
                    f"id_document\r\n--{boundary}\r\nContent-Disposition: form-data; "
                    f'name="file"; filename="piece.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
                ).encode()
                + files
                + f"\r\n--{boundary}--\r\n".encode()
            )
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)  # noqa: S310
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                    return json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as error:
                if error.code != 503:  # load shedding (middleware.py): try again shortly
                    raise
                time.sleep(0.1)
        raise AssertionError(f"{method} {path}: still shed after 50 tries")


def _citizen_traffic(
    api: Api, stop: threading.Event, done: list[tuple[str, str]], taken: "queue.Queue[str]"
) -> None:
    while not stop.is_set():
        try:
            dossier = api.call("POST", "dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
            done.append((dossier["id"], "created"))
            api.call("POST", f"dossiers/{dossier['id']}/attachments", files=PDF_BYTES)
            done.append((dossier["id"], "attachment_added"))
            api.call("POST", f"dossiers/{dossier['id']}/submit")
            done.append((dossier["id"], "submit"))
            taken.put(dossier["id"])
        except (OSError, urllib.error.URLError, ValueError, http.client.HTTPException):
            return  # the server is gone: the crash (mid-answer too: an incomplete read)


def _agent_traffic(
    api: Api, stop: threading.Event, done: list[tuple[str, str]], taken: "queue.Queue[str]"
) -> None:
    while not stop.is_set():
        try:
            dossier_id = taken.get(timeout=0.2)
        except queue.Empty:
            continue
        try:
            api.call("POST", f"dossiers/{dossier_id}/transitions", {"action": "take"})
            done.append((dossier_id, "take"))
            api.call("GET", f"dossiers/{dossier_id}")
        except urllib.error.HTTPError as error:
            if error.code >= 500:
                raise
        except (OSError, urllib.error.URLError, ValueError):
            return


def _rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_kill_9_mid_traffic_loses_no_event_and_the_log_verifies(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = _environment(var)
    for command in (["migrate", "--no-input"], ["demo", "--no-dossiers", "--quiet"]):
        prepared = _guichet(env, *command)
        assert prepared.returncode == 0, prepared.stderr[-2000:]
    tokens = {}
    for persona in ("citizen_a", "citizen_b", "instructor"):
        made = _guichet(env, "token", "create", PERSONAS[persona], "--name", "crash")
        assert made.returncode == 0, made.stderr
        tokens[persona] = made.stdout.strip().split()[-1]

    port = _free_port()
    server = _start_server(env, port)
    stop = threading.Event()
    done: list[tuple[str, str]] = []
    taken: queue.Queue[str] = queue.Queue()
    workers = [
        threading.Thread(target=_citizen_traffic, args=(Api(port, tokens[p]), stop, done, taken))
        for p in ("citizen_a", "citizen_b", "citizen_a")
    ] + [
        threading.Thread(
            target=_agent_traffic, args=(Api(port, tokens["instructor"]), stop, done, taken)
        )
    ]
    for worker in workers:
        worker.start()
    # Let traffic build up, then pull the plug in the middle of it.
    deadline = time.monotonic() + 30
    while len([d for d in done if d[1] == "take"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    assert len(done) >= 6, f"too little traffic before the crash: {done}"

    # Back up after the crash: the server answers and takes new work.
    port = _free_port()
    server = _start_server(env, port)
    try:
        citizen = Api(port, tokens["citizen_a"])
        after = citizen.call("POST", "dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
        done.append((after["id"], "created"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    signed = _guichet(env, "audit", "checkpoint")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    verified = _guichet(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    database = var / "guichet.sqlite3"
    history = Counter(
        (str(uuid.UUID(dossier_id)), LOG_CODE[(kind, action)])
        for dossier_id, kind, action in _rows(
            database, "SELECT dossier_id, kind, action FROM dossiers_dossierevent"
        )
    )
    logged = Counter(
        (object_id, action)
        for object_id, action in _rows(
            database,
            "SELECT object_id, action FROM audit_auditevent "
            "WHERE object_type = 'dossier' AND action BETWEEN 101 AND 113",
        )
    )
    # No change without its event, no event without its change.
    assert history == logged
    # Every change the clients saw committed (a 2xx answer) is there, with its event.
    codes = {"created": 101, "attachment_added": 103, "submit": 105, "take": 106}
    for dossier_id, step in done:
        assert logged[(dossier_id, codes[step])] >= 1, (dossier_id, step)
