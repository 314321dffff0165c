#!/usr/bin/env bash
# Serve samviz to a class: N replicas of the Streamlit app behind Debian's nginx, on one port.
#
#   scripts/serve_class.sh                 4 replicas on 127.0.0.1:8601..8604, the proxy on 127.0.0.1:8600
#   scripts/serve_class.sh --replicas 2 --port 9000 --first-port 9001
#   Ctrl-C (SIGINT) or SIGTERM stops the proxy and every replica, then the script exits. (Started in the
#   background by a non-interactive shell, `serve_class.sh &`, bash ignores SIGINT: stop it with SIGTERM.)
#   SIGKILL cannot be trapped: after one, stop the process groups it leaves (listed in the run directory's `pids`).
#
# Why: one Streamlit process runs every visitor's script on one Python interpreter, so a class of 30
# that opens the player at once queues behind itself. Replicas are independent processes (one per CPU
# core is a good start); nginx spreads visitors over them. A visitor's session lives in one replica's
# memory (its WebSocket, session state and media files), so the proxy is sticky: a cookie set on the
# first request picks the replica for every later request of that browser (see scripts/serve_class.nginx.conf.in).
# No home-made balancer: the proxy is stock nginx (`bash scripts/install_chromium.sh` installs it, or
# `apt-get install nginx`). nginx runs with its own configuration, pid and logs in the run directory
# (a fresh temporary directory unless --run-dir is given); Debian's nginx service is never used.
#
# Options (defaults in brackets):
#   --replicas N       app processes to start on this machine [4]; 0 with --upstream: a proxy only
#   --port P           the proxy's port [8600]; visitors open http://LISTEN:P/
#   --first-port Q     replicas listen on Q, Q+1, ... [P+1]
#   --listen ADDR      the proxy's address [127.0.0.1]; loopback only unless you say otherwise
#   --address ADDR     the replicas' address [127.0.0.1]
#   --upstream H:PORT  also proxy to a replica started elsewhere (repeatable)
#   --no-proxy         start the replicas only (for an app machine of a multi-machine setup)
#   --cookie-secret S  Streamlit's cookie secret, the same on every replica [random per run]
#   --run-dir DIR      where the rendered nginx.conf, pids and logs go [a new mktemp directory, removed on exit]
#   --timeout S        seconds to wait for the replicas to become healthy [180]
# Environment: PYTHON (the interpreter with samviz and streamlit) [.venv/bin/python], NGINX [nginx on PATH,
# else /usr/sbin/nginx].
#
# Several machines (more visitors than one machine's cores can serve):
#   1. On each app machine (same checkout, `make run` done once for the venv), start replicas on its private
#      address, one per core, with ONE cookie secret shared by every replica (a page served by one replica
#      and an upload or reconnect handled by another then still agree on Streamlit's XSRF cookie):
#          scripts/serve_class.sh --no-proxy --replicas 8 --address 10.0.0.11 --first-port 8601 \
#              --cookie-secret "$SECRET"
#      and let only the proxy machine reach those ports (firewall): the replicas have no authentication.
#   2. On the proxy machine, list every replica and listen where the students connect:
#          scripts/serve_class.sh --replicas 0 --listen 0.0.0.0 --port 80 \
#              --upstream 10.0.0.11:8601 --upstream 10.0.0.11:8602 ... --upstream 10.0.0.12:8608
#      (or copy the rendered nginx.conf from the run directory into a system nginx and add TLS there).
#   Stickiness is by cookie, not by client address, so a classroom behind one NAT still spreads over all
#   replicas. A remote replica (--upstream) that stops answering is skipped by nginx for 10 s at a time
#   (max_fails); its visitors' browsers reconnect to another replica, with a new session. On one machine,
#   by contrast, a replica that dies stops the whole service with exit status 1, so that whatever started
#   the script (a systemd unit with Restart=on-failure, a shell loop) restarts it whole.
#   The proxy needs few resources: one nginx worker proxies thousands of WebSockets.
#
# Exit status: 0 after a clean stop, 1 when something failed to start or died, 2 for a bad option.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATE="$ROOT/scripts/serve_class.nginx.conf.in"
cd "$ROOT"

