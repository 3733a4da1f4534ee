"""Auditing a config: every import, target and expression it would run, with positions; runs nothing.

Nothing here imports a target's module or evaluates an expression: short target names are
resolved through the locator's source index, expressions are only parsed, and each entry says
whether safe mode would allow it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bundle.config import syntax, tree
from bundle.config.expressions import is_import_text
from bundle.errors import BundleError

if TYPE_CHECKING:
    from bundle.config.engine import Config


@dataclass(frozen=True)
class AuditEntry:
    """One thing a config would execute.

    Attributes:
        kind: ``import``, ``target`` or ``expression``.
        id: the config id it is written at.
        location: ``file:line:col`` as text ("" when unknown).
        text: what is written (the target name, or the expression with its ``$``).
        resolved: for targets, the full dotted path the name resolves to ("" if it does not).
        safe: whether safe mode (with the given policy) would run it.
        reason: why safe mode refuses it, or why it cannot be resolved.
    """

    kind: str
    id: str
    location: str
    text: str
    resolved: str
    safe: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def audit_config(config: "Config", policy: Any = None) -> list[AuditEntry]:
    """List everything ``config`` would import, instantiate or evaluate, in document order.

    Args:
        config: a loaded ``Config`` (trusted or not: nothing runs either way).
        policy: the ``SafePolicy`` to judge against (default: the config's, else ``SafePolicy()``).
    """
    from bundle.config.safety import SafePolicy

    policy = policy or config.policy or SafePolicy()
    resolver = config.resolver
    entries: list[AuditEntry] = []
    for id, node in tree.walk_ids(config.expanded):
        if syntax.is_component(node):
            entries.append(_target_entry(config, resolver, id, node[syntax.TARGET_KEY], policy))
        elif syntax.is_expression(node):
            entries.append(_expression_entry(config, id, node, policy))
    return entries


def _where(config: "Config", id: str) -> str:
    loc = config.where(id)
    return str(loc) if loc else ""


def _target_entry(config: "Config", resolver: Any, id: str, target: Any, policy: Any) -> AuditEntry:
    tid = syntax.join_id(id, syntax.TARGET_KEY)
    where = _where(config, tid)
    if not isinstance(target, str) or syntax.is_expression(target) or syntax.is_reference(target):
        return AuditEntry("target", id, where, str(target), "", True,
                          "the target is computed by the expression or reference it names (audited there)")
    try:
        full = resolver.get_locator().resolve_name(target)
    except BundleError as err:
        return AuditEntry("target", id, where, target, "", False, err.message)
    safe = policy.allows_target(full)
    reason = "" if safe else "not in the safe policy's targets"
    return AuditEntry("target", id, where, target, full, safe, reason)


def _expression_entry(config: "Config", id: str, node: str, policy: Any) -> AuditEntry:
    from bundle.config.expressions import compile_expression

    kind = "import" if is_import_text(node[1:]) else "expression"
    where = _where(config, id)
    try:
        compile_expression(node, id, policy=policy)
    except BundleError as err:
        return AuditEntry(kind, id, where, node, "", False, err.message)
    except SyntaxError as err:
        return AuditEntry(kind, id, where, node, "", False, f"not valid Python: {err.msg}")
    return AuditEntry(kind, id, where, node, "", True, "")


def format_audit(entries: list[AuditEntry]) -> str:
    """A readable report: one line per entry, and a summary."""
    lines = []
    for e in entries:
        verdict = "safe" if e.safe else f"REFUSED in safe mode: {e.reason}"
        shown = e.text if e.kind != "target" or not e.resolved or e.resolved == e.text else f"{e.text} -> {e.resolved}"
        lines.append(f"{e.location or '?'}  {e.kind:<10} {e.id}: {shown}  [{verdict}]")
    counts = {k: sum(1 for e in entries if e.kind == k) for k in ("import", "target", "expression")}
    refused = sum(1 for e in entries if not e.safe)
    lines.append(
        f"{counts['import']} import(s), {counts['target']} target(s), {counts['expression']} expression(s); "
        f"{refused} refused in safe mode"
    )
    return "\n".join(lines)
