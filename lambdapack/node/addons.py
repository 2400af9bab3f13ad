"""Native addons compiled for the target in the runtime's Node.js build image
(``sdists = "container"``): packages with a ``binding.gyp`` (or another
native build script) and no prebuilt binary for the target.

The staged install (``npm ci --ignore-scripts`` for the target) is mounted
into a container of the build image, which runs ``npm rebuild`` of just those
packages with no network: node-gyp finds Node's headers beside the image's
own ``node`` (``npm_config_nodedir``), never on nodejs.org. Of what node-gyp
leaves in ``build/``, only the ``.node`` addons are kept (the rest holds paths
and intermediate objects).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdapack.errors import ContainerError, redact
from lambdapack.runtimes import Target

#: Finds Node's headers where the image's node lives (``/var/lang`` in the Lambda images).
_SCRIPT = (
    'npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"; export npm_config_nodedir; '
    'exec npm rebuild "$@" --ignore-scripts=false --no-bin-links --foreground-scripts --no-audit --no-fund'
)


def build(
    names: Sequence[str],
    stage: Path,
    target: Target,
    *,
    image: str,
    network: bool,
    environ: Mapping[str, str],
) -> str:
    """Compile the addons of the installed packages ``names`` under ``stage``
    (the directory holding ``node_modules``) in ``image``; returns the image's id."""
    from lambdapack import container

    engine = container.Engine(environ)
    what = ", ".join(names)
    image_id = engine.image_id(image, target, what=what)
    finished = engine.run(
        container.Run(
            image=image,
            command=["sh", "-c", _SCRIPT, "rebuild", *names],
            target=target,
            mounts={"/build": container.Mount(source=stage, read_only=False)},
            environment={
                "HOME": "/tmp",
                "npm_config_cache": "/tmp/.npm",
                "npm_config_update_notifier": "false",
                "npm_config_offline": "false" if network else "true",
                "SOURCE_DATE_EPOCH": "315532800",
            },
            workdir="/build",
            network=network,
            what=what,
        )
    )
    if finished.exit_code != 0:
        raise ContainerError(
            f"compiling the native addon of {what} failed in {image} (exit {finished.exit_code}): "
            f"{_last_error(finished.log)}",
            details=redact(f"$ npm rebuild {' '.join(names)}  # in {image}\n{finished.log.rstrip()}"),
        )
    for name in names:
        _keep_addons(stage / "node_modules" / name)
    return image_id


def _keep_addons(package: Path) -> None:
    """Drop node-gyp's intermediate files: keep ``build/Release/*.node`` only."""
    build = package / "build"
    if not build.is_dir():
        return
    for path in sorted(build.rglob("*"), reverse=True):
        keep = path.suffix == ".node" and path.parent == build / "Release"
        if path.is_symlink() or (path.is_file() and not keep):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if build.is_dir() and not any(build.iterdir()):
        shutil.rmtree(build)


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "gyp ERR! stack" not in line]
    picked = (errors or lines or ["no output"])[0 if errors else -1]
    return picked if len(picked) <= 240 else picked[:237] + "…"
