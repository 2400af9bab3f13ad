"""Bundling a Node.js function with esbuild (``bundle = true``), byte-identical
on every machine.

esbuild reads a mirror of the project, never the project itself: in
``work/bundle/p/`` the function's source files (as the plan selected them)
appear at their place relative to the project root, as symbolic links, and
``<source>/node_modules`` links to the dependency set installed for the
target. esbuild runs there with ``--preserve-symlinks``, so every path it
records (in the bundle's comments, the source map and the metafile) is
relative to the project: never the directory the project is in, the cache or
the user's own ``node_modules``. The output goes to ``work/bundle/o/`` (so no
output can overwrite a source) and the source map's paths are rewritten to be
relative to where the bundle lies in the zip, as if it had been written in
the mirror.

After the run the metafile says what was bundled: every installed file it
read is checked against the dependency set's entries (CRC and size), a
package with a native addon that was bundled (not listed in
``node_modules``) is an error naming it, and the packages listed in
``node_modules`` ship installed, with what they need at run time.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from lambdapack.archive import ArchiveEntry
from lambdapack.cache import unpack_tree
from lambdapack.config import FunctionSpec
from lambdapack.ecosystem import Bundled
from lambdapack.errors import SourceError, ToolError, tool_details
from lambdapack.node.config import Bundle
from lambdapack.node.lock import read_manifest
from lambdapack.node.ownership import package_root
from lambdapack.processes import run
from lambdapack.verify.model import Finding

#: Defined in an ES module bundle before anything else: esbuild's ``require`` shim for the
#: CommonJS packages it bundles finds the real one (an ES module has none of its own).
ESM_BANNER = (
    'import { createRequire as __lambdapackCreateRequire } from "node:module"; '
    "globalThis.require ??= __lambdapackCreateRequire(import.meta.url);"
)
#: The AWS SDK for JavaScript v3: every Node.js runtime of Lambda has it.
AWS_SDK = "@aws-sdk/*"
#: How many of esbuild's warnings become findings (the rest are counted).
MAX_WARNINGS = 5


def output_name(handler: str, format_: str) -> str:
    """The bundle's name in the zip: the handler's file, ``.mjs`` for an ES module, else ``.js``."""
    return handler.rpartition(".")[0] + (".mjs" if format_ == "esm" else ".js")


def arguments(spec: FunctionSpec, bundle: Bundle, entry: str, outfile: str, metafile: str) -> list[str]:
    """esbuild's command line (after the executable), every path relative to the mirror."""
    major = spec.target.runtime.version[0]
    args = [
        entry,
        "--bundle",
        "--platform=node",
        f"--target=node{major}",
        f"--format={bundle.format}",
        f"--outfile={outfile}",
        f"--metafile={metafile}",
        "--preserve-symlinks",
        "--charset=utf8",
        "--color=false",
        "--log-level=warning",
        "--log-limit=0",
    ]
    if bundle.format == "esm":
        args += ["--main-fields=module,main", f"--banner:js={ESM_BANNER}"]
    for name in external(bundle):
        args.append(f"--external:{name}")
    if bundle.minify:
        args.append("--minify")
    if bundle.keep_names:
        args.append("--keep-names")
    if bundle.sourcemap:
        args.append("--sourcemap")
        if not bundle.sources_content:
            args.append("--sources-content=false")
    for name, value in bundle.define:
        args.append(f"--define:{name}={value}")
    for extension, loader in bundle.loader:
        args.append(f"--loader:{extension}={loader}")
    return args


def external(bundle: Bundle) -> list[str]:
    """What esbuild leaves as imports: the user's, the AWS SDK (unless bundled) and the
    packages that ship installed (with their subpaths)."""
    names = list(bundle.external)
    if not bundle.bundle_aws_sdk:
        names.append(AWS_SDK)
    for package in bundle.node_modules:
        names += [package, f"{package}/*"]
    return list(dict.fromkeys(names))


