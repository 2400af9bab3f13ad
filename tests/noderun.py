"""Run a Node.js Lambda handler from a built zip, the way the Lambda runtime
would, on the target architecture: the host ``node`` for x86_64, Debian's
arm64 Node.js 18 under ``qemu-aarch64-static`` for arm64
(``tests/qemu/prepare-arm64-node.sh``, prepared on first use).

The zip is unpacked into ``WORK/task`` and made read-only like ``/var/task``
(as root, the run also drops ``CAP_DAC_OVERRIDE`` and ``CAP_FOWNER`` so the
permission bits hold); a small driver outside the task directory resolves the
handler as Lambda does (``dir/file.export``: ``file.js``, ``file.mjs``, then
``file.cjs``; ``.js`` is ESM only below a ``package.json`` with ``"type":
"module"``), calls it with ``(event, context, callback)`` and prints the result
as JSON."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PREPARE = Path(__file__).parent / "qemu" / "prepare-arm64-node.sh"
#: Seconds a run may take (Node.js under qemu starts in a few seconds).
TIMEOUT = 300
#: Prefix of the driver's result line on stdout (the handler may print too).
_MARKER = "@@noderun-result@@ "

_DRIVER = r"""
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";

const [taskRoot, handlerString, eventFile, marker] = process.argv.slice(2);

// "dir/file.a.b" -> module "dir/file", export path "a.b" (as Lambda's runtime splits it)
function splitHandler(handler) {
  const slash = handler.lastIndexOf("/");
  const dot = handler.indexOf(".", slash + 1);
  if (dot < 0) throw new Error(`Bad handler ${handler}: expected file.export`);
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

// The nearest package.json, from the file's folder up to the task root, decides
function typeModule(folder) {
  for (;;) {
    if (folder.endsWith(`${path.sep}node_modules`)) return false;
    const manifest = path.join(folder, "package.json");
    if (existsSync(manifest)) {
      try {
        return JSON.parse(readFileSync(manifest, "utf8"))?.type === "module";
      } catch {
        return false;
      }
    }
    if (folder === taskRoot || folder === path.dirname(folder)) return false;
    folder = path.dirname(folder);
  }
}

async function load(moduleName) {
  const base = path.resolve(taskRoot, moduleName);
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const file = base + ext;
    if (!existsSync(file)) continue;
    const esm = ext === ".mjs" || (ext === ".js" && typeModule(path.dirname(file)));
    return esm ? await import(pathToFileURL(file).href) : createRequire(file)(file);
  }
  throw new Error(`Cannot find module '${moduleName}' (.js, .mjs, .cjs) in ${taskRoot}`);
}

const [moduleName, exportPath] = splitHandler(handlerString);
let handler = await load(moduleName);
for (const key of exportPath.split(".")) handler = handler?.[key];
if (typeof handler !== "function") {
  throw new Error(`${handlerString} is undefined or not exported as a function`);
}

const event = JSON.parse(readFileSync(eventFile, "utf8"));
const deadline = Date.now() + 900_000;
const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
const context = {
  functionName: name,
  functionVersion: "$LATEST",
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${name}`,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  awsRequestId: randomUUID(),
  logGroupName: `/aws/lambda/${name}`,
  logStreamName: "noderun",
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
const result = await new Promise((resolve, reject) => {
  const callback = (error, value) => (error ? reject(error) : resolve(value));
  Object.assign(context, { done: callback, succeed: resolve, fail: reject });
  // Neither a promise nor a callback: Lambda answers null once the event loop is empty
  process.once("beforeExit", () => resolve(null));
  const returned = handler(event, context, callback);
  if (returned && typeof returned.then === "function") returned.then(resolve, reject);
});
process.stdout.write(`\n${marker}${JSON.stringify(result === undefined ? null : result)}\n`);
process.exit(0);
"""


def run_handler(
    zip_path: Path,
    handler: str,
    event: object,
    *,
    architecture: str,
    work: Path,
    env: dict[str, str] | None = None,
) -> object:
    """Invoke ``handler`` of the function in ``zip_path`` with ``event`` on
    ``architecture`` ("x86_64" or "arm64"); return its JSON-decoded result.
    ``work`` holds the unpacked task directory and the driver; ``env`` is added
    to a Lambda-like environment. A failed run raises AssertionError with stderr."""
    if architecture == "x86_64":
        node = shutil.which("node")
        assert node is not None, "no `node` on PATH for x86_64 handlers"
        command = [node]
    elif architecture == "arm64":
        root = _arm64_node_root()
        command = ["qemu-aarch64-static", "-L", str(root), str(root / "usr/bin/node")]
    else:
        raise ValueError(f"unknown architecture {architecture!r}; expected 'x86_64' or 'arm64'")
    if os.geteuid() == 0:  # root ignores permission bits unless it gives up these capabilities
        command = ["setpriv", "--bounding-set=-dac_override,-fowner", *command]

    work.mkdir(parents=True, exist_ok=True)
    task = _unpack_read_only(zip_path, work / "task")
    driver = work / "noderun-driver.mjs"
    driver.write_text(_DRIVER, encoding="utf-8")
    event_file = work / "noderun-event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": handler,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs",
        "AWS_LAMBDA_FUNCTION_NAME": "noderun",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        **(env or {}),
    }
    result = subprocess.run(
        [*command, str(driver), str(task), handler, str(event_file), _MARKER],
        cwd=task,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(_MARKER)]
    if result.returncode != 0 or not lines:
        raise AssertionError(
            f"{handler} on {architecture} failed (exit {result.returncode}): {' '.join(command)}\n"
            f"stderr:\n{result.stderr}\nstdout:\n{result.stdout}"
        )
    return json.loads(lines[-1][len(_MARKER) :])


def _unpack_read_only(zip_path: Path, task: Path) -> Path:
    """``zip_path`` unpacked into a fresh ``task``, then ``chmod -R a-w``."""
    if task.exists():
        for path in (task, *task.rglob("*")):
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(task)
    task.mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    for path in (*task.rglob("*"), task):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)
    return task


def _arm64_node_root() -> Path:
    """The arm64 Node.js root (``$LAMBDAPACK_ARM64_NODE_ROOT`` or ``.cache/arm64-node``),
    prepared once under a file lock: parallel test processes wait for the first."""
    root = Path(os.environ.get("LAMBDAPACK_ARM64_NODE_ROOT", REPO / ".cache" / "arm64-node"))
    root.parent.mkdir(parents=True, exist_ok=True)
    with root.with_name(root.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        prepared = subprocess.run(["bash", str(PREPARE), str(root)], capture_output=True, text=True)
    assert prepared.returncode == 0, f"{PREPARE.name} failed:\n{prepared.stderr}"
    return root
