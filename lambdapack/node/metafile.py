"""What a bundle is made of, from esbuild's metafile (``lambdapack inspect``):
its biggest inputs and packages, by the bytes each adds to the bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass

from lambdapack.node.ownership import package_root


@dataclass(frozen=True, kw_only=True, slots=True)
class BundleInput:
    path: str  # relative to the project
    package: str  # the npm package it belongs to, or "(function code)"
    bytes_in_output: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BundleReport:
    output: str  # the bundle's name in the zip
    size: int  # its bytes
    inputs: tuple[BundleInput, ...]  # biggest first

    def packages(self) -> list[tuple[str, int, int]]:
        """(package, inputs, bytes in the output), biggest first."""
        totals: dict[str, list[int]] = {}
        for item in self.inputs:
            row = totals.setdefault(item.package, [0, 0])
            row[0] += 1
            row[1] += item.bytes_in_output
        return sorted(((k, v[0], v[1]) for k, v in totals.items()), key=lambda r: (-r[2], r[0]))

    def to_json(self) -> dict[str, object]:
        return {
            "output": self.output,
            "bytes": self.size,
            "packages": [{"package": p, "inputs": n, "bytes_in_output": b} for p, n, b in self.packages()],
            "inputs": [
                {"path": i.path, "package": i.package, "bytes_in_output": i.bytes_in_output}
                for i in self.inputs
            ],
        }


def report(metafile: bytes) -> BundleReport | None:
    """The biggest inputs of the bundle a metafile describes (None: not a metafile)."""
    try:
        data = json.loads(metafile)
    except ValueError:
        return None
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if not isinstance(outputs, dict):
        return None
    for name, output in sorted(outputs.items()):
        if (
            not isinstance(output, dict)
            or name.endswith(".map")
            or not isinstance(output.get("inputs"), dict)
        ):
            continue
        inputs = [
            BundleInput(
                path=path, package=_package_label(path), bytes_in_output=int(info.get("bytesInOutput", 0))
            )
            for path, info in output["inputs"].items()
            if isinstance(info, dict)
        ]
        inputs.sort(key=lambda i: (-i.bytes_in_output, i.path))
        return BundleReport(output=name, size=int(output.get("bytes", 0)), inputs=tuple(inputs))
    return None


def _package_label(path: str) -> str:
    package = package_root(path)
    if package is None:
        return "(function code)"
    return package.rsplit("node_modules/", 1)[-1]
