"""Why a function was rebuilt, or not (``lambdapack build --explain``).

Every build records its plan (lambdapack.plan: every input that decides the
zip's bytes) in ``<output>/.lambdapack-plan.json``. The next build computes
its plan and, asked to explain, compares the two record by record: the
source files (added, removed, changed, made executable), the dependency input
and the files that give it meaning, the lock file, the dependency options and
index settings (as hashes: they may hold credentials), the target, the
handler, the options, and the versions of lambdapack and the tools whose
output is shipped. Nothing is guessed: a change that is not in the records
cannot be named, and the plan holds every input that decides the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdapack.plan import BuildPlan
from lambdapack.state import PLAN_VERSION

#: How many names a change lists before it counts the rest.
SHOWN = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One recorded input that differs from the last build's."""

    #: What kind of input: "sources", "dependencies", "lock", "index", "target", "handler",
    #: "option", "engine", "zip" or "first build".
    kind: str
    #: What changed, for people ("app.py changed", "uv 0.13.9 -> 0.14.0").
    detail: str
    #: The names the change is about (source files, option or tool names), all of them.
    names: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "detail": self.detail, "names": list(self.names)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """Why ``name``'s zip was (or was not) built again."""

    name: str
    #: Whether the zip was written by this build.
    rebuilt: bool
    changes: tuple[Change, ...]

    @property
    def summary(self) -> str:
        if not self.changes:
            return "up to date"
        return "; ".join(change.detail for change in self.changes)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "rebuilt": self.rebuilt,
            "summary": self.summary,
            "changes": [c.to_json() for c in self.changes],
        }


def explain(
    name: str,
    previous: Mapping[str, Any] | None,
    plan: BuildPlan,
    *,
    rebuilt: bool,
    zip_state: str | None = None,
) -> Explanation:
    """Compare ``plan`` with the recorded plan ``previous`` of the same function
    (None: none recorded). ``zip_state`` says why the zip itself is not current
    when the plans are equal ("missing", "changed since it was written"), else None."""
    if not rebuilt:  # its zip is the one this plan builds
        return Explanation(name=name, rebuilt=False, changes=())
    if previous is None or previous.get("version") != PLAN_VERSION:
        detail = "first build: no build of it is recorded in the output directory"
        return Explanation(name=name, rebuilt=rebuilt, changes=(Change(kind="first build", detail=detail),))
    changes = [
        *_target_and_handler(previous, plan),
        *_sources(previous.get("sources") or [], plan),
        *_dependencies(previous.get("dependencies"), plan),
        *_options(previous.get("options") or {}, plan.options),
        *_mapping("engine", previous.get("engines") or {}, plan.engines),
    ]
    if not changes and previous.get("fingerprint") != plan.fingerprint:
        changes.append(
            Change(kind="plan", detail="the build plan's format changed (lambdapack was upgraded)")
        )
    if not changes and zip_state is not None:
        changes.append(Change(kind="zip", detail=zip_state))
    return Explanation(name=name, rebuilt=rebuilt, changes=tuple(changes))


def _target_and_handler(previous: Mapping[str, Any], plan: BuildPlan) -> list[Change]:
    found = []
    before, after = previous.get("target") or {}, plan.target.to_json()
    if before != after:
        was = f"{before.get('runtime')} {before.get('architecture')}" if isinstance(before, dict) else "?"
        now = f"{after['runtime']} {after['architecture']}"
        found.append(Change(kind="target", detail=f"target {was} -> {now}"))
    if previous.get("handler") != plan.handler:
        found.append(Change(kind="handler", detail=f"handler {previous.get('handler')} -> {plan.handler}"))
    return found


def _sources(recorded: Sequence[Sequence[Any]], plan: BuildPlan) -> list[Change]:
    before = {str(row[0]): (bool(row[1]), str(row[2])) for row in recorded if len(row) == 3}
    after = {s.name: (s.executable, s.sha256) for s in plan.sources}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    both = sorted(after.keys() & before.keys())
    edited = [n for n in both if before[n][1] != after[n][1]]
    moded = [n for n in both if before[n][1] == after[n][1] and before[n][0] != after[n][0]]
    found = []
    for names, what in ((edited, "changed"), (added, "added"), (removed, "removed"), (moded, "mode changed")):
        if names:
            found.append(
                Change(
                    kind="sources",
                    detail=f"{_count(names, 'source file')} {what}: {_names(names)}",
                    names=tuple(names),
                )
            )
    return found


