#!/usr/bin/env bash
# Side-by-side fan-out benchmark on loopback: weir, nginx-rtmp and
# node-media-server, each pinned to one CPU with weir-bench on another,
# the same scenarios one after another. Writes the results table and the
# machine it ran on into docs/benchmarks.md, between the compare markers
# (the rest of that file is hand-written analysis and is kept).
#
# Not part of the test command: it takes several minutes and installs
# packages (apt-get: nginx, libnginx-mod-rtmp; npm: node-media-server into
# bench/.peers, which git ignores).
#
# Knobs (environment):
#   SERVERS="weir weir-mw40 weir-mw350 nginx-rtmp nms"
#                                           which servers, in order; weir-mwN is
#                                           weir with rtmp.merge_write_ms = N
#   RTMP_PLAYERS="100 500 1000 2000"        RTMP scenarios
#   HTTP_PLAYERS="1000"                     HTTP-FLV scenarios (servers that have it;
#                                           set a list to "" to skip it)
#   RTSP_PLAYERS="1000"                     RTSP (TCP interleaved) scenarios, weir only
#                                           (published over RTMP, played over RTSP)
#   RTMPT_PLAYERS="200"                     RTMPT (RTMP over HTTP POSTs on the HTTP
#                                           port) scenarios, weir only
#   MW_PLAYERS="1000 2000"                  weir-mwN scenarios (RTMP)
#   C0_PLAYERS="1000"                       weir-c0 scenarios (RTMP and HTTP-FLV):
#                                           weir with audio coalescing off
#                                           (hub.coalesce_audio_ms = 0)
#   WEIR_BEFORE=path BEFORE_PLAYERS="1000"  also run an older weir binary as
#                                           "weir-before" (RTMP, default config)
#   DURATION=15 RAMP=500 BITRATE=1M         per run
#   SERVER_CPU=0 TOOL_CPU=1                 pinning
#   PRIO=-10                                scheduler autogroup nice of server and
#                                           tool ("" = leave as is); see prio()
#   OUT=docs/benchmarks.md
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
OUT=${OUT:-$ROOT/docs/benchmarks.md}
WORK=${WORK:-$CARGO_TARGET_DIR/compare}
PEERS=${PEERS:-$ROOT/bench/.peers}
SERVERS=${SERVERS:-"weir weir-c0 weir-mw40 weir-mw350 nginx-rtmp nms"}
RTMP_PLAYERS=${RTMP_PLAYERS-"100 500 1000 2000"}
HTTP_PLAYERS=${HTTP_PLAYERS-"1000"}
RTSP_PLAYERS=${RTSP_PLAYERS-"1000"}
RTMPT_PLAYERS=${RTMPT_PLAYERS-"200"}
MW_PLAYERS=${MW_PLAYERS-"1000 2000"}
C0_PLAYERS=${C0_PLAYERS-"1000"}
WEIR_BEFORE=${WEIR_BEFORE:-}
BEFORE_PLAYERS=${BEFORE_PLAYERS-"1000"}
DURATION=${DURATION:-15}
RAMP=${RAMP:-500}
BITRATE=${BITRATE:-1M}
SERVER_CPU=${SERVER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
PRIO=${PRIO--10}
WEIR=$CARGO_TARGET_DIR/release/weir
BENCH=$CARGO_TARGET_DIR/release/weir-bench
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
NMS_APP=$PEERS/node_modules/node-media-server/bin/app.js

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

install_peers() {
    if ! command -v jq >/dev/null || ! command -v ss >/dev/null; then
        log "installing jq and iproute2"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq iproute2 >/dev/null
    fi
    if [[ $SERVERS == *nginx-rtmp* ]] && { ! command -v nginx >/dev/null || [[ ! -f $NGINX_MODULE ]]; }; then
        log "installing nginx + libnginx-mod-rtmp"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null
    fi
    if [[ $SERVERS == *nms* && ! -f $NMS_APP ]]; then
        log "installing node-media-server into $PEERS"
        mkdir -p "$PEERS"
        npm install --prefix "$PEERS" --no-audit --no-fund --loglevel=error node-media-server@4 >/dev/null
    fi
}

build() {
    log "building weir and weir-bench (release)"
    cargo build --release -q -p weir -p weir-bench
}

# A TCP port no socket uses, below the ephemeral range (32768 and up by
# default) so that the tool's own connections never hold it.
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % 20000))
        if ! ss -Htan "sport = :$p" | grep -q .; then
            echo "$p"
            return
        fi
    done
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listens on $port"
    return 1
}

