"""`make bench`: the quick set of every benchmark, one table at the end.

    .venv/bin/python bench/run_all.py [--full] [--only submission,backoffice,...]

Runs each script one after the other (never two at once: they would measure each other) and
collects their figures: submission throughput and memory on SQLite and PostgreSQL
(bench/submission_load.py), the back office over 30,000 seeded dossiers on PostgreSQL
(bench/backoffice_bench.py), and, parsed from their own output, the
vault, sealed documents, transparency log, sealed submission and forms benches of the other
issues on small sizes. `--full` runs every script at its own full sizes (1,000,000 dossiers, a
1,000,000-event log...): hours. Everything runs on throw-away databases in temporary folders
and only talks to 127.0.0.1. PostgreSQL figures are skipped, with the reason, when its binaries
are missing. The quick set's goal is under 5 minutes on 2 cores; it prints its total wall time.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ROOT, machine, print_rows

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def ours(name: str, script: str, *args: str) -> tuple[str, list[str], str]:
    return name, [script, *args], "json"


def theirs(name: str, script: str, *args: str) -> tuple[str, list[str], str]:
    return name, [script, *args], "text"


# The quick set (`make bench`) must finish in under QUICK_GOAL seconds on the project's 2-core
# machine. Every script of the full set runs in it, on smaller sizes and fewer repetitions where
# the figure is stable at that size. Measured on 2026-11-23 at load 5, the former quick set took
# 694 s: back office 238 s (100,000 dossiers seeded in 83 s, then 700 requests at ~180 ms),
# the log 161 s (2,700 API reads for the alert read-path figure), submissions 77 + 93 s, documents
# 49 s, forms 28 s (its Django-form baseline alone is 300 ms a run), vault 20 + 28 s. Now: the
# submission phases are capped at 5 s (the INSERT baseline still makes ~2,000 in 5 s), the back
# office seeds 30,000 dossiers (the queue reads the same index ranges as at 100,000) with 50
# requests per figure, the log's read-path figure uses 60 requests, documents 16, forms 20 runs.
# What only the full set measures is listed in FULL_ONLY and printed in the table.
QUICK_GOAL = 300
QUICK = [
    ours(
        "submission-sqlite",
        "submission_load.py",
        "--db",
        "sqlite",
        "--drafts",
        "10",
        "--seconds",
        "5",
    ),
    ours(
        "submission-postgres",
        "submission_load.py",
        "--db",
        "postgres",
        "--drafts",
        "10",
        "--seconds",
        "5",
    ),
    ours("submission-cpu", "submission_cpu.py", "--submissions", "100"),
    ours(
        "backoffice",
        "backoffice_bench.py",
        "--db",
        "postgres",
        "--dossiers",
        "30000",
        "--citizens",
        "500",
        "--requests",
        "50",
    ),
    theirs("vault", "vault_bench.py", "--quick"),
    theirs("vault-submission", "vault_submission_bench.py", "--rounds", "2"),
    theirs(
        "audit",
        "audit_bench.py",
        "--max",
        "10000",
        "--append",
        "5000",
        "--reads",
        "200",
        "--requests",
        "60",
        "--no-standalone",
    ),
    theirs("documents", "documents_bench.py", "--documents", "16"),
    theirs("forms", "forms_bench.py", "--runs", "20"),
]
# `make bench-full`: each script at its own full sizes (1,000,000 dossiers, a 1,000,000-event
# log with its export and the standalone verifier, 200 documents...). It takes hours, not minutes.
FULL = {
    "submission-sqlite": ours("submission-sqlite", "submission_load.py", "--db", "sqlite"),
    "submission-postgres": ours("submission-postgres", "submission_load.py", "--db", "postgres"),
    "submission-cpu": ours("submission-cpu", "submission_cpu.py"),
    "backoffice": ours("backoffice", "backoffice_bench.py", "--db", "postgres"),
    "vault": theirs("vault", "vault_bench.py"),
    "vault-submission": theirs("vault-submission", "vault_submission_bench.py"),
    "audit": theirs("audit", "audit_bench.py"),
    "documents": theirs("documents", "documents_bench.py"),
    "forms": theirs("forms", "forms_bench.py"),
}
FULL_ONLY = [
    ("Back office over 1,000,000 dossiers, 200 requests per figure", "quick: 30,000 and 50"),
    (
        "Log: proofs and a citizen's download at 100,000 and 1,000,000 events; "
        "guichet audit export and tools/verify_log.py on it",
        "quick: 10,000 events",
    ),
]
VERDICT = (
    (re.compile(r"MISSED|ABOVE|FAIL|not met", re.IGNORECASE), "FAIL"),
    (re.compile(r"goal met|: ok\b|\bOK\b|\bpass\b", re.IGNORECASE), "pass"),
)


def parse_text(name: str, output: str) -> list[dict[str, Any]]:
    """Rows of another issue's script: its lines of cells separated by two spaces or more,
    headers and rules left out. The script's own verdict words become pass/FAIL."""
    rows = []
    for line in output.splitlines():
        if line.startswith("{") or not line.strip() or set(line.strip()) <= {"-", " "}:
            continue
        ratio = re.search(r"throughput sealed / clear: ([0-9.]+)\s*\((.*)\)", line)
        if ratio:
            rows.append(
                {
                    "figure": f"{name}: submission sealed vs clear (in-process)",
                    "ratio": ratio.group(1),
                    "goal": ratio.group(2),
                    "result": "pass" if float(ratio.group(1)) >= 0.9 else "FAIL",
                }
            )
            continue
        cells = [cell.strip() for cell in re.split(r"\s{2,}", line.strip()) if cell.strip()]
        if len(cells) < 2 or cells[0] in ("mode", "log size", "verifier", "figure"):
            continue
        verdict = ""
        for pattern, word in VERDICT:
            if any(pattern.search(cell) for cell in cells[1:]):
                verdict = word
                break
        rows.append(
            {
                "figure": f"{name}: {cells[0]}",
                "guichet": cells[1],
                "baseline": cells[2] if len(cells) > 2 else "",
                "goal": " ".join(cells[3:]),
                "result": verdict,
            }
        )
    return rows


