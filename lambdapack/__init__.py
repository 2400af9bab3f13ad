"""lambdapack: deterministic, verified AWS Lambda packages.

The library API (the CLI is a thin layer over it)::

    import lambdapack
    artifacts = lambdapack.build("path/to/project")          # every function
    artifact = lambdapack.build_function("functions/api", handler="app.handler",
                                         runtime="python3.12", architecture="arm64")
    artifact.path, artifact.code_sha256, artifact.sha256, artifact.size
    layer = lambdapack.build_layer(requirements="layers/common/requirements.txt",
                                   runtimes=["python3.12"], architecture="arm64")
    layer.compatible_runtimes, layer.compatible_architectures   # and path, code_sha256 …
    difference = lambdapack.compare_zips("a.zip", "b.zip")     # any two zips
    difference.identical, difference.verdict, difference.to_json()
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .difference import Difference, compare_zips
    from .digest import code_sha256, sha256_hex
    from .errors import (
        ArchiveError,
        BuildError,
        ConfigError,
        InstallError,
        LambdapackError,
        ResolveError,
        SourceError,
        ToolError,
        VerifyError,
    )
    from .manifest import MANIFEST_NAME, Artifact
    from .runtimes import ARCHITECTURES, RUNTIMES
    from .usecases.build import BuildFailed, build, build_function, build_layer
    from .usecases.check import check, check_zip
    from .usecases.project import project_root
    from .verify import Finding, Report

#: Where each public name lives; imported on first use so that `lambdapack`
#: (and the CLI's no-op build) starts fast.
_LAZY = {
    "Difference": "difference",
    "compare_zips": "difference",
    "code_sha256": "digest",
    "sha256_hex": "digest",
    "ArchiveError": "errors",
    "BuildError": "errors",
    "ConfigError": "errors",
    "InstallError": "errors",
    "LambdapackError": "errors",
    "ResolveError": "errors",
    "SourceError": "errors",
    "ToolError": "errors",
    "VerifyError": "errors",
    "MANIFEST_NAME": "manifest",
    "Artifact": "manifest",
    "BuildFailed": "usecases.build",
    "build": "usecases.build",
    "build_function": "usecases.build",
    "build_layer": "usecases.build",
    "check": "usecases.check",
    "check_zip": "usecases.check",
    "project_root": "usecases.project",
    "ARCHITECTURES": "runtimes",
    "RUNTIMES": "runtimes",
    "Finding": "verify",
    "Report": "verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lambdapack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ARCHITECTURES",
    "MANIFEST_NAME",
    "RUNTIMES",
    "ArchiveError",
    "Artifact",
    "BuildError",
    "BuildFailed",
    "ConfigError",
    "Difference",
    "Finding",
    "InstallError",
    "LambdapackError",
    "Report",
    "ResolveError",
    "SourceError",
    "ToolError",
    "VerifyError",
    "__version__",
    "build",
    "build_function",
    "build_layer",
    "check",
    "check_zip",
    "code_sha256",
    "compare_zips",
    "project_root",
    "sha256_hex",
]
