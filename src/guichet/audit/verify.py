"""`guichet audit verify`: rebuild the whole tree from the event rows and check it against the
stored tree and every signed checkpoint.

What is checked, in one pass over the events in sequence order, 2**14 events at a time:

1. every checkpoint carries a valid Ed25519 signature by the log key, names this log's origin,
   and its row agrees with its signed text;
2. sequence numbers run 0, 1, 2, ... without a gap (a deleted row leaves one);
3. each event's canonical bytes hash to the stored leaf (a modified, inserted or reordered row
   does not);
4. every stored perfect subtree hash equals the one rebuilt from the events (an attacker who
   rewrote a leaf must also rewrite the nodes above it);
5. the root rebuilt at each checkpoint's size equals the signed root (an attacker who rewrote
   the whole stored tree cannot re-sign), and consecutive checkpoints are consistent (RFC 9162
   §2.1.4 proof built from the verified nodes and checked against the two signed roots);
6. no checkpoint is larger than the log (truncation), no event lies beyond the log head, and
   the head's frontier matches the rebuilt tree.

The first bad entry is the smallest sequence number among the problems found; where only a
checkpoint root disagrees, it is the first entry that no good checkpoint covers.

Chunks are independent up to their top hash, so with `jobs` > 1 they are checked by forked
worker processes (each with its own database connection) and only the tops, and the few
hashes needed for checkpoint roots, come back to be combined in order.
"""

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from django.db import connection, connections
from django.db.models import Q, QuerySet

from guichet.audit import encoding, keys, notes, service, tlog
from guichet.audit.models import AuditEvent, Checkpoint, LogHead, TreeNode

CHUNK_LEVEL = 14
CHUNK = 1 << CHUNK_LEVEL


@dataclass(frozen=True)
class Problem:
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = "log" if self.seq is None else f"entry {self.seq}"
        return f"{where}: {self.message}"


@dataclass
class SignedSize:
    size: int
    root: bytes
    label: str


@dataclass
class Report:
    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_entry(self) -> int | None:
        numbered = [problem.seq for problem in self.problems if problem.seq is not None]
        return min(numbered) if numbered else None