def run(name: str, command: list[str], kind: str, work: Path) -> tuple[list[dict[str, Any]], float]:
    script = HERE / command[0]
    if not script.exists():
        return [{"figure": name, "result": f"skipped: bench/{command[0]} not there yet"}], 0.0
    rows_file = work / f"{name}.json"
    arguments = [PYTHON, str(script), *command[1:]]
    if kind == "json":
        arguments += ["--json", str(rows_file)]
    print(f"==> {name}: {' '.join(['bench/' + command[0], *command[1:]])}", flush=True)
    started = time.perf_counter()
    finished = subprocess.run(arguments, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        tail = (finished.stderr or finished.stdout).strip().splitlines()[-3:]
        return [
            {"figure": name, "result": f"FAIL: exit {finished.returncode}: {' | '.join(tail)}"}
        ], seconds
    if kind == "json":
        return json.loads(rows_file.read_text()), seconds
    return parse_text(name, finished.stdout), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--full", action="store_true", help="every script at its full sizes (hours)"
    )
    parser.add_argument("--only", default="", help="comma-separated names to run")
    args = parser.parse_args()
    plan = [FULL[step[0]] if args.full else step for step in QUICK]
    if args.only:
        wanted = set(args.only.split(","))
        plan = [step for step in plan if step[0] in wanted]
    before = machine()
    rows: list[dict[str, Any]] = []
    timings = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="guichet-bench-all-") as work:
        for name, command, kind in plan:
            produced, seconds = run(name, command, kind, Path(work))
            rows += produced
            timings.append(f"{name} {seconds:.0f} s")
    if not args.full and not args.only:
        rows += [
            {"figure": figure, "result": f"not in the quick set: make bench-full ({why})"}
            for figure, why in FULL_ONLY
        ]
    after = machine()
    total = time.perf_counter() - started
    print_rows(
        f"Guichet benchmarks, {before['date']}: {before['nproc']} CPUs ({before['cpu']}), "
        f"{before['ram']}, Python {before['python']}; load average {before['load']} before, "
        f"{after['load']} after; {total:.0f} s in all",
        rows,
    )
    print("\nTime per script: " + ", ".join(timings))
    goal = "" if args.full or args.only else f" (goal for the quick set: < {QUICK_GOAL} s)"
    print(f"Total wall time: {total:.0f} s{goal}")
    failed = [row["figure"] for row in rows if str(row.get("result", "")).startswith("FAIL")]
    print(
        f"{len(failed)} figure(s) below their goal" + (": " + "; ".join(failed) if failed else "")
    )


if __name__ == "__main__":
    main()
