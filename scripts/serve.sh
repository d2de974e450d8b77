#!/usr/bin/env bash
# Run the task worker and the web server side by side, as `make run` does.
#
# The worker sends the notification emails queued by the web server and issues the sealed
# documents; without it they wait in the database. The scheduler enqueues the periodic jobs
# (signing the transparency log's checkpoints, the retention run). Whichever stops first (Ctrl-C, a crash, a kill) takes the other one down too, so
# no orphan keeps the port or the database busy.
#
# Each child runs in a session of its own (setsid): Ctrl-C reaches this script alone, which then
# stops them in order with SIGTERM. Granian copes badly with SIGINT hitting its master and its
# workers at once (a worker may hang and outlive the master); SIGTERM to the master alone is clean.
#
# Environment: HOST (default 127.0.0.1), PORT (default 8000), WEB_WORKERS (default 2),
# WEB_THREADS (Python threads per worker, default GUICHET_MAX_INFLIGHT + GUICHET_MAX_QUEUED + 8),
# WEB_CONNECTIONS (open connections one worker accepts, granian's --backpressure, default 1024;
# WEB_BACKPRESSURE is the older name).
#
# Tuning for peaks (docs/operations.md, "Peaks and load shedding"): only GUICHET_MAX_INFLIGHT (4)
# requests per worker do work at once; up to GUICHET_MAX_QUEUED (32) more wait in
# guichet/middleware.py, bounded in number and in time, the rest get a 503 with Retry-After at
# once. For every request to reach that middleware quickly:
# - granian's --backpressure counts open *connections*, not requests: a connection past it stays
#   in the kernel's listen backlog, unanswered, until another client hangs up (keep-alive
#   connections stay open while idle). It must exceed the clients one worker may hold, hence 1024;
#   an open connection costs granian a few kB, and the work is bounded by the middleware.
# - each worker needs the GUICHET_MAX_INFLIGHT + GUICHET_MAX_QUEUED threads the middleware may
#   hold, plus spare ones that answer the 503s; with fewer, requests queue inside granian,
#   where nothing bounds their wait. Idle threads cost almost nothing.
# A worker that dies is started again (--respawn-failed-workers).
#
# On SQLite (no DATABASE_URL, or a sqlite: one) each worker lets 16 requests wait instead of 32:
# a worker's memory grows with the requests it holds (211 MB after the full peak drill with 32
# waiting, 171 MB with 16 in the quick one). SQLite has one writer at a time: the write
# transactions of all processes take turns, in each process on a lock of its own, between
# processes on an OS lock next to the database file (guichet/sqlite_backend/). Before that
# second turn, two workers met in SQLite's busy handler, which sleeps up to 100 ms between tries,
# and did worse than one (p99 1.4 s); now, under 16 clients submitting, two workers give more
# submissions a second and a lower p99 than one (docs/performance.md). Set WEB_WORKERS=1 for one
# worker, which then gets 8 requests in flight.
#
# TASK_WORKER_NICE: the task worker's CPU niceness, default 10 on PostgreSQL, 0 on SQLite.
# Citizens' requests come first: under a peak the notifications wait a little instead of
# taking the cores from the web workers (on PostgreSQL, back to back at 16 clients submitting:
# 78 against 60 submissions/s, docs/performance.md). Not on SQLite, where the worker takes the
# one write lock in turn with the web workers: descheduled while holding it, it would hold
# every writer up.
set -euo pipefail
cd "$(dirname "$0")/.."

host="${HOST:-127.0.0.1}"
port="${PORT:-8000}"
bin=.venv/bin
url="http://$host:$port/"
pids=()

stop_all() {
    trap - EXIT INT TERM HUP
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Give both a clean shutdown (the worker finishes its current task), then insist on the
    # whole session, so that no granian worker is left behind.
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "==> Guichet stopped."
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

workers="${WEB_WORKERS:-2}"
if [[ -z "${DATABASE_URL:-}" || "${DATABASE_URL}" == sqlite* ]]; then
    export GUICHET_MAX_QUEUED="${GUICHET_MAX_QUEUED:-16}"
    if [[ "$workers" == 1 ]]; then
        export GUICHET_MAX_INFLIGHT="${GUICHET_MAX_INFLIGHT:-8}"
    fi
fi
if [[ -z "${DATABASE_URL:-}" || "${DATABASE_URL}" == sqlite* ]]; then
    worker_nice="${TASK_WORKER_NICE:-0}"
else
    worker_nice="${TASK_WORKER_NICE:-10}"
fi
threads="${WEB_THREADS:-$(( ${GUICHET_MAX_INFLIGHT:-4} + ${GUICHET_MAX_QUEUED:-32} + 8 ))}"
connections="${WEB_CONNECTIONS:-${WEB_BACKPRESSURE:-1024}}"

echo "==> Starting the web server (granian, WSGI, $workers worker(s), $threads threads each) on $url"
setsid "$bin/granian" --interface wsgi --host "$host" --port "$port" \
    --workers "$workers" --blocking-threads "$threads" --no-ws \
    --backpressure "$connections" --respawn-failed-workers --respawn-interval 1 \
    guichet.wsgi:application &
pids+=($!)

# The task worker and the scheduler exit when the database goes away (a PostgreSQL restart):
# start them again rather than take the web server down with them. SIGTERM still stops them
# cleanly (the worker finishes its task). A clean exit (status 0) is not restarted.
keep_running() {
    local child=""
    trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM
    while true; do
        "$@" &
        child=$!
        if wait "$child"; then
            exit 0
        fi
        echo "==> ${*:2:1} stopped with an error; starting it again in 2 s" >&2
        sleep 2
    done
}

echo "==> Starting the task worker (guichet db_worker)"
setsid bash -c "$(declare -f keep_running); keep_running \"\$@\"" keep_running \
    nice -n "$worker_nice" "$bin/guichet" db_worker --queue-name '*' --no-reload &
pids+=($!)

echo "==> Starting the scheduler (guichet schedule: log checkpoints, retention)"
setsid bash -c "$(declare -f keep_running); keep_running \"\$@\"" keep_running \
    "$bin/guichet" schedule &
pids+=($!)

# Wait until the site answers, so the address is printed when it really works.
ready=0
for _ in $(seq 1 100); do
    if "$bin/python" - "${url}healthz" <<'EOF' 2>/dev/null; then
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=2) as response:  # noqa: S310 (local URL)
    sys.exit(response.status != 200)
EOF
        ready=1
        break
    fi
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "error: a process stopped while starting." >&2; exit 1; }
    done
    sleep 0.3
done

if ((ready)); then
    echo
    echo "================================================================================"
    echo "  Guichet is running at $url"
    echo "  API documentation: ${url}api/v1/docs"
    if [[ -f var/demo-accounts.txt ]]; then
        sed 's/^/  /' var/demo-accounts.txt
    fi
    echo "  Emails are written to var/mail/. Press Ctrl-C to stop."
    echo "================================================================================"
    echo
else
    echo "warning: ${url}healthz did not answer 200 within 30 s; see the log above." >&2
fi

# Returns as soon as either process exits; the EXIT trap then stops the other.
wait -n "${pids[@]}"