# On a shared machine every login session is its own scheduler autogroup
# and shares the CPUs with the others' as a whole, whatever nice says
# inside it: background builds would starve the server and the tool and
# the latency columns would measure the scheduler. So the server and the
# tool each get a session (setsid) whose autogroup runs at nice $PRIO.
prio() {
    [[ -n $PRIO && -w /proc/$1/autogroup ]] || return 0
    local mine i
    mine=$(cut -d' ' -f1 /proc/self/autogroup)
    for i in $(seq 1 100); do
        if [[ $(cut -d' ' -f1 "/proc/$1/autogroup" 2>/dev/null) != "$mine" ]]; then
            echo "$PRIO" >"/proc/$1/autogroup" 2>/dev/null || true
            return 0
        fi
        sleep 0.02
    done
}

SERVER_PID=
RTMP_PORT=
HTTP_PORT=
RTSP_PORT=

start_server() {
    local name=$1 dir=$WORK/run/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    RTMP_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    while [[ $HTTP_PORT == "$RTMP_PORT" ]]; do HTTP_PORT=$(free_port); done
    RTSP_PORT=
    case $name in
    weir | weir-mw* | weir-c0)
        local mw=0 coalesce=40
        [[ $name == weir-mw* ]] && mw=${name#weir-mw}
        [[ $name == weir-c0 ]] && coalesce=0
        RTSP_PORT=$(free_port)
        while [[ $RTSP_PORT == "$RTMP_PORT" || $RTSP_PORT == "$HTTP_PORT" ]]; do RTSP_PORT=$(free_port); done
        cat >"$dir/weir.toml" <<EOF
[rtmp]
merge_write_ms = $mw
max_connections = 20000
[rtsp]
max_connections = 20000
[http]
# RTMPT players all poll from 127.0.0.1: not a slowloris.
max_idle_per_ip = 0
[hub]
coalesce_audio_ms = $coalesce
EOF
        # RTSP over TCP only: no UDP port pair to collide with anything.
        setsid taskset -c "$SERVER_CPU" "$WEIR" --log-format text serve -c "$dir/weir.toml" \
            --rtmp-listen "127.0.0.1:$RTMP_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
            --rtsp-listen "127.0.0.1:$RTSP_PORT" --rtsp-rtp-port 0 --rtsp-rtcp-port 0 \
            --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        ;;
    weir-before)
        setsid taskset -c "$SERVER_CPU" "$WEIR_BEFORE" serve \
            --rtmp-listen "127.0.0.1:$RTMP_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
            --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        ;;
    nginx-rtmp)
        cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
load_module $NGINX_MODULE;
events { worker_connections 20000; }
rtmp {
    server {
        listen 127.0.0.1:$RTMP_PORT;
        chunk_size 4096;
        application live { live on; }
    }
}
EOF
        setsid taskset -c "$SERVER_CPU" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
            >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        HTTP_PORT=
        ;;
    nms)
        jq --argjson r "$RTMP_PORT" --argjson h "$HTTP_PORT" --arg d "$dir/data" \
            '.bind = "127.0.0.1" | .rtmp.port = $r | .http.port = $h | .store.path = $d
             | .record.path = ($d + "/record") | .webadmin.enable = false | del(.rtmps) | del(.https)' \
            "$PEERS/node_modules/node-media-server/bin/config.json" >"$dir/config.json"
        (cd "$dir" && exec setsid taskset -c "$SERVER_CPU" node "$NMS_APP" -c "$dir/config.json" --no-admin) \
            >"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        ;;
    *)
        log "unknown server $name"
        return 1
        ;;
    esac
    prio "$SERVER_PID"
    wait_port "$RTMP_PORT"
    [[ -z $HTTP_PORT ]] || wait_port "$HTTP_PORT"
    [[ -z $RTSP_PORT ]] || wait_port "$RTSP_PORT"
}

stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT

RESULTS=()