replicas=4
port=8600
first_port=""
listen_address=127.0.0.1
replica_address=127.0.0.1
upstreams=()
proxy=1
cookie_secret=""
run_dir=""
timeout=180

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
die_usage() { echo "serve_class.sh: error: $1 (see --help)" >&2; exit 2; }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }

while [ $# -gt 0 ]; do
    option="$1"
    case "$option" in
        -h|--help) usage; exit 0 ;;
        --no-proxy) proxy=0; shift; continue ;;
    esac
    [ $# -ge 2 ] || die_usage "$option needs a value"
    value="$2"
    case "$option" in
        --replicas) [[ "$value" =~ ^[0-9]+$ ]] && [ "$value" -le 64 ] || die_usage "--replicas must be 0..64"
                    replicas="$value" ;;
        --port) is_port "$value" || die_usage "--port must be 1..65535"; port="$value" ;;
        --first-port) is_port "$value" || die_usage "--first-port must be 1..65535"; first_port="$value" ;;
        --listen) listen_address="$value" ;;
        --address) replica_address="$value" ;;
        --upstream) [[ "$value" =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]] || die_usage "--upstream must be HOST:PORT"
                    upstreams+=("$value") ;;
        --cookie-secret) cookie_secret="$value" ;;
        --run-dir) run_dir="$value" ;;
        --timeout) [[ "$value" =~ ^[0-9]+$ ]] && [ "$value" -ge 1 ] || die_usage "--timeout must be a positive integer"
                   timeout="$value" ;;
        *) die_usage "unknown option $option" ;;
    esac
    shift 2
done
first_port="${first_port:-$((port + 1))}"
if [ $((first_port + replicas - 1)) -gt 65535 ]; then die_usage "replica ports would pass 65535"; fi
for address in "$listen_address" "$replica_address"; do
    [[ "$address" =~ ^[A-Za-z0-9.:_-]+$ ]] || die_usage "address $address has unexpected characters"
done
if [ "$proxy" = 1 ] && [ "$replicas" = 0 ] && [ "${#upstreams[@]}" = 0 ]; then
    die_usage "nothing to proxy: give --replicas N ≥ 1 or --upstream HOST:PORT"
fi
if [ "$proxy" = 0 ] && [ "$replicas" = 0 ]; then die_usage "--no-proxy with --replicas 0 starts nothing"; fi

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
if [ "$replicas" -gt 0 ] && [ ! -x "$PYTHON" ]; then
    echo "serve_class.sh: $PYTHON not found: run \`make run\` once (it creates .venv) or set PYTHON" >&2
    exit 1
fi
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
if [ "$proxy" = 1 ] && [ ! -x "$NGINX" ]; then
    echo "serve_class.sh: nginx is not installed: run \`bash scripts/install_chromium.sh\` (Debian's nginx) or set NGINX" >&2
    exit 1
fi

# Refuse ports that are taken now, before anything starts (a half-started class is worse than none).
port_free() {
    "${PYTHON_ANY:-python3}" - "$1" "$2" <<'PY'
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((sys.argv[1], int(sys.argv[2])))
    except OSError:
        sys.exit(1)
PY
}
PYTHON_ANY="$PYTHON"; [ -x "$PYTHON_ANY" ] || PYTHON_ANY=python3
replica_ports=()
for ((i = 0; i < replicas; i++)); do replica_ports+=($((first_port + i))); done
if [ "$proxy" = 1 ]; then
    port_free "$listen_address" "$port" || { echo "serve_class.sh: $listen_address:$port is in use (--port)" >&2; exit 1; }
fi
for p in "${replica_ports[@]}"; do
    if [ "$proxy" = 1 ] && [ "$p" = "$port" ]; then die_usage "replica port $p is the proxy's port"; fi
    port_free "$replica_address" "$p" || { echo "serve_class.sh: $replica_address:$p is in use (--first-port)" >&2; exit 1; }
