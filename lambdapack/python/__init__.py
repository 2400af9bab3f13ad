"""Python functions: the first ecosystem (lambdapack.ecosystem).

``CONFIG`` reads the Python keys of the config; :func:`create` makes the
ecosystem that resolves with uv, installs target wheels, owns files by
``RECORD`` and checks handlers by parsing. Importing this package is light;
the heavy parts load when a build needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lambdapack.python.config import CONFIG

if TYPE_CHECKING:
    from lambdapack.python.ecosystem import PythonEcosystem

__all__ = ["CONFIG", "create"]


def create(environ: Mapping[str, str]) -> PythonEcosystem:
    from lambdapack.python.ecosystem import PythonEcosystem

    return PythonEcosystem(environ=environ)
