"""Node.js functions: the second ecosystem (lambdapack.ecosystem).

``CONFIG`` reads the Node.js keys of the config; :func:`create` makes the
ecosystem that installs a function's production dependencies exactly as its
lock file says, for the target's os/cpu/libc, with no lifecycle scripts, and
checks handlers and native addons. Importing this package is light; the
heavy parts load when a build needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lambdapack.node.config import CONFIG

if TYPE_CHECKING:
    from lambdapack.node.ecosystem import NodeEcosystem

__all__ = ["CONFIG", "create"]


def create(environ: Mapping[str, str]) -> NodeEcosystem:
    from lambdapack.node.ecosystem import NodeEcosystem

    return NodeEcosystem(environ=environ)