def default_jobs() -> int:
    """Worker processes for a verification: forked workers need their own connection to the
    same, committed data, which an in-memory SQLite database or an open transaction lacks."""
    if connection.in_atomic_block:
        return 1
    if connection.vendor == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def verify_log(
    *,
    trusted_key: str | None = None,
    witnessed: Sequence[str] = (),
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Verify the log. `trusted_key` is a signed-note verifier key ("name+id+key") to use
    instead of the local key file; `witnessed` are checkpoints obtained from elsewhere (a
    witness, an earlier download) that the log must still match."""
    report = Report()
    name, public = _trusted(trusted_key)
    head = LogHead.objects.filter(pk=1).first()
    size = head.size if head is not None else _events_end()
    if head is None and size:
        report.problems.append(Problem(None, "the log head row is missing"))
    signed = _signed_sizes(name, public, witnessed, report)
    report.checkpoints = len(signed)
    for checkpoint in signed:
        if checkpoint.size > size:
            report.problems.append(
                Problem(
                    size,
                    f"{checkpoint.label} covers {checkpoint.size} entries but the log has only "
                    f"{size}: entries {size} to {checkpoint.size - 1} are missing (truncated)",
                )
            )
    rebuild = _Rebuild(size, signed, report)
    if rebuild.run(jobs, progress):
        report.size = size
        report.root = rebuild.root_at_end
        _check_head(head, size, report.root, report)
        _check_consistency([item for item in signed if item.size <= size], report)
    _check_extra_rows(size, report)
    report.problems.sort(key=lambda problem: (problem.seq is None, problem.seq or 0))
    return report


def _trusted(vkey: str | None) -> tuple[str, bytes]:
    if vkey:
        return notes.parse_verifier_key(vkey)
    return keys.log_origin(), keys.public_key()


def _events_end() -> int:
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return 0 if last is None else last + 1


def _signed_sizes(
    name: str, public: bytes, witnessed: Sequence[str], report: Report
) -> list[SignedSize]:
    """The (size, root) pairs the log key really signed; forged or altered ones are reported."""
    signed: list[SignedSize] = []
    for row in Checkpoint.objects.order_by("tree_size", "id"):
        label = f"checkpoint {row.pk} (size {row.tree_size})"
        body = _open(row.note, name, public, label, report)
        if body is None:
            continue
        if body.size != row.tree_size or body.root != bytes(row.root_hash):
            report.problems.append(
                Problem(None, f"{label}: the stored size or root differs from the signed text")
            )
            continue
        signed.append(SignedSize(body.size, body.root, label))
    for number, note in enumerate(witnessed, start=1):
        label = f"witnessed checkpoint {number}"
        body = _open(note, name, public, label, report)
        if body is not None:
            signed.append(SignedSize(body.size, body.root, f"{label} (size {body.size})"))
    signed.sort(key=lambda item: item.size)
    return signed


def _open(
    note: str, name: str, public: bytes, label: str, report: Report
) -> notes.CheckpointBody | None:
    try:
        body = notes.parse_checkpoint(notes.open_note(note, name, public))
    except notes.NoteError as error:
        report.problems.append(Problem(None, f"{label} is forged or altered: {error}"))
        return None
    if body.origin != name:
        report.problems.append(Problem(None, f"{label} names another log: {body.origin}"))
        return None
    return body


# --- One chunk: runs in a worker process when jobs > 1 ----------------------------------------


@dataclass
class ChunkResult:
    start: int
    end: int
    problem: Problem | None = None
    top: bytes | None = None  # the level-CHUNK_LEVEL hash of a full chunk
    # For each size in (start, end] that needs a root: the hashes of its perfect subtrees
    # below CHUNK_LEVEL, which all lie inside this chunk.
    low: dict[int, list[bytes]] = field(default_factory=dict)


def check_chunk(start: int, end: int, sizes: Sequence[int]) -> ChunkResult:
    """Rebuild entries [start, end) (start aligned on CHUNK) and compare with storage."""
    result = ChunkResult(start, end)
    seqs, leaves = _rebuilt_leaves(start, end)
    stored = _stored_nodes(start, end, CHUNK_LEVEL - 1)
    missing = _first_gap(seqs, start, end)
    stored_leaves = stored.get(0, [])
    limit = (end if missing is None else missing) - start
    if leaves[:limit] != stored_leaves[:limit] or len(stored_leaves) < limit:
        offset = next(
            i for i in range(limit) if i >= len(stored_leaves) or leaves[i] != stored_leaves[i]
        )
        result.problem = Problem(
            start + offset,
            "the event does not match its stored leaf hash (modified, inserted or moved)",
        )
        return result
    if missing is not None:
        result.problem = Problem(missing, "the event is missing (deleted)")
        return result
    levels = _levels(leaves)
    for level in range(1, min(len(levels), CHUNK_LEVEL)):
        mine, theirs = levels[level], stored.get(level, [])
        if mine != theirs:
            first = next(i for i, h in enumerate(mine) if i >= len(theirs) or theirs[i] != h)
            result.problem = _bad_node(level, (start >> level) + first)
            return result
    if end - start == CHUNK:
        result.top = levels[CHUNK_LEVEL][0]
    for size in sizes:
        result.low[size] = [
            levels[level][index - (start >> level)]
            for level, index in tlog.perfect_subtrees(0, size)
            if level < CHUNK_LEVEL
        ]
    return result


def _bad_node(level: int, index: int) -> Problem:
    first, last = index << level, ((index + 1) << level) - 1
    return Problem(
        first,
        f"the stored tree node at level {level}, index {index} (entries {first} to {last}) "
        "does not match the events: an entry or the tree was altered",
    )


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect subtree inside one aligned chunk, level by level (level 0 = leaves)."""
    levels = [leaves]
    node = tlog.node_hash
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [node(left, right) for left, right in zip(below[::2], below[1::2], strict=False)]
        )
    return levels


