"""Source builds in the runtime's build image on a real Docker Engine
(tests/engine/up.sh starts one, with stand-ins for the public SAM build images
tagged with their real names), and what goes wrong around them.

Each built package is imported and called by its handler on the target's
machine: x86_64 with the host's CPython 3.11, arm64 under qemu."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import cli, write_tree
from lambdapack import elf
from pyrun import run_handler

pytestmark = [pytest.mark.engine, pytest.mark.network, pytest.mark.slow]

MACHINES = {"x86_64": 62, "arm64": 183}


def _project(root: Path, requirements: str, *, architecture: str, extra: str = "", app: str = "") -> Path:
    return write_tree(
        root,
        {
            "lambdapack.toml": f'sdists = "container"\n{extra}'
            f'[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.11"\n'
            f'architecture = "{architecture}"\n',
            "fn/app.py": app or "def handler(event, context):\n    return 1\n",
            "fn/requirements.txt": requirements,
        },
    )


def _shared_objects(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n.endswith(".so")}


def _container_creations(host: str, since: float) -> int:
    import docker

    client = docker.DockerClient(base_url=host)
    events = client.events(
        since=int(since),
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create"},
    )
    return sum(1 for _ in events)


MMH3_APP = (
    "import mmh3\n\ndef handler(event, context):\n"
    "    return [mmh3.hash(event['text']), mmh3.hash64(event['text'])]\n"
)


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_a_c_extension_sdist_is_compiled_in_the_build_image(
    docker_host: str, tmp_path: Path, architecture: str
) -> None:
    """mmh3 2.5.1 is an sdist with C++ sources and no wheel at all: compiled in
    public.ecr.aws/sam/build-python3.11:latest-<arch>, its .so is an ELF of the
    target machine within glibc 2.26, and the handler calls it."""
    root = _project(tmp_path / "p", "mmh3==2.5.1\n", architecture=architecture, app=MMH3_APP)
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    image = f"public.ecr.aws/sam/build-python3.11:latest-{architecture}"
    assert (
        f"info [source-build] [mmh3 2.5.1]: built from its sdist mmh3-2.5.1.tar.gz in {image}"
        in result.stderr
    )
    objects = _shared_objects(root / "dist" / "fn.zip")
    assert list(objects) == [
        f"mmh3.cpython-311-{'x86_64' if architecture == 'x86_64' else 'aarch64'}-linux-gnu.so"
    ]
    info = elf.parse(next(iter(objects.values())))
    assert info.machine == MACHINES[architecture]
    assert info.glibc is not None and info.glibc <= (2, 26)
    assert run_handler(
        root / "dist" / "fn.zip",
        "app.handler",
        {"text": "foo"},
        architecture=architecture,
        work=tmp_path / "run",
    ) == [-156908512, [-2129773440516405919, 9128664383759220103]]  # what today's mmh3 wheels say


def test_a_built_sdist_is_reused_without_a_container_and_gives_the_same_zip(
    docker_host: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = {"LAMBDAPACK_CACHE_DIR": str(cache)}
    first = _project(tmp_path / "first", "mmh3==2.5.1\n", architecture="x86_64", app=MMH3_APP)
    start = time.time()
    cold = cli("build", cwd=first, env=env)
    assert cold.returncode == 0, cold.stderr
    assert _container_creations(docker_host, start) == 1
    # another project, another dependency set (a second package), the same sdist: no container
    second = _project(tmp_path / "second", "mmh3==2.5.1\nsix==1.16.0\n", architecture="x86_64", app=MMH3_APP)
    start = time.time()
    warm = cli("build", cwd=second, env=env)
    assert warm.returncode == 0, warm.stderr
    assert "from the cache" in warm.stderr
    assert _container_creations(docker_host, start) == 0
    # the same project again, its dependency set gone from the cache: the same bytes
    first_zip = (first / "dist" / "fn.zip").read_bytes()
    for path in (cache / "deps").iterdir():
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
    (first / "dist" / "fn.zip").unlink()
    again = cli("build", cwd=first, env=env)
    assert again.returncode == 0, again.stderr
    assert (first / "dist" / "fn.zip").read_bytes() == first_zip


def _broken_sdist(dest: Path) -> Path:
    """An sdist whose C extension does not compile."""
    files = {
        "brokenext-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: brokenext\nVersion: 1.0\n",
        "brokenext-1.0/setup.py": "from setuptools import setup, Extension\n"
        "setup(name='brokenext', version='1.0', ext_modules=[Extension('brokenext', ['brokenext.c'])])\n",
        "brokenext-1.0/brokenext.c": "#include <Python.h>\nthis is not C;\n",
    }
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "brokenext-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def test_container_build_errors_are_one_line_and_keep_earlier_outputs(
    docker_host: str, tmp_path: Path
) -> None:
    root = _project(tmp_path / "p", "mmh3==2.5.1\n", architecture="x86_64", app=MMH3_APP)
    built = cli("build", cwd=root)
    assert built.returncode == 0, built.stderr
    zip_bytes = (root / "dist" / "fn.zip").read_bytes()
    manifest = (root / "dist" / "lambdapack-manifest.json").read_bytes()

    def fails(env: dict[str, str | None], pattern: str, *, config: str | None = None) -> None:
        if config is not None:
            (root / "lambdapack.toml").write_text(config)
        with (root / "fn" / "app.py").open("a") as app:  # something to build
            app.write("# edited\n")
        result = cli("build", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(tmp_path / "c"), **env})
        assert result.returncode == 1, (pattern, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]
        assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr
        assert "Traceback" not in result.stderr
        assert (root / "dist" / "fn.zip").read_bytes() == zip_bytes
        assert (root / "dist" / "lambdapack-manifest.json").read_bytes() == manifest

    # no engine: the build cannot start a container, and says where it looked
    fails(
        {"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"},
        rf"no Docker engine answers at unix://{re.escape(str(tmp_path))}/nothing.sock .*DOCKER_HOST",
    )
    config = (root / "lambdapack.toml").read_text()
    # no image: not in the engine, and nothing can be pulled here
    fails(
        {},
        r"build image local/lambdapack-missing:1 to build mmh3==2.5.1 is not in the Docker engine at .* and "
        r"cannot be pulled .*docker pull local/lambdapack-missing:1",
        config=config.replace(
            'sdists = "container"\n', 'sdists = "container"\nbuild_image = "local/lambdapack-missing:1"\n'
        ),
    )
    # a compile error: the package, the image and the compiler's complaint
    _broken_sdist(root / "wheels")
    (root / "fn" / "requirements.txt").write_text("brokenext==1.0\n")
    fails(
        {},
        r"compiling brokenext==1\.0 from brokenext-1\.0\.tar\.gz failed in "
        r"public\.ecr\.aws/sam/build-python3\.11:latest-x86_64 \(exit 1\): brokenext\.c:2:\d+: error: ",
        config=config.replace('sdists = "container"\n', 'sdists = "container"\nfind_links = ["wheels"]\n'),
    )


def test_a_changed_sdist_fails_its_locked_hash(docker_host: str, tmp_path: Path) -> None:
    """The lock pins brokenext's sdist by hash; the file in the find-links directory is
    replaced: the build names the file and both hashes, and writes nothing."""
    root = _project(
        tmp_path / "p",
        "brokenext==1.0\n",
        architecture="x86_64",
        extra='find_links = ["wheels"]\n',
    )
    _broken_sdist(root / "wheels")
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    lock_text = (root / "fn" / "requirements.python3.11-x86_64.lock.txt").read_text()
    assert "brokenext==1.0 --hash=sha256:" in lock_text and "# brokenext-1.0.tar.gz" in lock_text
    with tarfile.open(root / "wheels" / "brokenext-1.0.tar.gz", "w:gz") as archive:  # other bytes
        data = b"Metadata-Version: 2.1\nName: brokenext\nVersion: 1.0\n"
        member = tarfile.TarInfo("brokenext-1.0/PKG-INFO")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    result = cli("build", "--locked", cwd=root)
    assert result.returncode == 1, result.stderr
    assert re.search(
        r"^lambdapack: error: fn: hash mismatch for brokenext-1\.0\.tar\.gz \(brokenext==1\.0\): "
        r"the lock says sha256:[0-9a-f]{64}, the index served sha256:[0-9a-f]{64}$",
        result.stderr,
        re.M,
    ), result.stderr
    assert not (root / "dist" / "fn.zip").exists()


def test_the_build_image_is_part_of_the_build_plan(docker_host: str, tmp_path: Path) -> None:
    """Naming the image changes the plan (the dependency set is made again), but the
    same image gives the wheel already built for it, and the same zip."""
    root = _project(tmp_path / "p", "mmh3==2.5.1\n", architecture="x86_64", app=MMH3_APP)
    assert cli("build", cwd=root).returncode == 0
    zip_bytes = (root / "dist" / "fn.zip").read_bytes()
    noop = cli("build", "-v", cwd=root)
    assert noop.returncode == 0 and "fn: installing" not in noop.stderr
    assert "info [source-build] [mmh3 2.5.1]" in noop.stderr  # still said on a no-op
    config = (root / "lambdapack.toml").read_text()
    image = "public.ecr.aws/sam/build-python3.11:latest-x86_64"
    (root / "lambdapack.toml").write_text(
        config.replace("[functions.fn]\n", f'[functions.fn]\nbuild_image = "{image}"\n')
    )
    named = cli("build", "-v", cwd=root)
    assert named.returncode == 0, named.stderr
    assert (
        "fn: installing" in named.stderr
        and f"in {image}" in named.stderr
        and "from the cache" in named.stderr
    )
    assert (root / "dist" / "fn.zip").read_bytes() == zip_bytes
    manifest = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    assert manifest["artifacts"]["fn"]["code_sha256"] in named.stderr
