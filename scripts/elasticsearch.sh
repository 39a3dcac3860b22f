#!/usr/bin/env bash
# Start, stop and inspect a local single-node Elasticsearch for tests and CI.
#
# Usage:
#   scripts/elasticsearch.sh start [PORT]   # prints the base URL (one line) on stdout
#   scripts/elasticsearch.sh stop
#   scripts/elasticsearch.sh status         # prints URL + cluster health JSON, exit 1 if down
#
# Why it works this way:
#   * No Docker and no download from the vendor website: Elastic publishes the
#     integration-test distribution of Elasticsearch to Maven Central as
#     org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip.
#     It is fetched with Maven (cached in the local Maven repository, so later
#     runs need no network). It is a minimal build (server + a few x-pack
#     modules, no bundled JDK), so the system JDK is used via ES_JAVA_HOME.
#     Dense vectors / kNN and BM25 live in the server itself and work; extras
#     such as painless scripting, analysis-common or ML are not included.
#   * Elasticsearch refuses to run as root. When this script runs as root the
#     node runs as an unprivileged system user (ES_RUN_USER, else the system
#     user "vectorhouse-es", created with useradd if missing, else "nobody"),
#     and everything lives under a work directory outside root's home.
#     Run as a normal user, the node runs as that user.
#
# Environment overrides:
#   ES_VERSION    Elasticsearch version (default 8.19.0)
#   ES_HOME_DIR   work directory (default /tmp/vectorhouse-es)
#   ES_RUN_USER   user to run the node as when invoked as root
#   ES_JAVA_HOME  JDK home (default: derived from `java` on PATH)
#   ES_JAVA_OPTS  JVM options (default: -Xms512m -Xmx512m)
#   ES_START_TIMEOUT  seconds to wait for the node to become healthy (default 180)
set -euo pipefail

ES_VERSION="${ES_VERSION:-8.19.0}"
ES_HOME_DIR="${ES_HOME_DIR:-/tmp/vectorhouse-es}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-180}"
ES_JAVA_OPTS="${ES_JAVA_OPTS:--Xms512m -Xmx512m}"
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"
MVN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

ES_DIST="${ES_HOME_DIR}/elasticsearch-${ES_VERSION}"
DOWNLOAD_DIR="${ES_HOME_DIR}/download"
DATA_DIR="${ES_HOME_DIR}/data"
LOGS_DIR="${ES_HOME_DIR}/logs"
RUN_DIR="${ES_HOME_DIR}/run"
TMP_DIR="${ES_HOME_DIR}/tmp"
PID_FILE="${RUN_DIR}/elasticsearch.pid"
PORT_FILE="${RUN_DIR}/elasticsearch.port"
LAUNCHER_LOG="${LOGS_DIR}/launcher.log"
CLUSTER_NAME="vectorhouse-es"
NODE_LOG="${LOGS_DIR}/${CLUSTER_NAME}.log"
SYSTEM_USER="vectorhouse-es"

log() { printf '%s\n' "elasticsearch.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    echo "usage: $0 {start [PORT]|stop|status}" >&2
    exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- helpers ---------------------------------------------------------------

read_pid() {
    [ -s "$PID_FILE" ] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [ -n "$pid" ] || return 1
    printf '%s\n' "$pid"
}

# True if PID is alive and looks like an Elasticsearch JVM.
is_es_pid() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'org.elasticsearch' || return 1
    fi
    return 0
}

running_pid() {
    local pid
    pid="$(read_pid)" || return 1
    is_es_pid "$pid" || return 1
    printf '%s\n' "$pid"
}

recorded_port() {
    [ -s "$PORT_FILE" ] || return 1
    tr -dc '0-9' <"$PORT_FILE"
}

health() {
    # Prints the cluster health JSON; fails unless status is yellow or green.
    curl -sf --max-time 10 \
        "http://127.0.0.1:$1/_cluster/health?wait_for_status=yellow&timeout=${2:-5s}"
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
    else
        # Fallback: 9200 if nothing answers there.
        if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:9200/"; then
            die "python3 not found and port 9200 is busy; pass a PORT explicitly"
        fi
        echo 9200
    fi
}

find_java_home() {
    if [ -n "${ES_JAVA_HOME:-}" ]; then
        printf '%s\n' "$ES_JAVA_HOME"
        return
    fi
    local java
    java="$(command -v java || true)"
    [ -n "$java" ] || die "java not found on PATH (set ES_JAVA_HOME)"
    java="$(readlink -f "$java")"
    # .../bin/java -> ...
    dirname "$(dirname "$java")"
}

