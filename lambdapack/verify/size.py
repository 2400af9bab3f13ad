"""Sizes against Lambda's limits, with the largest parts when over or near one."""

from __future__ import annotations

from collections import defaultdict

from lambdapack.contents import Package, top_level
from lambdapack.verify.model import Finding

#: Lambda's limits, in bytes (docs/verify.md).
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # zipped, uploaded in the API request
API_REQUEST_CAP = 69_905_067  # the request body cap: base64 of a 50 MiB zip
UNZIPPED_LIMIT = 262_144_000  # function code plus all layers
NEAR_LIMIT = 0.8


def size_findings(package: Package, zipped_size: int | None) -> list[Finding]:
    """Sizes against Lambda's limits, with the largest parts when over or near one."""
    return [*unzipped_size_findings(package), *zipped_size_findings(package, zipped_size)]


def unzipped_size_findings(package: Package) -> list[Finding]:
    """Over 262,144,000 bytes unzipped is an error; 80 % of it a warning."""
    findings: list[Finding] = []
    unzipped = sum(f.size for f in package.files)
    if unzipped >= NEAR_LIMIT * UNZIPPED_LIMIT:
        over = unzipped > UNZIPPED_LIMIT
        findings.append(
            Finding(
                severity="error" if over else "warning",
                check="size",
                message=f"unzipped size {unzipped:,} bytes is {share(unzipped, UNZIPPED_LIMIT)} Lambda's "
                f"limit for function code plus layers ({UNZIPPED_LIMIT:,} bytes)",
                fix="drop dependencies the function does not import, move large ones to a layer or a "
                "container image, or exclude files (exclude, dependency_exclude)",
                details=_breakdown(package),
            )
        )
    return findings


def zipped_size_findings(package: Package, zipped_size: int | None) -> list[Finding]:
    """A zip over 50 MiB cannot be uploaded directly (its base64 exceeds the
    69,905,067-byte request cap): a warning to upload through S3."""
    findings: list[Finding] = []
    if zipped_size is not None and zipped_size >= NEAR_LIMIT * DIRECT_UPLOAD_LIMIT:
        if zipped_size > API_REQUEST_CAP:
            what = f"is over Lambda's API request cap ({API_REQUEST_CAP:,} bytes) even before base64"
        else:
            what = f"is {share(zipped_size, DIRECT_UPLOAD_LIMIT)} the 50 MB direct-upload limit " + (
                f"({DIRECT_UPLOAD_LIMIT:,} bytes; its base64 request must stay under {API_REQUEST_CAP:,})"
            )
        findings.append(
            Finding(
                severity="warning",
                check="size",
                message=f"zipped size {zipped_size:,} bytes {what}",
                fix="upload through S3 (aws_lambda_function s3_bucket/s3_key), or make the package smaller",
                details=_breakdown(package),
            )
        )
    return findings


def share(size: int, limit: int) -> str:
    """ "over" or "N% of" (a limit), for messages."""
    return "over" if size > limit else f"{size / limit:.0%} of"


def _breakdown(package: Package, count: int = 5) -> tuple[str, ...]:
    owners = package.owners()
    by_dist: dict[str, int] = defaultdict(int)
    by_dir: dict[str, int] = defaultdict(int)
    for file in package.files:
        dist = owners.get(file.name)
        by_dist[dist.label() if dist else "(not from a distribution)"] += file.size
        by_dir[top_level(file.name)] += file.size
    lines = ["largest distributions:"]
    lines += [f"  {size:>13,}  {name}" for name, size in _largest(by_dist, count)]
    lines.append("largest top-level entries:")
    lines += [f"  {size:>13,}  {name}" for name, size in _largest(by_dir, count)]
    return tuple(lines)


def _largest(sizes: dict[str, int], count: int) -> list[tuple[str, int]]:
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:count]