# run_one SERVER PROTO PLAYERS
run_one() {
    local name=$1 proto=$2 n=$3 play file
    if ! start_server "$name"; then
        log "$name did not start: $(tail -3 "$WORK/run/$name/server.log" 2>/dev/null)"
        stop_server
        return 0
    fi
    local publish="rtmp://127.0.0.1:$RTMP_PORT/live/bench"
    case $proto in
    rtmp) play=$publish ;;
    http-flv) play="http://127.0.0.1:$HTTP_PORT/live/bench.flv" ;;
    rtsp) play="rtsp://127.0.0.1:$RTSP_PORT/live/bench" ;;
    rtmpt) play="rtmpt://127.0.0.1:$HTTP_PORT/live/bench" ;;
    esac
    file=$WORK/results/$(printf '%s-%s-%05d.json' "$name" "$proto" "$n")
    log "$name $proto x$n"
    local err=$WORK/results/$name-$proto-$n.err bench_pid status=0
    setsid taskset -c "$TOOL_CPU" "$BENCH" --quiet --json --label "$name" \
        --publish-url "$publish" --play-url "$play" -n "$n" -r "$RAMP" \
        -d "$DURATION" --bitrate "$BITRATE" --server-pid "$SERVER_PID" \
        --cache-dir "$CARGO_TARGET_DIR/weir-bench" >"$file.tmp" 2>"$err" &
    bench_pid=$!
    prio "$bench_pid"
    wait "$bench_pid" || status=$?
    if [[ $status == 0 ]]; then
        mv "$file.tmp" "$file"
        RESULTS+=("$file")
        jq -r '"  keeping up \(.keeping_up)/\(.players), cpu \(.server.cpu_busy_pct|floor)%, \(.server.cpu_ms_per_player_s*1000|floor/1000) ms/player-s, p99 \(.latency.p99_ms) ms, audio p99 \(.latency_audio.p99_ms) ms"' "$file" >&2
    else
        log "run failed: $(tail -3 "$err")"
        rm -f "$file.tmp"
    fi
    stop_server
    sleep 1
}

has_http() { [[ $1 != nginx-rtmp ]]; }
has_rtsp() { [[ $1 == weir ]]; }

main() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    install_peers
    build
    rm -rf "$WORK/results"
    mkdir -p "$WORK/results"
    local s n
    if [[ -n $WEIR_BEFORE ]]; then
        for n in $BEFORE_PLAYERS; do run_one weir-before rtmp "$n"; done
    fi
    for s in $SERVERS; do
        if [[ $s == weir-mw* ]]; then
            for n in $MW_PLAYERS; do run_one "$s" rtmp "$n"; done
            continue
        fi
        if [[ $s == weir-c0 ]]; then
            for n in $C0_PLAYERS; do
                run_one "$s" rtmp "$n"
                run_one "$s" http-flv "$n"
            done
            continue
        fi
        for n in $RTMP_PLAYERS; do run_one "$s" rtmp "$n"; done
        if has_http "$s"; then
            for n in $HTTP_PLAYERS; do run_one "$s" http-flv "$n"; done
        fi
        if has_rtsp "$s"; then
            for n in $RTSP_PLAYERS; do run_one "$s" rtsp "$n"; done
            for n in $RTMPT_PLAYERS; do run_one "$s" rtmpt "$n"; done
        fi
    done
    write_doc
}

machine() {
    local cpu mem
    cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
    mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
    echo "- Machine: $cpu, $(nproc) CPUs, $mem RAM, Linux $(uname -r)"
    echo "- Pinning: server on CPU $SERVER_CPU, weir-bench on CPU $TOOL_CPU (taskset); loopback; server and tool in their own scheduler autogroups at nice ${PRIO:-0}; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- weir $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' + uncommitted changes'), release build"
    echo "- $(nginx -v 2>&1 | sed 's/^nginx version: //') with libnginx-mod-rtmp $(dpkg-query -W -f='${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?'), 1 worker"
    echo "- node-media-server $(jq -r .version "$PEERS/node_modules/node-media-server/package.json" 2>/dev/null || echo '?') on node $(node --version 2>/dev/null || echo '?')"
    echo "- Stream: generated H.264 CBR + AAC, $BITRATE total, 2 s GOP, looped; ${DURATION} s window after a ramp of $RAMP players/s; 50 measuring players"
    echo "- weir: default settings (audio of streams with ≥ 100 viewers waits ≤ 40 ms for the next video frame); weir-c0: that coalescing off; weir-mwN: weir with rtmp.merge_write_ms = N (merged writes); run on $(date -u +%Y-%m-%d)"
}

write_doc() {
    local gen
    gen=$(mktemp)
    {
        echo "<!-- compare:begin (written by bench/compare.sh; edits here are overwritten) -->"
        machine
        echo
        "$BENCH" --table "${RESULTS[@]}"
        echo "<!-- compare:end -->"
    } >"$gen"
    if [[ -f $OUT ]] && grep -q '<!-- compare:begin' "$OUT"; then
        awk -v gen="$gen" '
            /<!-- compare:begin/ { while ((getline line < gen) > 0) print line; skip = 1; next }
            /<!-- compare:end -->/ { skip = 0; next }
            !skip { print }
        ' "$OUT" >"$OUT.tmp"
        mv "$OUT.tmp" "$OUT"
    else
        { echo "# Benchmarks"; echo; cat "$gen"; } >"$OUT"
    fi
    rm -f "$gen"
    log "wrote $OUT"
}

main "$@"