# Decide which user runs the node; prints the user name.
run_user() {
    if ! is_root; then
        id -un
        return
    fi
    if [ -n "${ES_RUN_USER:-}" ]; then
        id "$ES_RUN_USER" >/dev/null 2>&1 || die "ES_RUN_USER=$ES_RUN_USER does not exist"
        printf '%s\n' "$ES_RUN_USER"
        return
    fi
    if id "$SYSTEM_USER" >/dev/null 2>&1; then
        printf '%s\n' "$SYSTEM_USER"
        return
    fi
    if command -v useradd >/dev/null 2>&1 &&
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$SYSTEM_USER" >/dev/null 2>&1; then
        log "created system user $SYSTEM_USER"
        printf '%s\n' "$SYSTEM_USER"
        return
    fi
    id nobody >/dev/null 2>&1 || die "cannot create $SYSTEM_USER and user 'nobody' does not exist"
    log "could not create user $SYSTEM_USER; running as nobody"
    echo nobody
}

# Run a command as USER (no-op switch when not root).
as_user() {
    local user="$1"
    shift
    if ! is_root; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$user" -- "$@"
    elif command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups -- "$@"
    else
        die "need runuser or setpriv to drop root privileges"
    fi
}

fetch_zip() {
    local zip="${DOWNLOAD_DIR}/elasticsearch-${ES_VERSION}.zip"
    if [ -s "$zip" ]; then
        printf '%s\n' "$zip"
        return
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found (needed to fetch $ES_ARTIFACT from Maven Central)"
    mkdir -p "$DOWNLOAD_DIR"
    log "fetching $ES_ARTIFACT with Maven"
    # Run outside any project directory so no pom.xml is picked up.
    # Its output goes to stderr (stdout is reserved for the URL), minus the
    # stray colour codes some Maven builds print even in batch mode.
    (cd "$DOWNLOAD_DIR" && mvn -q -B -Dstyle.color=never \
        "${MVN_DEPENDENCY_PLUGIN}:copy" \
        -Dartifact="$ES_ARTIFACT" \
        -DoutputDirectory="$DOWNLOAD_DIR") 2>&1 |
        sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2 ||
        die "Maven could not fetch $ES_ARTIFACT"
    [ -s "$zip" ] || die "Maven did not produce $zip"
    printf '%s\n' "$zip"
}

unpack() {
    if [ -x "${ES_DIST}/bin/elasticsearch" ] && [ -f "${ES_DIST}/.unpacked" ]; then
        return
    fi
    command -v unzip >/dev/null 2>&1 || die "unzip not found"
    local zip staging
    zip="$(fetch_zip)"
    staging="${ES_HOME_DIR}/.unpack.$$"
    rm -rf "$staging" "$ES_DIST"
    mkdir -p "$staging"
    log "unpacking $(basename "$zip") into $ES_HOME_DIR"
    unzip -q "$zip" -d "$staging"
    mv "${staging}/elasticsearch-${ES_VERSION}" "$ES_DIST"
    rm -rf "$staging"
    touch "${ES_DIST}/.unpacked"
}

# print_log_tail FIRST_LINE: the node log's last 50 lines written by this
# start (from line FIRST_LINE on), then the launcher's output.
print_log_tail() {
    local first="${1:-1}"
    if [ -s "$NODE_LOG" ] && [ "$(wc -l <"$NODE_LOG")" -ge "$first" ]; then
        log "last 50 lines of $NODE_LOG:"
        tail -n "+$first" "$NODE_LOG" | tail -n 50 >&2
    fi
    if [ -s "$LAUNCHER_LOG" ]; then
        log "last 50 lines of $LAUNCHER_LOG:"
        tail -n 50 "$LAUNCHER_LOG" >&2
    fi
}

# --- commands --------------------------------------------------------------