def bundle(
    spec: FunctionSpec,
    own: Sequence[ArchiveEntry],
    installed: Sequence[ArchiveEntry],
    site: Path | None,
    work: Path,
    root: Path,
    *,
    esbuild: Path,
) -> Bundled:
    settings = spec.bundle
    assert isinstance(settings, Bundle) and spec.source is not None
    source = _mirror_path(spec.source, root)
    stage = work / "bundle"
    mirror = stage / "p"
    out_dir = stage / "o"
    modules = site / "node_modules" if site is not None else None
    if modules is not None and modules.is_dir():  # the target's install, never one of the user's
        own = [e for e in own if not e.name.startswith("node_modules/")]
        _link_sources(mirror / source, own)
        (mirror / source / "node_modules").symlink_to(modules, target_is_directory=True)
    else:
        _link_sources(mirror / source, own)
    name = output_name(spec.handler, settings.format)
    entry = posixpath.join(source, settings.entry) if source != "." else settings.entry
    outfile = out_dir / name
    command = [
        str(esbuild),
        *arguments(
            spec,
            settings,
            entry,
            os.path.relpath(outfile, mirror),
            os.path.relpath(stage / "meta.json", mirror),
        ),
    ]
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
    }  # no NODE_PATH, no ESBUILD_* settings
    stderr = _run(command, mirror, env, spec, settings)
    metafile = _read_json(stage / "meta.json")
    by_name = {e.name: e for e in installed}
    if site is not None and _changed(metafile, source, site, by_name):
        _restore(site, installed)  # the cached tree was modified: put the verified files back
        stderr = _run(command, mirror, env, spec, settings)
        metafile = _read_json(stage / "meta.json")
    findings = [*_native_findings(spec, metafile, source, site, installed), *_warnings(stderr)]
    shipped = _shipped(spec, settings, installed, site)
    entries = [ArchiveEntry(name=name, path=outfile, executable=False)]
    if settings.sourcemap:
        _rewrite_map(Path(f"{outfile}.map"), name)
        entries.append(ArchiveEntry(name=f"{name}.map", path=Path(f"{outfile}.map"), executable=False))
    exports = _exports(metafile, outfile, mirror, settings)
    findings += _export_findings(spec, settings, name, exports)
    return Bundled(
        entries=tuple(entries),
        installed=tuple(shipped),
        exports=exports,
        metafile=_portable_metafile(metafile, out_dir, mirror),
        findings=tuple(findings),
        inlined=tuple(
            (installed_name, name)
            for installed_name in sorted(
                filter(None, (_installed_path(p, source) for p in _inputs(metafile)))
            )
        ),
    )


# -- the mirror ------------------------------------------------------------------------------------


def _mirror_path(source: Path, root: Path) -> str:
    """Where the source directory lies in the mirror: its path in the project."""
    if source.is_relative_to(root):
        relative = source.relative_to(root).as_posix()
        return relative or "."
    return source.name  # a source outside the project: its name


def _link_sources(base: Path, own: Sequence[ArchiveEntry]) -> None:
    base.mkdir(parents=True, exist_ok=True)
    made: set[Path] = {base}
    for entry in own:
        link = base / entry.name
        if link.parent not in made:
            link.parent.mkdir(parents=True, exist_ok=True)
            made.add(link.parent)
        link.symlink_to(Path(entry.path).absolute())


# -- running esbuild --------------------------------------------------------------------------------


def _run(command: list[str], cwd: Path, env: Mapping[str, str], spec: FunctionSpec, settings: Bundle) -> str:
    try:
        result = run(command, cwd=cwd, env=env)
    except OSError as exc:
        raise ToolError(f"cannot run esbuild ({command[0]}): {exc.strerror or exc}") from None
    if result.returncode != 0:
        errors = list(_messages(result.stderr, "ERROR"))
        if not errors:
            raise ToolError(
                f"esbuild failed (exit {result.returncode}) bundling {spec.name}",
                details=tool_details(command, result.stdout + result.stderr),
            )
        message, where = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SourceError(
            f"bundling {spec.name} failed: {where + ': ' if where else ''}{message}{more}"
            f"{_hint(message, spec, settings)}",
            details=tool_details(command, result.stderr),
        )
    return result.stderr  # esbuild's warnings