def _dependencies(recorded: Mapping[str, Any] | None, plan: BuildPlan) -> list[Change]:
    current = plan.dependencies
    if recorded is None and current is None:
        return []
    if recorded is None:
        assert current is not None
        first = current.files[0][0] if current.files else "?"
        return [Change(kind="dependencies", detail=f"dependencies declared: {first}")]
    if current is None:
        return [Change(kind="dependencies", detail=f"no dependencies any more (was {_first_file(recorded)})")]
    found = []
    before = {str(path): digest for path, digest in recorded.get("files") or []}
    after = dict(current.files)
    files = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    for path in files:
        what = "added" if path not in before else "removed" if path not in after else "changed"
        found.append(Change(kind="dependencies", detail=f"{path} {what}", names=(path,)))
    if not files and recorded.get("input_digest") != current.input_digest:
        found.append(Change(kind="dependencies", detail="the dependency input changed"))
    was_file, was_digest = recorded.get("lock_file"), recorded.get("lock_digest")
    lock, digest = current.lock_file, current.lock_digest
    if (was_file, was_digest) != (lock, digest) and not (was_digest == digest == "-"):  # ("-": none)
        if was_digest == "-":
            what = f"lock {lock} written"
        elif digest == "-":
            what = f"lock {was_file} missing" if was_file == lock else f"no lock {lock} (was {was_file})"
        else:
            what = f"lock {lock} changed" if was_file == lock else f"lock {lock} instead of {was_file}"
        found.append(Change(kind="lock", detail=what, names=(lock,)))
    found += _mapping("dependency option", recorded.get("options") or {}, current.options)
    index_before: Mapping[str, Any] = recorded.get("index") or {}
    keys = sorted(k for k in {*index_before, *current.index} if index_before.get(k) != current.index.get(k))
    if keys:
        detail = f"index settings changed ({', '.join(keys)}; recorded as hashes)"
        found.append(Change(kind="index", detail=detail, names=tuple(keys)))
    return found


#: Options whose names are not those users know them by.
_OPTION_LABELS = {"epoch": "SOURCE_DATE_EPOCH", "check": "checks (--no-verify turns them off)"}


def _options(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    found = []
    for change in _mapping("option", before, after):
        key = change.names[0]
        if key == "layers":  # [[artifact, sha256], …]: a layer's contents changed, or the list did
            old_layers = {str(n): d for n, d in before.get("layers") or []}
            new_layers = {str(n): d for n, d in after.get("layers") or []}
            if set(old_layers) == set(new_layers):
                names = sorted(n for n in new_layers if old_layers[n] != new_layers[n])
                detail = f"layer{'s' if len(names) > 1 else ''} {', '.join(names)} changed"
                change = Change(kind="layer", detail=detail, names=tuple(names))
        elif key in _OPTION_LABELS:
            was, now = _value(before.get(key, _ABSENT)), _value(after.get(key, _ABSENT))
            change = Change(kind="option", detail=f"{_OPTION_LABELS[key]}: {was} -> {now}", names=(key,))
        found.append(change)
    return found


def _mapping(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    found = []
    for key in sorted({*before, *after}):
        was, now = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if was == now:
            continue
        found.append(Change(kind=kind, detail=f"{kind} {key}: {_value(was)} -> {_value(now)}", names=(key,)))
    return found


class _Absent:
    def __repr__(self) -> str:
        return "unset"


_ABSENT = _Absent()


def _value(value: object) -> str:
    if value is _ABSENT or value is None:
        return "unset"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_file(dependencies: Mapping[str, Any]) -> str:
    files = dependencies.get("files") or []
    return str(files[0][0]) if files else "?"


def _count(names: Sequence[str], what: str) -> str:
    return f"{len(names)} {what}{'' if len(names) == 1 else 's'}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown if len(names) <= SHOWN else f"{shown} (+{len(names) - SHOWN} more)"