done

made_run_dir=0
if [ -z "$run_dir" ]; then run_dir="$(mktemp -d "${TMPDIR:-/tmp}/samviz-serve.XXXXXX")"; made_run_dir=1; fi
mkdir -p "$run_dir/tmp"
run_dir="$(cd "$run_dir" && pwd)"
if [ -z "$cookie_secret" ]; then cookie_secret="$("$PYTHON_ANY" -c 'import secrets; print(secrets.token_hex(32))')"; fi

pids=()           # every process we started; each leads its own process group (setsid)
checker=""        # the start-up health check, while it runs
nginx_tmp=""      # nginx's temporary files when it runs as root (removed on exit)
sleeper=""        # and the pause between its polls
names=()
stopping=0
status=0

stop_all() {
    # SIGTERM to each process group, up to 15 s to finish, then SIGKILL to whatever is left.
    local pid deadline
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + 15))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null || kill -0 -- "-$pid" 2>/dev/null; then
            echo "serve_class.sh: process group $pid ignored SIGTERM; killing it" >&2
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

finish() {
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM
    for pid in $checker $sleeper; do kill "$pid" 2>/dev/null || true; done
    if [ "${#pids[@]}" -gt 0 ]; then
        echo "serve_class.sh: stopping ${#pids[@]} processes" >&2
        stop_all
    fi
    if [ -n "$nginx_tmp" ]; then rm -rf "$nginx_tmp"; fi
    if [ "$made_run_dir" = 1 ] && [ "$status" = 0 ]; then
        rm -rf "$run_dir"
    elif [ -d "$run_dir" ]; then
        echo "serve_class.sh: logs kept in $run_dir" >&2
    fi
    echo "serve_class.sh: stopped" >&2
}
on_signal() { echo "serve_class.sh: $1 received" >&2; finish; exit "$status"; }
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'finish' EXIT

start() {   # start NAME LOGFILE COMMAND... in its own session (process group), remember its pid
    local name="$1" log="$2"
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    pids+=($!)
    names+=("$name")
    echo "$name $!" >>"$run_dir/pids"     # each leads a process group: kill -- -PID stops it and its children
}

wait_healthy() {   # wait_healthy URL... : every URL answers 200 within --timeout seconds (exec: run with &, $! is python)
    exec "$PYTHON_ANY" - "$timeout" "$@" <<'PY'
import sys, time, urllib.request
timeout, urls = float(sys.argv[1]), sys.argv[2:]
deadline = time.monotonic() + timeout
pending = list(urls)
while pending and time.monotonic() < deadline:
    for url in list(pending):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    pending.remove(url)
        except OSError:
            pass
    time.sleep(0.5)
if pending:
    print("not healthy after %d s: %s" % (timeout, " ".join(pending)), file=sys.stderr)
    sys.exit(1)
PY
}

check_alive() {   # fail fast when a started process has already exited
    local i
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "serve_class.sh: ${names[$i]} exited during start-up; its log:" >&2
            tail -n 20 "$run_dir/${names[$i]}.log" >&2 || true
            return 1
        fi
    done
}

await_health() {   # await_health URL... : all answer 200, or exit 1 (a child died, or --timeout passed)
    # The check runs in the background and the script waits with the `wait` builtin: bash runs a trap only
    # between commands, and `wait` (unlike a foreground command) returns at once when a signal arrives, so
    # SIGTERM during start-up stops everything now rather than after the health check's timeout.
    wait_healthy "$@" &
    checker=$!
    while kill -0 "$checker" 2>/dev/null; do
        if ! check_alive; then
            kill "$checker" 2>/dev/null || true
            status=1
            exit 1
        fi
        sleep 1 &
        sleeper=$!
        wait "$sleeper" || true
    done
    sleeper=""
    if ! wait "$checker"; then
        status=1
        exit 1
    fi
    checker=""
}