def raw_rows(queryset: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a bounded query (one chunk), read straight from the driver.

    The ORM writes the SQL; the rows skip its per-row machinery because every column here is a
    plain string, integer or byte string, and on a million rows that machinery would double the
    run time.
    """
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _rebuilt_leaves(start: int, end: int) -> tuple[list[int], list[bytes]]:
    events = (
        AuditEvent.objects.filter(seq__gte=start, seq__lt=end)
        .order_by("seq")
        .values_list(*encoding.FIELDS)
    )
    rows = raw_rows(events)
    canonical, sha256 = encoding.canonical_event, hashlib.sha256
    return [row[12] for row in rows], [sha256(b"\x00" + canonical(row)).digest() for row in rows]


def _stored_nodes(start: int, end: int, top_level: int) -> dict[int, list[bytes]]:
    """Stored hashes at levels 0..top_level whose last leaf lies in [start, end), per level in
    index order. Only the hashes are read: were a node missing, every later one would shift
    into its place, and the comparison stops at the first position that differs, which is
    the missing node's."""
    stored: dict[int, list[bytes]] = {}
    for level in range(top_level + 1):
        low, high = start >> level, end >> level
        if low < high:
            nodes = (
                TreeNode.objects.filter(level=level, index__gte=low, index__lt=high)
                .order_by("index")
                .values_list("hash")
            )
            stored[level] = [bytes(digest) for (digest,) in raw_rows(nodes)]
    return stored


def _first_gap(seqs: list[int], start: int, end: int) -> int | None:
    if len(seqs) == end - start and (not seqs or (seqs[0] == start and seqs[-1] == end - 1)):
        return None
    for offset, seq in enumerate(seqs):
        if seq != start + offset:
            return start + offset
    return start + len(seqs)


# --- Combining the chunks, in order -------------------------------------------------------------


class _Rebuild:
    def __init__(self, size: int, signed: list[SignedSize], report: Report) -> None:
        self.size = size
        self.report = report
        self.by_size: dict[int, list[SignedSize]] = {}
        for checkpoint in signed:
            if checkpoint.size <= size:
                self.by_size.setdefault(checkpoint.size, []).append(checkpoint)
        self.upper: dict[tlog.Node, bytes] = {}  # rebuilt nodes at levels >= CHUNK_LEVEL
        self.stored_upper = _stored_upper()
        self.last_good = 0  # entries below this are covered by a matching checkpoint
        self.root_at_end = tlog.empty_root()

    def run(self, jobs: int, progress: Callable[[int, int], None] | None) -> bool:
        if 0 in self.by_size and not self._check_root(0, []):
            return False
        for result in self._results(jobs):
            if result.problem is not None:
                self.report.problems.append(result.problem)
                return False
            if result.top is not None and not self._merge_up(result.start, result.top):
                return False
            for size, low in result.low.items():
                if not self._check_root(size, low):
                    return False
            if progress is not None:
                progress(result.end, self.size)
        return True

    def _tasks(self) -> list[tuple[int, int, list[int]]]:
        tasks = []
        for start in range(0, self.size, CHUNK):
            end = min(start + CHUNK, self.size)
            sizes = [size for size in self.by_size if start < size <= end]
            if end == self.size:
                sizes.append(end)
            tasks.append((start, end, sorted(set(sizes))))
        return tasks

    def _results(self, jobs: int) -> Iterator[ChunkResult]:
        tasks = self._tasks()
        if jobs <= 1 or len(tasks) < 2:
            for task in tasks:
                yield check_chunk(*task)
            return
        # Forked children must not share the parent's open database connection.
        connections.close_all()
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            yield from pool.map(_check_chunk_in_worker, tasks, chunksize=1)

    def _merge_up(self, start: int, digest: bytes) -> bool:
        level, index = CHUNK_LEVEL, start >> CHUNK_LEVEL
        while True:
            self.upper[(level, index)] = digest
            if self.stored_upper.get((level, index)) != digest:
                self.report.problems.append(_bad_node(level, index))
                return False
            if not index & 1:
                return True
            digest = tlog.node_hash(self.upper[(level, index - 1)], digest)
            level += 1
            index >>= 1

    def _check_root(self, size: int, low: list[bytes]) -> bool:
        upper = [
            self.upper[(level, index)]
            for level, index in tlog.perfect_subtrees(0, size)
            if level >= CHUNK_LEVEL
        ]
        hashes = upper + low
        root = tlog.fold(hashes) if hashes else tlog.empty_root()
        if size == self.size:
            self.root_at_end = root
        for checkpoint in self.by_size.get(size, ()):
            if root != checkpoint.root:
                self.report.problems.append(
                    Problem(
                        self.last_good,
                        f"{checkpoint.label} does not match the log: an entry between "
                        f"{self.last_good} and {size - 1} was altered, removed or added",
                    )
                )
                return False
            self.last_good = size
        return True


def _check_chunk_in_worker(task: tuple[int, int, list[int]]) -> ChunkResult:
    return check_chunk(*task)


def _stored_upper() -> dict[tlog.Node, bytes]:
    rows = TreeNode.objects.filter(level__gte=CHUNK_LEVEL).values_list("level", "index", "hash")
    return {(level, index): bytes(digest) for level, index, digest in rows}


# --- Whole-log checks ---------------------------------------------------------------------------


def _check_head(head: LogHead | None, size: int, root: bytes, report: Report) -> None:
    if head is None:
        return
    current = LogHead.objects.filter(pk=1).first()
    if current is None or current.size != size:
        return  # events were appended meanwhile; the next run checks the new head
    frontier = bytes(current.frontier)
    split = [frontier[i : i + 32] for i in range(0, len(frontier), 32)]
    if len(split) != len(tlog.frontier_levels(size)) or tlog.root_from_frontier(split) != root:
        report.problems.append(
            Problem(size, "the log head's frontier does not match the rebuilt tree")
        )


def _check_consistency(signed: list[SignedSize], report: Report) -> None:
    for older, newer in itertools.pairwise(signed):
        proof = service.consistency_path(older.size, newer.size)
        if not tlog.verify_consistency(older.size, newer.size, older.root, newer.root, proof):
            report.problems.append(
                Problem(older.size, f"{newer.label} is not consistent with {older.label}")
            )


def _check_extra_rows(size: int, report: Report) -> None:
    """Rows beyond the head were not appended through record_event: inserted by hand."""
    end = max(size, service.tree_size())  # the head may have moved on since the pass began
    stray = (
        AuditEvent.objects.filter(Q(seq__gte=end) | Q(seq__lt=0))
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if stray is not None:
        report.problems.append(
            Problem(stray, "the event lies outside the tree (inserted without its leaf)")
        )
    stray_leaf = (
        TreeNode.objects.filter(level=0, index__gte=end)
        .order_by("index")
        .values_list("index", flat=True)
        .first()
    )
    if stray_leaf is not None:
        report.problems.append(Problem(stray_leaf, "a leaf hash lies beyond the log head"))
