"""Which file of each pinned package the target installs: the exact glibc
ceiling, chosen by lambdapack rather than by uv's platform triple.

uv's ``--python-platform`` triples name only some manylinux levels (2.17,
2.28, 2.31 …); the Amazon Linux 2 runtimes load everything up to 2.26. So a
resolution runs at the lowest triple that is not below the runtime's glibc
(:func:`resolution_glibc`), uv writes every candidate file of each pin to a
``pylock.toml``, and :func:`choose` takes, per pin, the wheel pip would take on
the runtime's own OS (the first of :func:`~lambdapack.python.target.ordered_tags`
that matches), or the pin's sdist when source builds are
allowed and no wheel loads. The lock says exactly which file may be installed:
one ``--hash`` per pin, and the file's name after it::

    pydantic-core==2.27.2 --hash=sha256:1c1f…  # pydantic_core-2.27.2-cp311-cp311-manylinux_2_17_x86_64….whl
    mmh3==2.5.1 --hash=sha256:1852…  # mmh3-2.5.1.tar.gz
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from lambdapack.errors import ResolveError
from lambdapack.python.target import UV_MANYLINUX_LEVELS, ordered_tags
from lambdapack.runtimes import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_PIN_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)(?P<marker>\s*;[^#]*?)?"
    r"(?P<hashes>(?:\s+--hash=\S+)+)\s*(?:#\s*(?P<file>\S+))?\s*$"
)
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One file of a pinned release, as the resolver listed it."""

    filename: str
    sha256: str
    url: str  # https://…, file://… or a local path


@dataclass(frozen=True, kw_only=True, slots=True)
class Release:
    """A pinned release with its candidate files (from ``pylock.toml``)."""

    name: str
    version: str
    wheels: tuple[Candidate, ...]
    sdist: Candidate | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Pin:
    """A release and the one file the target installs."""

    name: str
    version: str
    sha256: str
    #: The file's name; empty for a pin from a lock that does not say (installed as it says).
    filename: str = ""

    @property
    def is_sdist(self) -> bool:
        return self.filename.endswith(SDIST_SUFFIXES)

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}"

    def line(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}  # {self.filename}"


def resolution_glibc(target: Target) -> tuple[int, int]:
    """The glibc level of the triple a resolution runs at: the lowest one uv
    offers that is not below the runtime's glibc (2.28 for Amazon Linux 2's
    2.26); :func:`choose` then drops what the runtime cannot load."""
    ceiling = target.runtime.glibc
    return min((g for g in UV_MANYLINUX_LEVELS if g >= ceiling), default=max(UV_MANYLINUX_LEVELS))


def resolution_platform(target: Target) -> str:
    major, minor = resolution_glibc(target)
    return f"{target.architecture.machine}-manylinux_{major}_{minor}"


def read_pylock(path: Path) -> list[Release]:
    """The releases of a ``pylock.toml`` that uv wrote (PEP 751)."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ResolveError(f"cannot read the resolution {path.name}: {exc}") from None
    releases = []
    for package in data.get("packages", []):
        wheels = tuple(c for c in (_candidate(w) for w in package.get("wheels", [])) if c is not None)
        sdist = _candidate(package["sdist"]) if isinstance(package.get("sdist"), dict) else None
        releases.append(
            Release(name=str(package["name"]), version=str(package["version"]), wheels=wheels, sdist=sdist)
        )
    return releases


def _candidate(entry: Mapping[str, object]) -> Candidate | None:
    hashes = entry.get("hashes")
    sha = hashes.get("sha256") if isinstance(hashes, dict) else None
    location = str(entry.get("url") or entry.get("path") or "")
    name = str(entry.get("name") or "") or unquote(urlsplit(location).path.rsplit("/", 1)[-1])
    if not sha or not name:
        return None
    return Candidate(filename=name, sha256=str(sha), url=location)


@dataclass(frozen=True, kw_only=True, slots=True)
class Choice:
    """What :func:`choose` made of a resolution."""

    pins: tuple[Pin, ...]
    #: Releases none of whose wheels loads on the target (and whose sdist is not allowed).
    unloadable: tuple[Release, ...]


def choose(releases: Iterable[Release], target: Target, *, sources: frozenset[str]) -> Choice:
    """Per release, the wheel pip would install on the target (the most
    specific loading tag), else its sdist when the release's name is in
    ``sources`` (canonical names whose sdist may be built)."""
    priority = {tag: rank for rank, tag in enumerate(ordered_tags(target))}
    pins: list[Pin] = []
    unloadable: list[Release] = []
    for release in releases:
        best: tuple[int, str, Candidate] | None = None
        for wheel in release.wheels:
            rank = min((priority.get(tag, len(priority)) for tag in _wheel_tags(wheel.filename)), default=-1)
            if 0 <= rank < len(priority) and (best is None or (rank, wheel.filename) < best[:2]):
                best = (rank, wheel.filename, wheel)
        name = canonicalize_name(release.name)
        chosen = best[2] if best else (release.sdist if name in sources else None)
        if chosen is None:
            unloadable.append(release)
            continue
        pins.append(Pin(name=name, version=release.version, sha256=chosen.sha256, filename=chosen.filename))
    return Choice(pins=tuple(sorted(pins, key=lambda p: p.name)), unloadable=tuple(unloadable))


def _wheel_tags(filename: str) -> frozenset[Tag]:
    try:
        return parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return frozenset()


def render(pins: Iterable[Pin]) -> str:
    """The lock body: one line per pin, its one hash and its file's name."""
    return "".join(pin.line() + "\n" for pin in pins)


def parse(text: str) -> list[Pin]:
    """The pins of a lock body; a pin with several hashes (a lock written by
    another tool or an earlier lambdapack) keeps its first hash and no file
    name: :func:`exact` is then False."""
    pins = []
    for line in _joined(text):
        found = _PIN_RE.match(line)
        if not found:
            continue
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", found.group("hashes"))
        single = len(hashes) == 1
        pins.append(
            Pin(
                name=canonicalize_name(found.group("name")),
                version=found.group("version"),
                sha256=hashes[0] if hashes else "",
                filename=(found.group("file") or "") if single else "",
            )
        )
    return pins


def locked_files(text: str) -> dict[tuple[str, str], tuple[tuple[str, ...], str]]:
    """Every pin of a lock body by (canonical name, version): all its sha256
    hashes and its file's name ("" unless the pin has one hash and names its
    file, as :func:`render` writes it)."""
    found: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
    for line in _joined(text):
        matched = _PIN_RE.match(line)
        if not matched:
            continue
        key = (canonicalize_name(matched.group("name")), matched.group("version"))
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", matched.group("hashes"))
        known, _ = found.get(key, ((), ""))  # the same pin under several markers
        merged = tuple(dict.fromkeys([*known, *hashes]))
        found[key] = (merged, (matched.group("file") or "") if len(merged) == 1 else "")
    return found


def exact(pins: Iterable[Pin]) -> bool:
    """Whether every pin names its one file (a lock :func:`render` wrote)."""
    return all(pin.filename for pin in pins)


def _joined(text: str) -> list[str]:
    """Lines with backslash continuations joined; whole-line comments dropped
    (the file-name comment after a pin is kept)."""
    out: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):  # whole-line comments, also between continuation lines (uv's "# via")
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        out.append(" ".join((buffer + stripped).split()))
        buffer = ""
    if buffer.strip():
        out.append(" ".join(buffer.split()))
    return [line for line in out if line]