#: esbuild's messages: a head line, then the place (patterns compiled when a run has messages).
_HEAD_RE = r"^[✘▲]\s+\[(ERROR|WARNING)\]\s+(.*)$"
_WHERE_RE = r"^\s+(\S.*?):(\d+):(\d+):$"


def _messages(stderr: str, level: str) -> Iterator[tuple[str, str]]:
    """esbuild's messages of ``level``: (text, file:line:column or "")."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        head = re.match(_HEAD_RE, line)
        if head is None or head.group(1) != level:
            continue
        where = ""
        for follow in lines[i + 1 : i + 4]:
            found = re.match(_WHERE_RE, follow)
            if found:
                where = f"{found.group(1)}:{found.group(2)}:{found.group(3)}"
                break
        yield head.group(2).strip(), where


def _hint(message: str, spec: FunctionSpec, settings: Bundle) -> str:
    found = re.match(r'Could not resolve "([^"]+)"', message)
    if found is None:
        return ""
    target = found.group(1)
    if target.startswith((".", "/")):
        where = spec.source.name if spec.source is not None else "source"
        return (
            f"; a bundle reads only the function's source ({where}/) and its installed dependencies: "
            "set source to a directory that holds every file the entry imports (and entry to its path there)"
        )
    package = "/".join(target.split("/")[:2]) if target.startswith("@") else target.split("/")[0]
    return (
        f"; add {package} to the dependencies in package.json (and update the lock), or to external "
        "if the runtime provides it"
    )


def _warnings(stderr: str) -> Iterator[Finding]:
    warnings = list(_messages(stderr, "WARNING"))
    for message, where in warnings[:MAX_WARNINGS]:
        yield Finding(
            severity="warning",
            check="bundle",
            path=where.split(":", 1)[0] or None,
            message=f"esbuild: {message}" + (f" ({where})" if where else ""),
            fix="see esbuild's message; mark the import external, or list its package in node_modules",
        )
    if len(warnings) > MAX_WARNINGS:
        yield Finding(
            severity="warning",
            check="bundle",
            message=f"esbuild gave {len(warnings) - MAX_WARNINGS} more warning(s)",
            fix="run the build with -v to see them all",
        )


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(f"esbuild wrote no readable metafile ({path.name}): {exc}") from None
    if not isinstance(data, dict):
        raise ToolError(f"esbuild's metafile {path.name} is not an object")
    return data


# -- what was bundled -------------------------------------------------------------------------------


def _inputs(metafile: Mapping[str, object]) -> dict[str, dict[str, object]]:
    inputs = metafile.get("inputs")
    return {k: v for k, v in inputs.items() if isinstance(v, dict)} if isinstance(inputs, dict) else {}


def _installed_path(path: str, source: str) -> str | None:
    """An input's name in the dependency set (``node_modules/…``), or None (not installed)."""
    prefix = "node_modules/" if source == "." else f"{source}/node_modules/"
    return "node_modules/" + path[len(prefix) :] if path.startswith(prefix) else None


def _changed(
    metafile: Mapping[str, object], source: str, site: Path, entries: Mapping[str, ArchiveEntry]
) -> bool:
    """Whether what esbuild read of the installed tree differs from the verified
    set: a file it bundled that the set lacks or holds otherwise, or the
    ``package.json`` (which decides how imports resolve) of a package it used."""
    packages: set[str] = set()
    for path in _inputs(metafile):
        name = _installed_path(path, source)
        if name is None:
            continue
        if not _verified(site, name, entries.get(name)):
            return True
        package = package_root(name)
        if package is not None:
            packages.add(package)
    return not all(_verified(site, f"{p}/package.json", entries.get(f"{p}/package.json")) for p in packages)


def _verified(site: Path, name: str, entry: ArchiveEntry | None) -> bool:
    if entry is None or entry.compressed is None:
        return False  # every file of the installed tree is an entry of the set
    try:
        data = (site / name).read_bytes()
    except OSError:
        return False
    return len(data) == entry.compressed.size and zlib.crc32(data) == entry.compressed.crc


