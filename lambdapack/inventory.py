"""What is inside a package and what takes the space (``lambdapack inspect``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .contents import Package, top_level

OWN_FILES = "(function code)"


@dataclass(frozen=True, kw_only=True, slots=True)
class Part:
    """A distribution or a top-level entry, with its share of the package."""

    name: str
    files: int
    size: int  # uncompressed bytes
    compressed: int | None  # bytes in the zip, when known

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "files": self.files, "size": self.size, "compressed": self.compressed}


@dataclass(frozen=True, kw_only=True, slots=True)
class Inventory:
    label: str
    zipped_size: int | None
    size: int
    entries: int
    distributions: tuple[Part, ...]
    directories: tuple[Part, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "version": 1,
            "package": self.label,
            "zipped_size": self.zipped_size,
            "size": self.size,
            "entries": self.entries,
            "distributions": [p.to_json() for p in self.distributions],
            "top_level": [p.to_json() for p in self.directories],
        }


def take(package: Package) -> Inventory:
    """Sizes per distribution and per top-level entry, largest first."""
    owners = package.owners()
    by_dist: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    by_dir: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for file in package.files:
        dist = owners.get(file.name)
        by_dist[dist.label() if dist else OWN_FILES].append((file.size, file.compressed))
        by_dir[top_level(file.name)].append((file.size, file.compressed))
    return Inventory(
        label=package.label,
        zipped_size=package.zipped_size,
        size=sum(f.size for f in package.files),
        entries=len(package.files),
        distributions=_parts(by_dist),
        directories=_parts(by_dir),
    )


def _parts(groups: dict[str, list[tuple[int, int | None]]]) -> tuple[Part, ...]:
    parts = []
    for name, sizes in groups.items():
        compressed = [c for _, c in sizes]
        parts.append(
            Part(
                name=name,
                files=len(sizes),
                size=sum(s for s, _ in sizes),
                compressed=None if None in compressed else sum(c for c in compressed if c is not None),
            )
        )
    return tuple(sorted(parts, key=lambda p: (-p.size, p.name)))
