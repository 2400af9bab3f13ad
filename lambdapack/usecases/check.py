"""The ``lambdapack check`` use case: the checks of a build, run on built zips
(of the project, or any zip for a given target)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack import ecosystem, manifest
from lambdapack.contents import UnreadableZip, ZipPackage
from lambdapack.digest import sha256_hex
from lambdapack.errors import BuildError, ConfigError
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, Target, target
from lambdapack.usecases.project import load
from lambdapack.verify import Finding, Report, verify

if TYPE_CHECKING:
    from lambdapack.ecosystem import Ecosystem
    from lambdapack.node.metafile import BundleReport
    from lambdapack.slim import SlimReport


def check_zip(
    path: str | Path,
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    handler: str | None = None,
    layers: Sequence[str | Path] = (),
) -> Report:
    """Verify any zip for a target, with the zips of the ``layers`` it runs
    with (their files count for its imports and its unzipped size; check the
    layer zips themselves as zips too). Values not given are taken from the
    ``lambdapack-manifest.json`` beside the zip when it records this exact file."""
    zip_path = Path(path)
    recorded = _manifest_entry(zip_path)
    runtime = runtime or recorded.get("runtime")
    architecture = architecture or recorded.get("architecture")
    handler = handler or recorded.get("handler")
    if not layers and recorded.get("layers"):  # the manifest names the layers it was built with
        layers = [zip_path.parent / f"{name}.zip" for name in recorded["layers"].split(",")]
    problems = []
    if runtime not in RUNTIMES:
        problems.append(
            f"{zip_path}: give --runtime ({', '.join(RUNTIMES)})"
            if runtime is None
            else f"--runtime: {runtime!r} is not a supported runtime; supported: {', '.join(RUNTIMES)}"
        )
    if architecture not in ARCHITECTURES:
        problems.append(
            f"{zip_path}: give --architecture ({', '.join(ARCHITECTURES)})"
            if architecture is None
            else f"--architecture: {architecture!r} is not supported; supported: {', '.join(ARCHITECTURES)}"
        )
    if problems:
        raise ConfigError(problems)
    assert runtime is not None and architecture is not None
    chosen = target(runtime, architecture)
    language = ecosystem.create(chosen.language, os.environ)
    try:
        package = ZipPackage(zip_path, ownership=language.owners)
    except UnreadableZip as exc:
        return _unreadable(str(zip_path), chosen, handler, exc)
    with package:
        return _verify_with_layers(package, chosen, handler, language, [Path(p) for p in layers])


def _verify_with_layers(
    package: ZipPackage, chosen: Target, handler: str | None, language: Ecosystem, layers: Sequence[Path]
) -> Report:
    """``verify``, with what the layer zips put on the path (under /opt) and their sizes."""
    from lambdapack.layers import layer_size_findings

    provided: set[str] = set()
    sizes: list[tuple[str, int]] = []
    in_layers: list[Finding] = []
    for layer in layers:
        with ZipPackage(layer, ownership=language.owners) as opened:
            provided.update(_on_path((f.name for f in opened.files), chosen))
            sizes.append((layer.name, sum(f.size for f in opened.files)))
            for found in verify(opened, chosen, None, language).findings:  # its binaries, its hygiene
                if found.check != "size":
                    in_layers.append(replace(found, path=f"{layer.name}:{found.path or ''}"))
    report = verify(package, chosen, handler, language, provided=frozenset(provided))
    extra = [*in_layers, *layer_size_findings(package, sizes)]
    if extra:
        report = replace(report, findings=(*report.findings, *extra))
    return report


def _on_path(names: Iterable[str], chosen: Target) -> set[str]:
    """A layer's files as seen from the directories its runtime puts on the path."""
    version = chosen.runtime.version_string
    roots = (f"python/lib/python{version}/site-packages/", "python/", "nodejs/node_modules/")
    found = set()
    for name in names:
        root = next((r for r in roots if name.startswith(r)), None)
        if root is not None:
            found.add(
                name[len(root) :] if root != "nodejs/node_modules/" else "node_modules/" + name[len(root) :]
            )
    return found


