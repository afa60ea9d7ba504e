#!/usr/bin/env bash
# Start a private PostgreSQL server for the journal tests and print the DSN to use.
#
#   out=$(.ci/postgres.sh) && eval "$out"      # start (or reuse) the server, export the DSN
#   pytest tests/journal                        # PG tests now run instead of skipping
#   .ci/postgres.sh stop                        # stop it (destroy: stop and delete its directory)
#
# Why a private cluster (initdb in its own directory, own port, socket in its own directory) rather than
# the distribution's "main" cluster: it does not depend on how the package was installed or configured,
# never touches another server on the machine, and a second run finds and reuses it (idempotent).
#
# stdout carries only `export NAME='value'` lines; all progress and errors go to stderr. Exits non-zero
# with a message when no server can be started. Note that `eval "$(.ci/postgres.sh)"` would hide a
# failure (eval of an empty string succeeds), hence the `out=$(...) && eval "$out"` form above.
#
# Runs as root (server processes run as the `postgres` user, which the postgresql package creates) or as
# an ordinary user (server runs as that user). Settings, all optional:
#   CLEARHOUSE_PG_DIR       directory for data, socket and log  (default /tmp/clearhouse-ci-postgres)
#   CLEARHOUSE_PG_PORT      TCP port on 127.0.0.1               (default 55432)
#   CLEARHOUSE_PG_USER      role the tests log in as            (default clearhouse)
#   CLEARHOUSE_PG_PASSWORD  its password                        (default clearhouse)
#   CLEARHOUSE_PG_DB        database owned by that role         (default clearhouse_test)
#   CLEARHOUSE_PG_BINDIR    directory holding initdb/pg_ctl     (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

PG_DIR=${CLEARHOUSE_PG_DIR:-/tmp/clearhouse-ci-postgres}
PG_PORT=${CLEARHOUSE_PG_PORT:-55432}
PG_USER=${CLEARHOUSE_PG_USER:-clearhouse}
PG_PASSWORD=${CLEARHOUSE_PG_PASSWORD:-clearhouse}
PG_DB=${CLEARHOUSE_PG_DB:-clearhouse_test}
DATA="$PG_DIR/data"
SOCK="$PG_DIR/run"
LOG="$PG_DIR/postgres.log"
MARKER="$PG_DIR/.clearhouse-ci-postgres"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { printf 'postgres.sh: error: %s\n' "$*" >&2; exit 1; }

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

usage() {
    sed -n '2,6p' "$SELF" >&2
    exit "${1:-2}"
}

find_bindir() {
    if [[ -n ${CLEARHOUSE_PG_BINDIR:-} ]]; then
        [[ -x $CLEARHOUSE_PG_BINDIR/pg_ctl ]] || die "CLEARHOUSE_PG_BINDIR=$CLEARHOUSE_PG_BINDIR has no pg_ctl"
        printf '%s\n' "$CLEARHOUSE_PG_BINDIR"
        return
    fi
    local best="" dir
    # Newest major version first (Debian/Ubuntu layout).
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -n -r); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then best=$dir; break; fi
    done
    if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    [[ -n $best ]] || die "no PostgreSQL server binaries found (install: apt-get install -y postgresql)"
    printf '%s\n' "$best"
}

# Server processes may not run as root: as root, run them as the postgres user.
if [[ $(id -u) -eq 0 ]]; then
    RUN_AS=postgres
    id "$RUN_AS" >/dev/null 2>&1 || die "running as root but there is no '$RUN_AS' user to run the server"
    as_server() {
        if command -v runuser >/dev/null 2>&1; then
            runuser -u "$RUN_AS" -- "$@"
        else
            su -s /bin/sh "$RUN_AS" -c "$(printf '%q ' "$@")"
        fi
    }
else
    RUN_AS=$(id -un)
    as_server() { "$@"; }
fi

