"""`make bench`: the quick set of every benchmark, one table at the end.

    .venv/bin/python bench/run_all.py [--full] [--only submission,backoffice,...]

Runs each script one after the other (never two at once: they would measure each other) and
collects their figures: submission throughput and memory on SQLite and PostgreSQL
(bench/submission_load.py), the back office over 100,000 seeded dossiers on PostgreSQL
(bench/backoffice_bench.py; `--full` seeds 1,000,000), and, parsed from their own output, the
vault, sealed documents, transparency log, sealed submission and forms benches of the other
issues in their quick modes. Everything runs on throw-away databases in temporary folders and
only talks to 127.0.0.1. PostgreSQL figures are skipped, with the reason, when its binaries are
missing. The quick set takes 4 to 5 minutes on 2 cores.
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

from common import ROOT, machine, print_rows  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def ours(name: str, script: str, *args: str) -> tuple[str, list[str], str]:
    return name, [script, *args], "json"


def theirs(name: str, script: str, *args: str) -> tuple[str, list[str], str]:
    return name, [script, *args], "text"


QUICK = [
    ours("submission-sqlite", "submission_load.py", "--db", "sqlite", "--quick"),
    ours("submission-postgres", "submission_load.py", "--db", "postgres", "--quick"),
    ours("backoffice", "backoffice_bench.py", "--db", "postgres", "--quick"),
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
        "--no-standalone",
    ),
    theirs("documents", "documents_bench.py", "--documents", "24"),
    theirs("forms", "forms_bench.py", "--quick"),
]
FULL_BACKOFFICE = ours("backoffice", "backoffice_bench.py", "--db", "postgres")
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
        "--full", action="store_true", help="1,000,000 dossiers for the back office"
    )
    parser.add_argument("--only", default="", help="comma-separated names to run")
    args = parser.parse_args()
    plan = [FULL_BACKOFFICE if args.full and step[0] == "backoffice" else step for step in QUICK]
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
    after = machine()
    print_rows(
        f"Guichet benchmarks, {before['date']}: {before['nproc']} CPUs ({before['cpu']}), "
        f"{before['ram']}, Python {before['python']}; load average {before['load']} before, "
        f"{after['load']} after; {time.perf_counter() - started:.0f} s in all",
        rows,
    )
    print("\nTime per script: " + ", ".join(timings))
    failed = [row["figure"] for row in rows if str(row.get("result", "")).startswith("FAIL")]
    print(
        f"{len(failed)} figure(s) below their goal" + (": " + "; ".join(failed) if failed else "")
    )


if __name__ == "__main__":
    main()
