#!/usr/bin/env bash
# Start N Outage Desk app processes on one PostgreSQL database, one per port, for nginx to balance
# (deploy/nginx.conf lists the same ports). Usage, from the checkout:
#
#   OUTAGE_DB_URL=postgresql://outage@127.0.0.1/outage deploy/run-app-processes.sh 8501 8502
#
# Each process is `streamlit run dashboard/server.py` on 127.0.0.1:PORT, logging to
# $OUTAGE_LOG_DIR/app-PORT.log (default data/runtime/logs). The first to start creates or upgrades
# the schema; the others wait for it (a lock). The script waits until every process answers
# /healthz, prints their pids, then stays in the foreground as their supervisor: a process that
# exits (or is killed) is started again on its port after 2 s while the others go on serving (nginx
# sends its viewers to them meanwhile); Ctrl-C or SIGTERM stops them all.
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

declare -A port_of=() # pid -> port
start_on() {
    "$python" -m streamlit run dashboard/server.py --server.port "$1" --server.address 127.0.0.1 \
        --server.headless true --server.fileWatcherType none >>"$log_dir/app-$1.log" 2>&1 &
    port_of[$!]=$1
}
stop_all() {
    local pid
    for pid in "${!port_of[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait || true
}
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 130' INT

for port in "$@"; do
    start_on "$port"
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
echo "run-app-processes: ${#port_of[@]} processes healthy: ports $* (pids ${!port_of[*]}); logs in $log_dir"

while true; do
    status=0
    wait -n -p exited || status=$?
    [[ -n ${exited:-} && -n ${port_of[$exited]:-} ]] || continue
    port=${port_of[$exited]}
    unset "port_of[$exited]"
    echo "run-app-processes: the process on port $port (pid $exited) exited ($status); starting it again in 2 s" >&2
    sleep 2
    start_on "$port"
done
