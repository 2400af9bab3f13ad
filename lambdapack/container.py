"""Source builds in a container of the target's build image, through a real
Docker Engine and the ``docker`` Python SDK (``lambdapack[docker]``).

What runs where (docs/containers.md): the host fetches and hash-checks every
input (the sdist or the package tree, the wheels of the build requirements)
and mounts them; the container sees only those, a writable build directory
and the output directory, runs as the calling user, and has no network unless
the project asks for it (``container_network = true``). The image is the
runtime's public Lambda build image unless ``build_image`` says otherwise;
arm64 images run under binfmt/qemu on an x86_64 host.

Every failure is a :class:`~lambdapack.errors.ContainerError` naming the
engine, the image or the package: never a host build, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdapack.errors import ContainerError
from lambdapack.runtimes import Target

if TYPE_CHECKING:
    import docker

#: Where the public AWS SAM build images live; one per runtime, tagged per architecture.
IMAGE_REPOSITORY = "public.ecr.aws/sam/build-{runtime}"
#: The architecture tags of those images (``latest-x86_64`` / ``latest-arm64``).
IMAGE_TAG = "latest-{architecture}"
#: Seconds a source build may take before it is stopped.
BUILD_TIMEOUT = 3600
_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
_IMAGE_ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
_DEFAULT_HOST = "unix:///var/run/docker.sock"


def default_image(target: Target) -> str:
    """The public Lambda build image of ``target``'s runtime and architecture."""
    repository = IMAGE_REPOSITORY.format(runtime=target.runtime.name)
    return f"{repository}:{IMAGE_TAG.format(architecture=target.architecture.name)}"


def platform(target: Target) -> str:
    """The ``--platform`` of ``target``'s images (``linux/arm64`` runs under qemu on x86_64)."""
    return _PLATFORMS[target.architecture.name]


@dataclass(frozen=True, kw_only=True, slots=True)
class Mount:
    source: Path
    read_only: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """One command in a fresh container, removed afterwards."""

    image: str
    command: Sequence[str]
    target: Target
    #: container path → host directory.
    mounts: Mapping[str, Mount] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    network: bool = False
    #: What the command builds, for messages ("mmh3 2.5.1").
    what: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Finished:
    exit_code: int
    log: str


class Engine:
    """A connection to the Docker Engine at ``DOCKER_HOST`` (else the default socket)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._client: docker.DockerClient | None = None

    @property
    def host(self) -> str:
        return self._environ.get("DOCKER_HOST") or _DEFAULT_HOST

    def client(self) -> docker.DockerClient:
        if self._client is not None:
            return self._client
        try:
            import docker
        except ImportError:
            raise ContainerError(
                "container builds need the docker Python SDK: pip install 'lambdapack[docker]'"
            ) from None
        try:
            client = docker.DockerClient.from_env(environment=self._environ, timeout=60)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds; all mean "no engine"
            raise ContainerError(
                f"no Docker engine answers at {self.host} ({_reason(exc)}); start Docker, or set DOCKER_HOST "
                "to an engine (docs/containers.md)"
            ) from None
        self._client = client
        return client

    def image_id(self, name: str, target: Target, *, what: str = "") -> str:
        """The id (``sha256:…``) of image ``name`` for ``target``'s architecture;
        pulled once when the engine does not have it."""
        import docker.errors

        client = self.client()
        for_what = f" to build {what}" if what else ""
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            try:
                image = client.images.pull(name, platform=platform(target))
            except Exception as exc:  # noqa: BLE001 - a registry or network failure of any kind
                raise ContainerError(
                    f"build image {name}{for_what} is not in the Docker engine at {self.host} and cannot be "
                    f"pulled ({_reason(exc)}); pull or load it (docker pull {name}), or set build_image "
                    "(docs/containers.md)"
                ) from None
        except Exception as exc:  # noqa: BLE001 - engine errors
            raise ContainerError(
                f"cannot inspect build image {name} at {self.host}: {_reason(exc)}"
            ) from None
        architecture = image.attrs.get("Architecture")
        wanted = _IMAGE_ARCHITECTURES[target.architecture.name]
        if architecture and architecture != wanted:
            raise ContainerError(
                f"build image {name} is for {architecture}, not {wanted} ({target.describe()}); use the "
                f"image for {target.architecture.name} (e.g. {default_image(target)}) or set build_image"
            )
        return str(image.id)

    def run(self, run: Run, *, timeout: int = BUILD_TIMEOUT) -> Finished:
        """Run ``run`` to completion; its exit code and output."""
        client = self.client()
        volumes = {
            str(mount.source): {"bind": path, "mode": "ro" if mount.read_only else "rw"}
            for path, mount in run.mounts.items()
        }
        options: dict[str, Any] = {
            "command": list(run.command),
            "platform": platform(run.target),
            "volumes": volumes,
            "environment": dict(run.environment),
            "working_dir": run.workdir,
            "network_mode": "host" if run.network else "none",
            "user": f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None,
            "detach": True,
        }
        try:
            container = client.containers.create(run.image, **options)
        except Exception as exc:  # noqa: BLE001
            raise ContainerError(f"cannot create a container of {run.image}: {_reason(exc)}") from None
        try:
            container.start()
            status = container.wait(timeout=timeout)
            log = container.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        except Exception as exc:  # noqa: BLE001 - a timeout or a lost engine
            raise ContainerError(
                f"the build of {run.what or 'a package'} in {run.image} did not finish: {_reason(exc)}"
            ) from None
        finally:
            with contextlib.suppress(Exception):  # best effort: the container may be gone already
                container.remove(force=True)
        return Finished(exit_code=int(status.get("StatusCode", 1)), log=log)


def _reason(exc: BaseException) -> str:
    """An SDK exception as a short phrase (one line)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"