def _restore(site: Path, installed: Sequence[ArchiveEntry]) -> None:
    """Make the installed tree again from the set's verified compressed bytes
    (files added to it go too)."""
    shutil.rmtree(site / "node_modules", ignore_errors=True)
    unpack_tree(site, installed)


def _native_findings(
    spec: FunctionSpec,
    metafile: Mapping[str, object],
    source: str,
    site: Path | None,
    installed: Sequence[ArchiveEntry],
) -> Iterator[Finding]:
    """An error for each bundled package that has a native addon (it must ship installed)."""
    if site is None:
        return
    addons = _addons(installed)
    seen: set[str] = set()
    for path in sorted(_inputs(metafile)):
        name = _installed_path(path, source)
        package = package_root(name) if name else None
        if package is None or package in seen:
            continue
        seen.add(package)
        addon = _addon(site, package, addons)
        if addon is None:
            continue
        manifest = read_manifest(site / package / "package.json") or {}
        label = str(manifest.get("name") or package.rsplit("node_modules/", 1)[-1])
        yield Finding(
            severity="error",
            check="bundle",
            path=path,
            message=f"{label} has a native addon ({addon}) and was bundled; a bundle cannot hold "
            "a .node file, so it fails to load on Lambda",
            fix=f'add it to node_modules = ["{label}"] in [functions.{spec.name}] (it then ships '
            "installed for the target), or mark it external",
        )


def _addons(installed: Sequence[ArchiveEntry]) -> dict[str, str]:
    """Each installed package's native addon (its first ``.node`` file, else its
    ``binding.gyp``), from the set's names: no walk of the tree."""
    found: dict[str, str] = {}
    names = sorted(e.name for e in installed if e.name.endswith((".node", "/binding.gyp")))
    for name in names:
        package = package_root(name)
        if package is None:
            continue
        if name.endswith(".node") and not found.get(package, "").endswith(".node"):
            found[package] = name
        elif name == f"{package}/binding.gyp":
            found.setdefault(package, name)
    return found


def _addon(site: Path, package: str, addons: Mapping[str, str]) -> str | None:
    """A native addon of the installed package: its own, or one of an optional
    platform package it depends on (``@img/sharp-linux-arm64``); or None."""
    if package in addons:
        return addons[package]
    manifest = read_manifest(site / package / "package.json") or {}
    optional = manifest.get("optionalDependencies")
    for dependency in sorted(optional) if isinstance(optional, dict) else ():
        found = _find(site, package, dependency)
        if found is not None and found in addons:
            return addons[found]
    return None


def _find(site: Path, package: str, name: str) -> str | None:
    """Where Node.js finds ``name`` from the package ``package`` (names in the set)."""
    directory = package
    while True:
        candidate = f"{directory}/node_modules/{name}" if directory else f"node_modules/{name}"
        if (site / candidate / "package.json").is_file():
            return candidate
        if not directory:
            return None
        head, _, _ = directory.rpartition("/node_modules/")
        directory = head if "/node_modules/" in directory else ""


def _shipped(
    spec: FunctionSpec, settings: Bundle, installed: Sequence[ArchiveEntry], site: Path | None
) -> list[ArchiveEntry]:
    """The installed files of the ``node_modules`` packages and what they need at run time."""
    if not settings.node_modules:
        return []
    missing = [
        n
        for n in settings.node_modules
        if site is None or not (site / "node_modules" / n / "package.json").is_file()
    ]
    if missing or site is None:
        raise SourceError(
            f"functions.{spec.name}.node_modules: {', '.join(missing)} is not among the installed "
            "dependencies; add it to the dependencies in package.json (and update the lock)"
        )
    wanted: set[str] = set()
    queue = [f"node_modules/{n}" for n in settings.node_modules]
    while queue:
        package = queue.pop()
        if package in wanted:
            continue
        wanted.add(package)
        manifest = read_manifest(site / package / "package.json") or {}
        for field in ("dependencies", "optionalDependencies", "peerDependencies"):
            names = manifest.get(field)
            for name in sorted(names) if isinstance(names, dict) else ():
                found = _find(site, package, name)
                if found is not None:  # (an optional package of another platform, a missing peer)
                    queue.append(found)
    return [e for e in installed if package_root(e.name) in wanted or _within(e.name, wanted)]


