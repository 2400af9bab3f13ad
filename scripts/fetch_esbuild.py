"""Download the pinned esbuild's tarball for this machine into ``.cache/esbuild/``
(its integrity checked against lambdapack's pin), for the offline tests: the
loopback npm registry (tests/npm_registry.py) serves it from there, so the
tests exercise lambdapack's own download of esbuild with no network.
``make setup`` runs it; it does nothing when the tarball is there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lambdapack.node import esbuild

REPO = Path(__file__).resolve().parent.parent
DIRECTORY = REPO / ".cache" / "esbuild"


def main() -> int:
    name = esbuild.host_platform()
    if name is None:
        print("fetch_esbuild: no pinned esbuild for this machine; nothing fetched", file=sys.stderr)
        return 0
    target = DIRECTORY / f"{name}-{esbuild.VERSION}.tgz"
    if target.is_file():
        return 0
    data = esbuild.download(name, os.environ)  # checked against the pinned integrity
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    print(f"fetch_esbuild: {target.relative_to(REPO)} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
