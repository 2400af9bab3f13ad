#!/usr/bin/env bash
# Prepare an aarch64 CPython 3.11 that runs on an x86_64 host under qemu-user:
# Debian bookworm's arm64 packages unpacked with `dpkg -x` (no chroot, no
# binfmt), plus lambdapack's runtime dependencies as aarch64 wheels. Run it as
#   qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11
# Idempotent; needs root (apt) and the Debian mirror. Used by
# tests/test_cross_arch.py and .ci/run.
set -euo pipefail
root=${1:?usage: prepare-arm64-python.sh ROOT}
# The marker names the recipe: a root prepared by an older one is completed.
ready="$root/.lambdapack-ready-2"
if [ -x "$root/usr/bin/python3.11" ] && [ -f "$ready" ]; then
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
packages=(
    python3.11-minimal libpython3.11-minimal libpython3.11-stdlib
    libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5
    libuuid1 libcrypt1 libsqlite3-0 libncursesw6 libtinfo6 libreadline8
)
(cd "$work" && apt-get download -qq "${packages[@]/%/:arm64}")
mkdir -p "$root"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$root"
done

# lambdapack's own dependencies, for the target: aarch64 wheels unpacked into ROOT/site
python3 -m pip download --quiet --only-binary :all: --no-deps --dest "$work/wheels" \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
    --python-version 3.11 --implementation cp \
    click pathspec packaging "deflate==0.9.0"
mkdir -p "$root/site"
for wheel in "$work"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$root/site"
done
touch "$ready"
