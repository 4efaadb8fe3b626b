#!/usr/bin/env bash
# Start N Outage Desk app processes on one PostgreSQL database, one per port, for nginx to balance
# (deploy/nginx.conf lists the same ports). Usage, from the checkout:
#
#   OUTAGE_DB_URL=postgresql://outage@127.0.0.1/outage deploy/run-app-processes.sh 8501 8502
#
# Each process is `streamlit run dashboard/server.py` on 127.0.0.1:PORT, logging to
# $OUTAGE_LOG_DIR/app-PORT.log (default data/runtime/logs). The first to start creates or upgrades
# the schema; the others wait for it (a lock). The script waits until every process answers
# /healthz, prints their pids, then stays in the foreground: Ctrl-C or SIGTERM stops them all, and
# if one exits the others are stopped too and the script exits non-zero (for systemd to restart).
# The background loops (SLA monitor, notifications, warning expiry, CAP feeds, the demo storm) run
# in one of them at a time, whichever holds the loop's lease (see /healthz).
set -euo pipefail

cd "$(dirname "$0")/.."
if (($# == 0)); then
    echo "usage: OUTAGE_DB_URL=postgresql://... $0 PORT [PORT ...]" >&2
    exit 2
fi
case "${OUTAGE_DB_URL:-}" in
postgresql://* | postgres://* | postgresql+psycopg://*) ;;
*)
    echo "run-app-processes: OUTAGE_DB_URL must name a PostgreSQL database: several processes" \
        "share it (SQLite serves one process on one machine)" >&2
    exit 2
    ;;
esac
python=${OUTAGE_PYTHON:-.venv/bin/python}
log_dir=${OUTAGE_LOG_DIR:-data/runtime/logs}
mkdir -p "$log_dir"
export PYTHONUNBUFFERED=1

pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait || true
}
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 130' INT

for port in "$@"; do
    "$python" -m streamlit run dashboard/server.py --server.port "$port" --server.address 127.0.0.1 \
        --server.headless true --server.fileWatcherType none >"$log_dir/app-$port.log" 2>&1 &
    pids+=($!)
done

for port in "$@"; do
    deadline=$(($(date +%s) + 180))
    until "$python" -c "import httpx, sys; sys.exit(httpx.get('http://127.0.0.1:$port/healthz', timeout=2).status_code != 200)" 2>/dev/null; do
        if (($(date +%s) > deadline)); then
            echo "run-app-processes: the process on port $port was not healthy within 180 s; see $log_dir/app-$port.log" >&2
            stop_all
            exit 1
        fi
        sleep 0.5
    done
done
echo "run-app-processes: ${#pids[@]} processes healthy: ports $* (pids ${pids[*]}); logs in $log_dir"

status=0
wait -n || status=$?
echo "run-app-processes: a process exited ($status); stopping the others" >&2
stop_all
exit $((status == 0 ? 1 : status))
