"""What the checks report: findings and the report of one package."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdapack.runtimes import Target


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    severity: str  # "error" | "warning" | "info" (how the package was made; nothing to fix)
    check: str  # architecture, glibc, shared-library, python-abi, wheel-tag, handler, size, hygiene
    message: str
    fix: str = ""
    path: str | None = None
    distribution: str | None = None
    details: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            severity=str(data["severity"]),
            check=str(data["check"]),
            message=str(data["message"]),
            fix=str(data["fix"]),
            path=data.get("path"),
            distribution=data.get("distribution"),
            details=tuple(data.get("details", ())),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "check": self.check,
            "path": self.path,
            "distribution": self.distribution,
            "message": self.message,
            "fix": self.fix,
            "details": list(self.details),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    label: str
    target: Target
    handler: str | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "package": self.label,
            "runtime": self.target.runtime.name,
            "architecture": self.target.architecture.name,
            "handler": self.handler,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_json() for f in self.findings],
        }


def render(finding: Finding) -> str:
    """One line: severity, check, where, what, and the fix."""
    where = finding.path or ""
    if finding.distribution:
        where = f"{where} [{finding.distribution}]" if where else f"[{finding.distribution}]"
    head = f"{finding.severity} [{finding.check}] " + (f"{where}: " if where else "")
    return f"{head}{finding.message}" + (f"; fix: {finding.fix}" if finding.fix else "")


def summarize(findings: Iterable[Finding]) -> str:
    counted = list(findings)
    errors = sum(f.severity == "error" for f in counted)
    warnings = sum(f.severity == "warning" for f in counted)
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
