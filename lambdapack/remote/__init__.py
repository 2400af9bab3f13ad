"""The remote cache: lambdapack's cache entries shared through S3-compatible
object storage by every machine of a team (docs/remote-cache.md).

This module is light (a no-op build imports it): the settings, where they
come from (``[cache]``, the environment, the command line) and :func:`make`,
which makes a :class:`~lambdapack.remote.store.Remote` without touching the
network; boto3 is imported by :mod:`lambdapack.remote.s3` on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from lambdapack.remote.store import Remote

#: What ``mode`` takes: read and write, only read (untrusted CI), or not at all.
MODES = ("read-write", "read", "off")
DEFAULT_MODE = "read-write"
#: Seconds per request (to connect, and between bytes read) unless ``timeout`` says otherwise.
DEFAULT_TIMEOUT = 10.0
#: The keys of ``[cache]``.
KEYS = ("remote", "mode", "endpoint_url", "region", "timeout")
#: The environment variables lambdapack reads for it (credentials come from AWS's own).
URL_VARIABLE = "LAMBDAPACK_REMOTE_CACHE"
MODE_VARIABLE = "LAMBDAPACK_REMOTE_CACHE_MODE"
KEY_VARIABLE = "LAMBDAPACK_CACHE_SIGNING_KEY"

_URL = r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$"


@dataclass(frozen=True, kw_only=True, slots=True)
class RemoteSettings:
    """A remote cache as configured (``[cache]``), before the environment and
    the command line have their say."""

    url: str | None = None
    mode: str = DEFAULT_MODE
    endpoint_url: str | None = None
    region: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, kw_only=True, slots=True)
class Location:
    """Where a run's remote cache is and how it may be used."""

    url: str  # s3://bucket/prefix, as given (no credentials can be in it)
    bucket: str
    prefix: str  # without slashes at either end; "" for the bucket's root
    writable: bool
    endpoint_url: str | None
    region: str | None
    timeout: float


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a remote cache's address, or None."""
    if re.match(_URL, url) is None:
        return f"{url!r} is not an s3://BUCKET[/PREFIX] address"
    return None


def location(
    configured: RemoteSettings | None,
    environ: Mapping[str, str],
    enabled: bool | None = None,
) -> Location | None:
    """The run's remote cache: ``configured`` (from ``[cache]``), then
    ``LAMBDAPACK_REMOTE_CACHE`` / ``LAMBDAPACK_REMOTE_CACHE_MODE``, then the
    command line's ``--remote-cache`` (``enabled=True``: on even where the mode
    says off) or ``--no-remote-cache`` (False). None: no remote this run.
    Raises ValueError naming the variable for a bad value in the environment."""
    settings = configured or RemoteSettings()
    given = environ.get(URL_VARIABLE)
    url = settings.url if given == "off" else given or settings.url
    mode = environ.get(MODE_VARIABLE) or settings.mode
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE}: {mode!r} is not one of {', '.join(MODES)}")
    if given == "off":  # as mode = "off": --remote-cache still turns the configured one on
        mode = "off"
    if enabled is False:
        return None
    if mode == "off":
        if not enabled:
            return None
        mode = DEFAULT_MODE
    if not url:
        if enabled:
            raise ValueError(
                f"--remote-cache: no remote cache is configured; set [cache] remote or {URL_VARIABLE}"
            )
        return None
    problem = url_problem(url)
    if problem is not None:
        raise ValueError(f"{URL_VARIABLE if given and given != 'off' else 'cache.remote'}: {problem}")
    match = re.match(_URL, url)
    assert match is not None
    return Location(
        url=url.rstrip("/"),
        bucket=match["bucket"],
        prefix=(match["prefix"] or "").strip("/"),
        writable=mode == "read-write",
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        timeout=settings.timeout,
    )


def make(where: Location, cache_root: Path, environ: Mapping[str, str]) -> Remote:
    """The run's remote cache (nothing is imported or asked of the network yet)."""
    from lambdapack.remote.store import Remote

    return Remote(
        where,
        cache_root=cache_root,
        signing_key=environ.get(KEY_VARIABLE) or None,
        endpoint=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
    )
