"""Text for people: build summaries, check reports and inventories.

Pure functions returning lines; the CLI decides where they go.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .difference import Difference
    from .explanation import Explanation
    from .inventory import Inventory, Part
    from .manifest import Artifact
    from .node.metafile import BundleReport
    from .remote.store import RemoteReport
    from .slim import SlimReport
    from .verify import Finding, Report


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows as aligned columns; columns in ``right`` are right-aligned."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def summary(artifacts: Sequence[Artifact], *, cwd: Path, verbose: bool = False) -> list[str]:
    """One line per artifact (name, target, size, path, code_sha256), each
    followed by its warnings."""
    rows = [
        (
            a.name,
            (
                f"layer {','.join(a.compatible_runtimes)} {','.join(a.compatible_architectures)}"
                if a.is_layer
                else f"{a.runtime} {a.architecture}"
            ),
            human_size(a.size),
            os.path.relpath(a.path, cwd),
            a.code_sha256,
        )
        for a in artifacts
    ]
    lines = []
    for artifact, line in zip(artifacts, table(rows, right=(2,)), strict=True):
        lines.append(line)
        lines += findings(artifact.findings, verbose=verbose, indent="  ")
    return lines


def findings(items: Sequence[Finding], *, verbose: bool, indent: str = "") -> list[str]:
    from .verify import render

    lines = []
    for finding in items:
        lines.append(indent + render(finding))
        if verbose:
            lines += [indent + "    " + d for d in finding.details]
    return lines


def report(result: Report, *, verbose: bool) -> list[str]:
    from .verify import summarize

    head = f"{result.label} ({result.target.describe()}"
    head += f", handler {result.handler})" if result.handler else ", handler not checked)"
    if not result.findings:
        return [f"{head}: ok"]
    return [f"{head}: {summarize(result.findings)}", *findings(result.findings, verbose=verbose, indent="  ")]


def inventory(inv: Inventory, *, top: int) -> list[str]:
    zipped = f"{human_size(inv.zipped_size)} zipped, " if inv.zipped_size is not None else ""
    lines = [f"{inv.label}: {zipped}{human_size(inv.size)} unzipped, {inv.entries} files", ""]
    for title, parts in (("distribution", inv.distributions), ("top-level", inv.directories)):
        rows = [(title, "files", "unzipped", "zipped", "share")]
        rows += [_part_row(p, inv.size) for p in parts[:top]]
        lines += table(rows, right=(1, 2, 3, 4))
        if len(parts) > top:
            rest = parts[top:]
            lines.append(f"… {len(rest)} more, {human_size(sum(p.size for p in rest))} (--top N shows more)")
        lines.append("")
    return lines[:-1]


def explanations(items: Iterable[Explanation]) -> list[str]:
    """Why each unit was built again or not (``build --explain``), one line each."""
    rows = list(items)
    width = max((len(e.name) for e in rows), default=0)
    lines = []
    for item in rows:
        verdict = f"rebuilt: {item.summary}" if item.rebuilt else "up to date"
        lines.append(f"{item.name:<{width}}  {verdict}")
    return lines


def bundle(report: BundleReport, *, top: int) -> list[str]:
    """A bundle's biggest packages and inputs, by the bytes each adds to it (esbuild's metafile)."""
    size = report.size
    lines = [f"bundle {report.output}: {human_size(size)} from {len(report.inputs)} input(s)"]
    rows: list[tuple[str, ...]] = [("package", "inputs", "in bundle", "share")]
    packages = report.packages()
    rows += [(p, str(n), human_size(b), f"{b / size:.1%}" if size else "-") for p, n, b in packages[:top]]
    lines += table(rows, right=(1, 2, 3))
    lines.append("")
    rows = [("input", "in bundle", "share")]
    rows += [
        (i.path, human_size(i.bytes_in_output), f"{i.bytes_in_output / size:.1%}" if size else "-")
        for i in report.inputs[:top]
    ]
    lines += table(rows, right=(1, 2))
    if len(report.inputs) > top:
        lines.append(f"… {len(report.inputs) - top} more input(s) (--top N shows more)")
    return lines


def slimming(report: SlimReport, total: int) -> list[str]:
    """What each ``slim`` option would save (``lambdapack inspect``)."""
    if not report.savings:
        return ["slim: nothing to remove"]
    rows = [("slim option", "files", "unzipped", "share")]
    rows += [
        (s.option, str(s.files), human_size(s.bytes), f"{s.bytes / total:.1%}" if total else "-")
        for s in report.savings
    ]
    rows.append(
        ("all", str(report.files), human_size(report.bytes), f"{report.bytes / total:.1%}" if total else "-")
    )
    return [*table(rows, right=(1, 2, 3)), 'set slim = ["…"] for the function (docs/slim.md)']


def difference(diff: Difference, *, top: int) -> list[str]:
    """``lambdapack diff``: the verdict, the two zips, then each group's differing
    entries (at most ``top`` lines each) with what changed and the zipped bytes."""
    from .difference import signed_size

    lines = [diff.verdict]
    rows = [
        ("A", diff.a.path, human_size(diff.a.size), f"{diff.a.entries:,} entries", ""),
        (
            "B",
            diff.b.path,
            human_size(diff.b.size),
            f"{diff.b.entries:,} entries",
            signed_size(diff.zipped_delta),
        ),
    ]
    lines += table(rows, right=(2, 3, 4))
    for group in diff.groups:
        counts = [
            f"{len(entries):,} {what}"
            for what, entries in (
                ("only in A", group.only_a),
                ("only in B", group.only_b),
                ("changed", group.changed),
            )
            if entries
        ]
        lines += ["", f"{group.label()}: {', '.join(counts)} ({signed_size(group.compressed_delta)} zipped)"]
        entries = [
            *(("only in A", e) for e in group.only_a),
            *(("only in B", e) for e in group.only_b),
            *(("changed", e) for e in group.changed),
        ]
        entries.sort(key=lambda item: item[1].name)
        cells = [
            (
                status,
                e.name,
                ", ".join(e.kinds),
                signed_size(e.compressed_delta) if e.compressed_delta else "",
            )
            for status, e in entries[:top]
        ]
        lines += ["  " + line for line in table(cells, right=(3,))]
        if len(entries) > top:
            lines.append(f"  … {len(entries) - top:,} more (--top N shows more)")
    return lines


def _part_row(part: Part, total: int) -> tuple[str, str, str, str, str]:
    return (
        part.name,
        str(part.files),
        human_size(part.size),
        human_size(part.compressed) if part.compressed is not None else "-",
        f"{part.size / total:.1%}" if total else "-",
    )


def remote_figures(report: RemoteReport) -> str:
    """A run's use of its remote cache, in one line (``build -v``)."""
    mode = "read-write" if report.writable else "read"
    return (
        f"remote cache {report.url} ({mode}): {report.hits} hit(s), {report.misses} miss(es), "
        f"{human_size(report.bytes_down)} down, {report.uploads} upload(s), {human_size(report.bytes_up)} up"
        + (f", {report.ignored} ignored" if report.ignored else "")
        + (f", {report.errors} failed request(s)" if report.errors else "")
    )
