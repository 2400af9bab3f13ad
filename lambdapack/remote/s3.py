"""Objects in an S3-compatible bucket, through boto3 (the ``lambdapack[s3]``
extra): imported on a run's first remote request, never on a no-op build."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdapack.remote import Location

#: Objects above this size go up in parts, and come down in ranged parts, 4 at a time.
PART_SIZE = 8 * 1024 * 1024
CONCURRENCY = 4


class Missing(Exception):
    """The bucket has no such object."""


class Unavailable(Exception):
    """boto3 is not installed."""


class Bucket:
    """The bucket of a :class:`~lambdapack.remote.Location`. Every request has
    the location's timeout (to connect, and between bytes read) and is retried
    once by botocore; errors reach the caller as they are."""

    def __init__(self, where: Location) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError:
            raise Unavailable("boto3 is not installed; pip install 'lambdapack[s3]'") from None
        self.bucket = where.bucket
        config = Config(
            connect_timeout=where.timeout,
            read_timeout=where.timeout,
            retries={"total_max_attempts": 2, "mode": "standard"},  # one retry
            max_pool_connections=CONCURRENCY * 2,
            user_agent_extra="lambdapack",
        )
        session = boto3.session.Session()
        self._client: Any = session.client(
            "s3", endpoint_url=where.endpoint_url, region_name=where.region, config=config
        )
        # botocore's service model is a graph of some hundred thousand objects that lives as long as
        # the process: frozen, the collector never scans it again, and the interpreter's exit does
        # not spend 0.2 s on it (bench/remote_cache.py).
        gc.freeze()
        self._transfer = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=CONCURRENCY,
            max_io_queue=CONCURRENCY * 4,
        )

    def download(self, name: str, sink: IO[bytes]) -> None:
        """Write the object ``name`` to ``sink`` (in ranged parts when large);
        raises :class:`Missing`."""
        try:
            self._client.download_fileobj(self.bucket, name, sink, Config=self._transfer)
        except Exception as exc:  # botocore's ClientError: 404 is a miss, the rest a fault
            if _status(exc) == 404:
                raise Missing(name) from None
            raise

    def exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:  # see download
            if _status(exc) == 404:
                return False
            raise
        return True

    def upload(self, path: Path, name: str) -> None:
        self._client.upload_file(
            str(path),
            self.bucket,
            name,
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=self._transfer,
        )


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    if code in ("404", "NoSuchKey", "NotFound"):
        return 404
    return status if isinstance(status, int) else None


def describe(exc: BaseException) -> str:
    """One line for a failed request, without credentials (botocore's messages
    name the operation, the endpoint and the error code, never a key)."""
    status = _status(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and status is not None:
        code = response.get("Error", {}).get("Code") or ""
        return f"HTTP {status}{f' {code}' if code and code != str(status) else ''}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
