"""A small HTTP load generator on the standard library: threads, keep-alive connections.

It only ever talks to 127.0.0.1 (refuses any other host) and every run is bounded by a duration
and, optionally, a count. Two shapes:

- closed loop: N clients, each sends its next request when the previous one is answered
  (throughput at a given concurrency, the usual "16 concurrent clients" figure);
- open loop: arrivals at a rate that may change with time, whatever the answers (a deadline-day
  crowd does not slow down because the site is slow), on a bounded pool of threads.

A "task" is a function given a Client; it returns a label for the result ("ok", "shed", ...)
and may record latencies itself through the client (each request is timed).
"""

import http.client
import json
import select
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOCAL = "127.0.0.1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Stats:
    """Latencies per request name and status counts, shared by every thread of a run."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, status: int, seconds: float) -> None:
        with self.lock:
            if 200 <= status < 300:
                self.latencies.setdefault(name, []).append(seconds)
            self.statuses[f"{name} {status}"] += 1

    def outcome(self, label: str) -> None:
        with self.lock:
            self.outcomes[label] += 1

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1

    def count(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for key, n in self.statuses.items() if predicate(int(key.rsplit(" ", 1)[1])))


class Client:
    """One keep-alive connection to the local server; reconnects after any failure."""

    def __init__(self, port: int, stats: Stats, timeout: float = 30.0, host: str = LOCAL) -> None:
        if host != LOCAL:
            raise ValueError("the load generator only targets 127.0.0.1")
        self.port = port
        self.stats = stats
        self.timeout = timeout
        self.headers: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _dropped(self) -> bool:
        """Whether the server closed this idle keep-alive connection (granian does after 30 s
        idle). Every HTTP client checks this before reusing a connection (urllib3, browsers);
        without it the next request would fail as if the server had dropped it."""
        sock = self.connection.sock if self.connection is not None else None
        if sock is None:
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)  # an idle connection is readable only at EOF (or on stray bytes)

    def request(
        self,
        name: str,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request and time it. A connection failure gives status 0 (no answer)."""
        merged = {**self.headers, **(headers or {})}
        started = time.perf_counter()
        try:
            if self.connection is not None and self._dropped():
                self.close()
            if self.connection is None:
                self.connection = http.client.HTTPConnection(LOCAL, self.port, timeout=self.timeout)
            self.connection.request(method, path, body=body, headers=merged)
            response = self.connection.getresponse()
            data = response.read()
            reply = Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                data,
                time.perf_counter() - started,
            )
            if response.will_close:
                self.close()
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            self.close()
            self.stats.error(type(error).__name__)
            reply = Reply(0, {}, b"", time.perf_counter() - started)
        self.stats.add(name, reply.status, reply.seconds)
        return reply

    def json(self, name: str, method: str, path: str, payload: Any = None) -> Reply:
        body = json.dumps(payload if payload is not None else {}).encode()
        return self.request(name, method, path, body, {"Content-Type": "application/json"})


Task = Callable[[Client], str]


def closed_loop(
    port: int,
    clients: int,
    task: Task,
    seconds: float,
    *,
    max_tasks: int | None = None,
    prepare: Callable[[int, Client], None] | None = None,
    stats: Stats | None = None,
) -> tuple[Stats, float]:
    """`clients` threads each run `task` back to back for `seconds` (or until `max_tasks` in all).
    Returns the stats and the measured wall time."""
    stats = stats or Stats()
    remaining = [max_tasks if max_tasks is not None else -1]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def take() -> bool:
        with lock:
            if remaining[0] == 0:
                return False
            if remaining[0] > 0:
                remaining[0] -= 1
            return True

    def run(index: int) -> None:
        client = Client(port, stats)
        if prepare is not None:
            prepare(index, client)
        start.wait()
        while time.perf_counter() < deadline[0] and take():
            stats.outcome(task(client))
        client.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds + 3600  # set properly once every client is ready
    start.wait()
    began = time.perf_counter()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return stats, time.perf_counter() - began


def open_loop(
    port: int,
    rate: Callable[[float], float],
    task: Task,
    seconds: float,
    *,
    threads: int = 200,
    prepare: Callable[[int, Client], None] | None = None,
    stats: Stats | None = None,
    on_tick: Callable[[float, Stats], None] | None = None,
) -> Stats:
    """Arrivals at `rate(t)` per second for `seconds`, each handled by a free thread of a pool
    of `threads`. An arrival that finds no free thread is counted as "client saturated" (the
    generator, not the server, was the limit) and dropped, so the offered load stays bounded."""
    stats = stats or Stats()
    pending = threading.Semaphore(0)
    stop = threading.Event()
    idle = [threads]
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = Client(port, stats)
        if prepare is not None:
            prepare(index, client)
        while True:
            pending.acquire()
            if stop.is_set():
                break
            stats.outcome(task(client))
            with lock:
                idle[0] += 1
        client.close()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    began = time.perf_counter()
    sent = 0.0
    last_tick = previous = began
    while (now := time.perf_counter()) - began < seconds:
        elapsed = now - began
        # Integrate the rate: arrivals due by now, sent as they fall due.
        sent += rate(elapsed) * (now - previous)
        previous = now
        while sent >= 1:
            sent -= 1
            with lock:
                free = idle[0] > 0
                if free:
                    idle[0] -= 1
            if free:
                pending.release()
            else:
                stats.outcome("client saturated")
        if on_tick is not None and now - last_tick >= 1:
            last_tick = now
            on_tick(elapsed, stats)
        time.sleep(0.005)
    stop.set()
    for _ in pool:
        pending.release()
    for thread in pool:
        thread.join(timeout=60)
    return stats


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def p50_95_99(values: list[float]) -> tuple[float, float, float]:
    """Milliseconds."""
    return tuple(1000 * percentile(values, p) for p in (0.50, 0.95, 0.99))  # type: ignore[return-value]
