#!/usr/bin/env bash
# Undo tests/engine/up.sh [STATE_DIR] (default STATE_DIR: <repo>/.cache/engine): stop the
# dockerd that up.sh started (by its pid file, waiting for it to exit) and remove the
# qemu-aarch64 binfmt_misc registration only if up.sh made it. Idempotent.
#
# The data-root (STATE_DIR/data) and so the built images are kept on purpose: the next up.sh
# only restarts the daemon (about a second) instead of rebuilding the images (minutes).
# To start from scratch: down.sh, then `rm -rf STATE_DIR`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${1:-$here/../../.cache/engine}
log() { printf '[engine] %s\n' "$*" >&2; }

[ -d "$state" ] || { log "no state directory $state: nothing to do"; exit 0; }
state=$(cd "$state" && pwd)

# --- the daemon: only ours (the pid in our pid file, and it must be a dockerd) ------------------
pidfile=$state/dockerd.pid
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ]; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    # dockerd stops its containers (up to 15 s each by default) and its containerd first.
    for _ in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "dockerd (pid $pid) still running after 60 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    log "dockerd stopped"
elif [ -n "$pid" ]; then
    log "stale pid file (pid $pid is not a dockerd): removing it"
else
    log "no dockerd of ours is running"
fi
rm -f "$pidfile"

# --- binfmt: only the registration up.sh recorded as its own -----------------------------------
marker=$state/binfmt.registered
if [ -f "$marker" ]; then
    entry=/proc/sys/fs/binfmt_misc/$(cat "$marker")
    if [ -e "$entry" ]; then
        echo -1 >"$entry"
        log "removed the binfmt_misc registration $entry"
    fi
    rm -f "$marker"
fi
