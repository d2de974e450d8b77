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
# WEB_THREADS (threads per worker, default 40), WEB_BACKPRESSURE (requests a worker takes in at
# once, default 64).
#
# Tuning for peaks (docs/performance.md): only GUICHET_MAX_INFLIGHT (4) requests per worker do
# work at once; the others wait in guichet/middleware.py, bounded in number and time, then get a
# 503 with Retry-After. For that wait to happen there (where it is bounded and visible) rather
# than in granian's own queue (unbounded in time), each worker needs at least
# GUICHET_MAX_INFLIGHT + GUICHET_MAX_QUEUED threads; idle threads cost almost nothing. Past
# WEB_BACKPRESSURE, granian leaves new requests in the socket backlog. A worker that dies is
# started again (--respawn-failed-workers).
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

echo "==> Starting the web server (granian, WSGI, ${WEB_WORKERS:-2} workers) on $url"
setsid "$bin/granian" --interface wsgi --host "$host" --port "$port" \
    --workers "${WEB_WORKERS:-2}" --blocking-threads "${WEB_THREADS:-40}" --no-ws \
    --backpressure "${WEB_BACKPRESSURE:-64}" --respawn-failed-workers --respawn-interval 1 \
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
    "$bin/guichet" db_worker --queue-name '*' --no-reload &
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