# 1. the proxy's configuration, checked before anything starts
if [ "$proxy" = 1 ]; then
    servers=""
    for p in "${replica_ports[@]}"; do servers+="        server $replica_address:$p max_fails=3 fail_timeout=10s;"$'\n'; done
    for u in "${upstreams[@]}"; do servers+="        server $u max_fails=3 fail_timeout=10s;"$'\n'; done
    user_directive=""
    tmp_dir="$run_dir/tmp"
    if [ "$(id -u)" = 0 ]; then
        # the master runs as root, its workers as nobody: they need a temp directory they can reach
        user_directive="user nobody nogroup;   # the master runs as root: workers do not"
        nginx_tmp="$(mktemp -d "${TMPDIR:-/tmp}/samviz-nginx.XXXXXX")"
        chmod 755 "$nginx_tmp"
        tmp_dir="$nginx_tmp"
    fi
    SERVERS="$servers" RUN_DIR="$run_dir" TMP_DIR="$tmp_dir" USER_DIRECTIVE="$user_directive" LISTEN="$listen_address" \
        PORT="$port" \
        "$PYTHON_ANY" - "$TEMPLATE" "$run_dir/nginx.conf" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for name in ("RUN_DIR", "TMP_DIR", "USER_DIRECTIVE", "LISTEN", "PORT"):
    text = text.replace(f"@{name}@", os.environ[name])
text = text.replace("@UPSTREAM_SERVERS@\n", os.environ["SERVERS"])
if "@" in "".join(line.split("#")[0] for line in text.splitlines()):
    sys.exit("unfilled placeholder in the nginx template")
open(sys.argv[2], "w").write(text)
PY
    if ! "$NGINX" -t -q -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/nginx-error.log" 2>"$run_dir/nginx-test.log"; then
        echo "serve_class.sh: nginx rejected $run_dir/nginx.conf:" >&2
        cat "$run_dir/nginx-test.log" "$run_dir/nginx-error.log" >&2 2>/dev/null || true
        status=1
        exit 1
    fi
fi

# 2. the replicas, until each answers its health check
health_urls=()
for p in "${replica_ports[@]}"; do
    # (Streamlit takes the cookie secret only from its environment or a config file, never from the CLI)
    start "replica-$p" "$run_dir/replica-$p.log" env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
        STREAMLIT_SERVER_COOKIE_SECRET="$cookie_secret" \
        "$PYTHON" -m streamlit run app.py --server.headless true --server.address "$replica_address" \
        --server.port "$p" --browser.gatherUsageStats false --server.fileWatcherType none
    health_urls+=("http://$replica_address:$p/_stcore/health")
done
echo "serve_class.sh: starting ${#replica_ports[@]} replicas (${replica_ports[*]:-none})$([ "$proxy" = 1 ] && echo " behind nginx on $listen_address:$port"); run dir $run_dir" >&2
if [ "${#health_urls[@]}" -gt 0 ]; then await_health "${health_urls[@]}"; fi

# 3. the proxy, once there is something behind it (a replica refused while starting would be marked
#    down for fail_timeout), until it answers through to a replica
if [ "$proxy" = 1 ]; then
    start nginx "$run_dir/nginx.log" "$NGINX" -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/nginx-error.log"
    await_health "http://$listen_address:$port/_stcore/health"
fi
if [ "$proxy" = 1 ]; then
    echo "serve_class.sh: ready: http://$listen_address:$port/ (${#replica_ports[@]} local replicas, ${#upstreams[@]} remote)" >&2
else
    echo "serve_class.sh: ready: replicas on $replica_address:${replica_ports[*]}" >&2
fi

# 4. supervise: any child that exits ends the whole service (a silent half-service helps nobody)
while true; do
    wait -n || true
    [ "$stopping" = 1 ] && break
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "serve_class.sh: ${names[$i]} exited unexpectedly; stopping everything (log: $run_dir/${names[$i]}.log)" >&2
            status=1
            exit 1
        fi
    done
done
