"""What a package index lists for a project (PEP 691 JSON, or PEP 503 HTML),
so that a resolution can leave out, in one go, every release whose wheels all
need a newer glibc than the runtime's (lambdapack.python.lock._resolve):
without it, each such release costs a resolution of its own (numpy has a
dozen that only ship manylinux_2_27/2_28 wheels for cp311).

Only the simple cases are answered: the default index or the configured
index URLs (and the ``file:`` ones). With ``--no-index``, find-links, or uv's
own multi-index variables, the answer is None and the caller takes the slow
path, one release at a time.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote, urljoin, urlsplit

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)

DEFAULT_INDEX = "https://pypi.org/simple"
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_ANCHOR_RE = re.compile(r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>", re.I)
_VALUED = {
    "-i": "index",
    "--index-url": "index",
    "--extra-index-url": "extra",
    "-f": "links",
    "--find-links": "links",
}


def index_urls(args: Sequence[str], environ: Mapping[str, str]) -> list[str] | None:
    """The index URLs uv searches with ``args`` (index options) and ``environ``,
    or None when files may also come from elsewhere (find-links, ``--no-index``)."""
    primary: str | None = None
    extras: list[str] = []
    values = iter(args)
    for arg in values:
        if arg == "--no-index":
            return None
        kind = _VALUED.get(arg)
        if kind is None:
            continue
        value = next(values, "")
        if kind == "links":
            return None
        if kind == "index":
            primary = value
        else:
            extras.append(value)
    if any(environ.get(name) for name in ("UV_INDEX", "UV_FIND_LINKS", "UV_NO_INDEX")):
        return None
    primary = primary or next(
        (environ[n] for n in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL") if environ.get(n)),
        DEFAULT_INDEX,
    )
    for name in ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        extras += environ.get(name, "").split()
    return [primary, *extras]


def project_files(name: str, urls: Sequence[str], environ: Mapping[str, str]) -> list[str] | None:
    """The file names every index in ``urls`` lists for project ``name``; None
    when one of them cannot be read (the caller must not guess then)."""
    found: list[str] = []
    for base in urls:
        page = f"{base.rstrip('/')}/{canonicalize_name(name)}/"
        try:
            found += _read(page, environ, urls)
        except (OSError, ValueError, UnicodeDecodeError):
            return None
    return found


def releases_without(files: Iterable[str], *, wanted: frozenset[Tag], selectable: frozenset[Tag]) -> set[str]:
    """The versions among ``files`` that have a wheel with a tag in
    ``selectable`` (what the resolution's platform level admits) but none with
    a tag in ``wanted`` (what the runtime loads)."""
    selected: set[str] = set()
    loading: set[str] = set()
    for filename in files:
        try:
            _name, version, _build, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if tags & wanted:
            loading.add(str(version))
        elif tags & selectable:
            selected.add(str(version))
    return selected - loading


def ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """TLS as uv and pip are configured here (``SSL_CERT_FILE``, else ``PIP_CERT``)."""
    return ssl.create_default_context(cafile=environ.get("SSL_CERT_FILE") or environ.get("PIP_CERT") or None)


def credentials(host: str | None, urls: Iterable[str]) -> dict[str, str]:
    """An Authorization header for ``host`` from an index URL with ``user:password@`` in it."""
    for value in urls:
        found = urlsplit(value)
        if found.scheme in ("http", "https") and found.hostname == host and found.username:
            token = f"{unquote(found.username)}:{unquote(found.password or '')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(token).decode()}
    return {}


def _read(page: str, environ: Mapping[str, str], urls: Sequence[str]) -> list[str]:
    parts = urlsplit(page)
    if parts.scheme == "file":
        from pathlib import Path

        directory = Path(unquote(parts.path))
        index = directory / "index.html"
        text = index.read_text("utf-8") if index.is_file() else ""
        return _anchors(text, page) if text else [p.name for p in directory.iterdir()]
    clean = parts._replace(netloc=parts.hostname or "").geturl() if parts.username else page
    context = ssl_context(environ)
    headers = {"Accept": _ACCEPT, "User-Agent": "lambdapack", **credentials(parts.hostname, [page, *urls])}
    request = urllib.request.Request(clean, headers=headers)
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        body = response.read().decode("utf-8")
        kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        data = json.loads(body)
        return [str(f["filename"]) for f in data.get("files", []) if isinstance(f, dict) and "filename" in f]
    return _anchors(body, page)


def _anchors(html: str, page: str) -> list[str]:
    names = []
    for href in _ANCHOR_RE.findall(html):
        path = urlsplit(urljoin(page, href)).path
        names.append(unquote(path.rsplit("/", 1)[-1]))
    return names