def _unreadable(label: str, chosen: Target, handler: str | None, exc: UnreadableZip) -> Report:
    finding = Finding(
        severity="error",
        check="archive",
        path=None,
        message=str(exc),
        fix="rebuild the zip; a truncated upload or download is the usual cause",
    )
    return Report(label=label, target=chosen, handler=handler, findings=(finding,))


def check(
    project_dir: str | Path = ".",
    names: Iterable[str] | None = None,
    *,
    output: str | Path | None = None,
) -> list[Report]:
    """Verify the built zips of a configured project's functions (all, or ``names``)."""
    project = load(project_dir, output=output)
    specs = project.select_units(list(names or ()))
    missing = [s.name for s in specs if not (project.output / f"{s.name}.zip").is_file()]
    if missing:
        raise ConfigError(
            [
                f"{name}: {project.output / (name + '.zip')} is not built; run lambdapack build"
                for name in missing
            ]
        )
    made = ecosystem.Ecosystems(os.environ)
    reports = []
    for spec in specs:
        zip_path = project.output / f"{spec.name}.zip"
        language = made.for_target(spec.target)
        label = os.path.relpath(zip_path, project.root)
        try:
            package = ZipPackage(zip_path, label=label, ownership=language.owners)
        except UnreadableZip as exc:
            reports.append(_unreadable(label, spec.target, spec.handler, exc))
            continue
        layer_zips = [project.output / f"{name}.zip" for name in spec.layers]
        handler = spec.handler if spec.layer is None else None  # a layer has none
        with package:
            reports.append(_verify_with_layers(package, spec.target, handler, language, layer_zips))
    return reports


def _manifest_entry(zip_path: Path) -> dict[str, str]:
    """The manifest entry beside ``zip_path`` that records this very file."""
    try:
        document = manifest.read(zip_path.parent / manifest.MANIFEST_NAME)
        digest = sha256_hex(zip_path)
    except (BuildError, OSError):
        return {}
    for entry in (*document["artifacts"].values(), *document.get("layers", {}).values()):
        if (
            isinstance(entry, dict)
            and str(entry.get("path", "")).rsplit("/", 1)[-1] == zip_path.name
            and entry.get("sha256") == digest
        ):
            found = {k: v for k, v in entry.items() if isinstance(v, str)}
            if entry.get("layers"):
                found["layers"] = ",".join(entry["layers"])
            if "layer" in entry:  # a layer's zip: checked for the first target it serves
                found["runtime"] = entry["compatible_runtimes"][0]
                found["architecture"] = entry["compatible_architectures"][0]
            return found
    return {}


def slimming(zip_path: Path, package: ZipPackage) -> SlimReport:
    """What each ``slim`` option would remove from a built zip (``lambdapack
    inspect``): for the target the manifest beside it records, else without
    the options that need one (``strip``, ``pycache``)."""
    from lambdapack.slim import OPTIONS, would_save

    recorded = _manifest_entry(zip_path)
    runtime, architecture = recorded.get("runtime"), recorded.get("architecture")
    chosen = target(runtime, architecture) if runtime in RUNTIMES and architecture in ARCHITECTURES else None
    if chosen is not None:
        language = chosen.language
    else:  # a zip of unknown origin: by its contents
        language = "node" if any(f.name.startswith("node_modules/") for f in package.files) else "python"
    return would_save(package, OPTIONS, language=language, target=chosen, environ=os.environ)


def bundle_metafile(zip_path: Path, environ: Mapping[str, str]) -> bytes | None:
    """esbuild's metafile of the bundle in a zip this machine built (kept in the
    cache by the zip's SHA-256), or None."""
    from lambdapack.cache import Cache, cache_dir

    try:
        digest = sha256_hex(zip_path)
    except OSError:
        return None
    return Cache(cache_dir(environ)).metafile(digest)


def bundle_report(zip_path: Path, environ: Mapping[str, str]) -> BundleReport | None:
    """The bundle's biggest inputs (``lambdapack inspect``), when the cache has its metafile."""
    from lambdapack.node.metafile import report

    metafile = bundle_metafile(zip_path, environ)
    return report(metafile) if metafile is not None else None