cmd_start() {
    local port="${1:-}"
    if [ -n "$port" ] && ! [[ "$port" =~ ^[0-9]+$ ]]; then
        die "invalid port: $port"
    fi

    local pid
    if pid="$(running_pid)"; then
        local cur
        cur="$(recorded_port || true)"
        if [ -n "$port" ] && [ "$port" != "$cur" ]; then
            die "already running on port $cur (pid $pid); run '$0 stop' first"
        fi
        if health "$cur" >/dev/null; then
            log "already running (pid $pid)"
            echo "http://127.0.0.1:${cur}"
            return 0
        fi
        die "a node is running (pid $pid, port $cur) but is not healthy; run '$0 stop' first"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"

    [ -n "$port" ] || port="$(free_port)"
    if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:${port}/"; then
        die "port $port is already in use"
    fi

    mkdir -p "$ES_HOME_DIR"
    unpack
    mkdir -p "$DATA_DIR" "$LOGS_DIR" "$RUN_DIR" "$TMP_DIR"

    local user java_home
    user="$(run_user)"
    java_home="$(find_java_home)"
    [ -x "${java_home}/bin/java" ] || die "no java at ${java_home}/bin/java (set ES_JAVA_HOME)"

    if is_root; then
        chown -R "${user}:$(id -gn "$user")" "$ES_HOME_DIR"
    fi

    local -a settings=(
        "-Ecluster.name=${CLUSTER_NAME}"
        "-Ediscovery.type=single-node"
        "-Enetwork.host=127.0.0.1"
        "-Ehttp.port=${port}"
        "-Epath.data=${DATA_DIR}"
        "-Epath.logs=${LOGS_DIR}"
        "-Ecluster.routing.allocation.disk.threshold_enabled=false"
    )
    # Only pass settings whose module ships in this distribution; unknown
    # settings make Elasticsearch refuse to start.
    if [ -d "${ES_DIST}/modules/x-pack-security" ]; then
        settings+=("-Expack.security.enabled=false")
    fi
    if [ -d "${ES_DIST}/modules/x-pack-ml" ]; then
        settings+=("-Expack.ml.enabled=false")
    fi
    if [ -d "${ES_DIST}/modules/ingest-geoip" ]; then
        settings+=("-Eingest.geoip.downloader.enabled=false")
    fi

    log "starting Elasticsearch ${ES_VERSION} as user ${user} on 127.0.0.1:${port}"
    echo "$port" >"$PORT_FILE"
    : >"$LAUNCHER_LOG"
    if is_root; then
        chown "${user}:$(id -gn "$user")" "$LAUNCHER_LOG" "$PORT_FILE"
    fi

    local log_first=1
    if [ -s "$NODE_LOG" ]; then
        log_first=$(($(wc -l <"$NODE_LOG") + 1))
    fi
    local started=$SECONDS
    # -d daemonizes the node; -p makes it write its pid. The launcher runs in
    # the background so its own wait does not count against our timeout.
    (
        cd "$ES_DIST"
        as_user "$user" env \
            ES_JAVA_HOME="$java_home" \
            ES_JAVA_OPTS="$ES_JAVA_OPTS" \
            ES_TMPDIR="$TMP_DIR" \
            ES_PATH_CONF="${ES_DIST}/config" \
            "${ES_DIST}/bin/elasticsearch" -d -p "$PID_FILE" "${settings[@]}"
    ) </dev/null >>"$LAUNCHER_LOG" 2>&1 &
    local launcher=$!

    local launcher_rc="" body="" reason="did not become healthy within ${ES_START_TIMEOUT}s"
    while [ $((SECONDS - started)) -lt "$ES_START_TIMEOUT" ]; do
        if body="$(health "$port" 2s 2>/dev/null)"; then
            break
        fi
        body=""
        if [ -z "$launcher_rc" ] && ! kill -0 "$launcher" 2>/dev/null; then
            wait "$launcher" && launcher_rc=0 || launcher_rc=$?
            if [ "$launcher_rc" -ne 0 ]; then
                reason="failed to start (launcher exited with status $launcher_rc)"
                break
            fi
        fi
        if [ -n "$launcher_rc" ] && ! running_pid >/dev/null; then
            reason="exited during startup"
            break
        fi
        sleep 1
    done

    if [ -z "$body" ]; then
        log "Elasticsearch on port $port $reason"
        print_log_tail "$log_first"
        cmd_stop >/dev/null 2>&1 || true
        kill "$launcher" 2>/dev/null || true
        exit 1
    fi
    wait "$launcher" 2>/dev/null || true

    log "ready after $((SECONDS - started))s (pid $(read_pid || echo '?')): $body"
    echo "http://127.0.0.1:${port}"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$PORT_FILE"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for i in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
    log "stopped"
    return 0
}

cmd_status() {
    local pid port body
    pid="$(running_pid)" || { log "not running"; exit 1; }
    port="$(recorded_port)" || { log "running (pid $pid) but port unknown"; exit 1; }
    body="$(health "$port" 2s)" || { log "running (pid $pid) on port $port but not healthy"; exit 1; }
    echo "http://127.0.0.1:${port}"
    echo "$body"
}

case "${1:-}" in
start)
    [ $# -le 2 ] || usage
    cmd_start "${2:-}"
    ;;
stop)
    [ $# -eq 1 ] || usage
    cmd_stop
    ;;
status)
    [ $# -eq 1 ] || usage
    cmd_status
    ;;
*) usage ;;
esac
