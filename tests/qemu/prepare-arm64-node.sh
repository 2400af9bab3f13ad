#!/usr/bin/env bash
# Prepare an aarch64 Node.js 18 that runs on an x86_64 host under qemu-user:
# Debian bookworm's arm64 `nodejs` and the shared libraries and JavaScript
# modules it loads, unpacked with `dpkg -x` (no chroot, no binfmt). Run it as
#   qemu-aarch64-static -L ROOT ROOT/usr/bin/node
# Idempotent; needs root (apt) and the Debian mirror. Used by tests/noderun.py.
set -euo pipefail
root=${1:?usage: prepare-arm64-node.sh ROOT}
if [ -x "$root/usr/bin/node" ] && [ -f "$root/.lambdapack-ready" ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
    apt-get update -qq && updated=1
    apt-get install -y -qq qemu-user-static >/dev/null
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    updated=0
fi
[ "$updated" = 1 ] || apt-get update -qq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# `apt-cache depends --recurse nodejs:arm64`, without dpkg's own and debconf's
packages=(
    nodejs libnode108 libc6 libgcc-s1 libstdc++6 libbrotli1 libc-ares2 libicu72
    libnghttp2-14 libssl3 libuv1 zlib1g
)
# Architecture-independent modules that Debian's libnode loads from /usr/share/nodejs
modules=(node-acorn node-cjs-module-lexer node-undici node-busboy node-xtend)
(cd "$work" && apt-get download -qq "${packages[@]/%/:arm64}" "${modules[@]}")
mkdir -p "$root"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$root"
done
arch=$(qemu-aarch64-static -L "$root" "$root/usr/bin/node" -e 'process.stdout.write(process.arch)')
[ "$arch" = arm64 ] || { echo "arm64 node reports process.arch=$arch" >&2; exit 1; }
touch "$root/.lambdapack-ready"