def _within(name: str, packages: set[str]) -> bool:
    """Whether ``name`` lies in one of ``packages`` (a file nested deeper: ``a/node_modules/b/x``)."""
    return any(name.startswith(package + "/") for package in packages)


# -- outputs ----------------------------------------------------------------------------------------


def _rewrite_map(path: Path, name: str) -> None:
    """Make the map's sources relative to where the bundle lies in the zip (as if
    written into the mirror), dropping the mirror's own directories."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(f"esbuild wrote no readable source map ({path.name}): {exc}") from None
    here = posixpath.dirname(name)
    sources = data.get("sources") if isinstance(data, dict) else None
    if isinstance(sources, list):
        data["sources"] = [_map_source(s, here) if isinstance(s, str) else s for s in sources]
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), "utf-8")


def _map_source(source: str, here: str) -> str:
    """A source map path, relative to ``o/<here>``, as relative to ``p/<here>``."""
    resolved = posixpath.normpath(posixpath.join("o", here, source))
    if source.startswith("/") or not resolved.startswith("p/"):
        return "external/" + posixpath.basename(source)  # outside the project (never a machine path)
    return posixpath.relpath(resolved[len("p/") :], here or ".")


def _export_findings(
    spec: FunctionSpec, settings: Bundle, name: str, exports: tuple[str, ...] | None
) -> list[Finding]:
    export = spec.handler.rpartition(".")[2]
    if exports is None or export in exports:
        return []
    has = f"it exports {', '.join(sorted(exports))}" if exports else "it has no exports"
    return [
        Finding(
            severity="error",
            check="handler",
            path=name,
            message=f"handler {spec.handler!r}: the bundle of {settings.entry} exports no {export!r} ({has})",
            fix=f"export it from {settings.entry} (`export const {export} = async (event) => {{ … }}`), "
            "or fix 'handler'",
        )
    ]


def _exports(
    metafile: Mapping[str, object], outfile: Path, mirror: Path, settings: Bundle
) -> tuple[str, ...] | None:
    """The bundle's exports: esbuild's metafile lists an ES module's; a CommonJS
    bundle of an ES module entry ends with esbuild's annotation of them; a
    CommonJS entry's cannot be told (None)."""
    outputs = metafile.get("outputs")
    key = os.path.relpath(outfile, mirror).replace(os.sep, "/")
    output = outputs.get(key) if isinstance(outputs, dict) else None
    if not isinstance(output, dict):
        return None
    if settings.format == "esm":
        names = output.get("exports")
        return tuple(str(n) for n in names) if isinstance(names, list) else None
    entry = output.get("entryPoint")
    info = _inputs(metafile).get(str(entry)) if entry else None
    if not info or info.get("format") != "esm":
        return None
    tail = outfile.read_text("utf-8", errors="replace")[-20_000:]
    found = re.search(r"0\s*&&\s*\(module\.exports\s*=\s*\{([^{}]*)\}\);?\s*(?://#[^\n]*\s*)?$", tail)
    if found is None:
        return ()
    return tuple(n.split(":")[0].strip() for n in found.group(1).split(",") if n.strip())


def _portable_metafile(metafile: dict[str, object], out_dir: Path, mirror: Path) -> bytes:
    """The metafile with the outputs named as in the zip (inputs are already
    relative to the project)."""
    prefix = os.path.relpath(out_dir, mirror).replace(os.sep, "/") + "/"
    outputs = metafile.get("outputs")
    made = dict(metafile)
    if isinstance(outputs, dict):
        made["outputs"] = {k.removeprefix(prefix): v for k, v in outputs.items()}
    return json.dumps(made, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