# Percent-encode for the userinfo/path parts of a URL.
urlencode() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [a-zA-Z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

running() {
    [[ -f $DATA/postmaster.pid ]] && as_server "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# The port the running server listens on (line 4 of postmaster.pid), so a reused server is reported right.
running_port() {
    sed -n '4p' "$DATA/postmaster.pid" 2>/dev/null | tr -d '[:space:]'
}

# A server whose pid is alive may still be starting up, shutting down, or dying (e.g. just killed): wait
# until it either accepts connections (return 0) or is gone (return 1), so we neither reuse a corpse nor
# start a second postmaster on a live data directory.
wait_ready_or_gone() {
    local isready=$BIN/pg_isready i port
    [[ -x $isready ]] || isready=$(command -v pg_isready) || die "pg_isready not found"
    for ((i = 0; i < 60; i++)); do
        running || return 1
        port=$(running_port)
        if [[ -n $port ]] && "$isready" -q -h "$SOCK" -p "$port" -t 2; then
            return 0
        fi
        sleep 0.5
    done
    die "a server is running from $DATA but does not accept connections; see $LOG"
}

print_env() {
    local port=$1
    printf "export CLEARHOUSE_TEST_POSTGRES_DSN='postgresql://%s:%s@127.0.0.1:%s/%s'\n" \
        "$(urlencode "$PG_USER")" "$(urlencode "$PG_PASSWORD")" "$port" "$(urlencode "$PG_DB")"
}

init_cluster() {
    log "initialising a new cluster in $DATA (server runs as $RUN_AS)"
    mkdir -p "$PG_DIR"
    if [[ $(id -u) -eq 0 ]]; then chown "$RUN_AS" "$PG_DIR"; fi
    as_server mkdir -p "$DATA" "$SOCK"
    as_server chmod 700 "$DATA"
    # Local socket: trust (the socket directory is private to the server user). TCP: password only.
    as_server "$BIN/initdb" -D "$DATA" -U "$RUN_AS" --no-locale -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log" >&2; die "initdb failed (see above)"; }
    touch "$MARKER"
}

start_server() {
    # Something else already answering on the port would make our start fail in a confusing way.
    if command -v pg_isready >/dev/null 2>&1 || [[ -x $BIN/pg_isready ]]; then
        local isready=$BIN/pg_isready
        [[ -x $isready ]] || isready=$(command -v pg_isready)
        local rc=0
        "$isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 || rc=$?
        if [[ $rc -eq 0 || $rc -eq 1 ]]; then
            die "another server already listens on 127.0.0.1:$PG_PORT; set CLEARHOUSE_PG_PORT to a free port"
        fi
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $LOG)"
    as_server mkdir -p "$SOCK"
    if ! as_server "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PG_PORT -k $SOCK -c listen_addresses=127.0.0.1" start >&2; then
        [[ -f $LOG ]] && tail -n 30 "$LOG" >&2
        die "PostgreSQL did not start (log above, full log in $LOG)"
    fi
}

# psql as the cluster superuser over the private socket.
admin_psql() {
    as_server "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$1" -U "$RUN_AS" -d postgres \
        -v user="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB"
}

ensure_role_and_db() {
    local port=$1
    log "ensuring role $PG_USER and database $PG_DB"
    admin_psql "$port" >&2 <<'SQL' || die "could not create the role/database (see above)"
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

check_login() {
    local port=$1
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=10 "$BIN/psql" -X -q -At -h 127.0.0.1 -p "$port" \
        -U "$PG_USER" -d "$PG_DB" -c 'SELECT 1' >/dev/null ||
        die "server is up but $PG_USER cannot log in to $PG_DB over TCP"
}

cmd_start() {
    # An empty data directory is what a failed initdb leaves behind: initialise it again.
    if [[ -d $DATA && ! -f $DATA/PG_VERSION && -n $(ls -A "$DATA" 2>/dev/null) ]]; then
        die "$DATA exists but is not a PostgreSQL data directory; remove it or set CLEARHOUSE_PG_DIR"
    fi
    [[ -f $DATA/PG_VERSION ]] || init_cluster
    local port
    if running && wait_ready_or_gone; then
        port=$(running_port)
        log "reusing the server already running from $DATA on port $port"
    else
        start_server
        port=$PG_PORT
    fi
    ensure_role_and_db "$port"
    check_login "$port"
    log "ready"
    print_env "$port"
}

cmd_stop() {
    if [[ -f $DATA/PG_VERSION ]] && running; then
        as_server "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    else
        log "no server running from $DATA"
    fi
}

cmd_destroy() {
    cmd_stop
    if [[ -e $PG_DIR ]]; then
        [[ -f $MARKER ]] || die "$PG_DIR was not created by this script; not deleting it"
        rm -rf -- "$PG_DIR"
        log "deleted $PG_DIR"
    fi
}

cmd_status() {
    if [[ -f $DATA/PG_VERSION ]] && running && wait_ready_or_gone; then
        log "running from $DATA on port $(running_port)"
        print_env "$(running_port)"
    else
        log "not running (data directory: $DATA)"
        exit 3
    fi
}

BIN=$(find_bindir)
cd /  # the server user may not be able to read the caller's working directory

case ${1:-start} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status | env) cmd_status ;;
    destroy) cmd_destroy ;;
    -h | --help | help) usage 0 ;;
    *) log "unknown command: $1"; usage ;;
esac
