"""verify's config checks, run without running anything: every config parses; its references,
macros, ``_target_``s (located and imported, never called) and expressions (compiled, never
evaluated) are sound; and the files it names exist.

Bundles split their configs into layers (``evaluate`` on ``train``, ``multi_gpu_train`` on ``train``,
``inference_trt`` on ``inference``), so a config that uses ids it does not define is checked on the
first base that defines them (see ``choose_stack``).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.config import syntax, tree
from bundle.errors import BundleError, Location, MacroError, MissingIdError, did_you_mean
from bundle.format.report import WARNING, Problem

if TYPE_CHECKING:
    from bundle.config.engine import Config
    from bundle.format.context import Context

__all__ = ["FILE_FOLDERS", "check_configs", "check_files", "choose_stack"]

#: The bundle folders whose files a config may name; such a file must exist (see ``check_files``).
FILE_FOLDERS = ("models", "configs", "docs", "scripts", "data")

_MULTI_GPU = "multi_gpu_"


class _Examined:
    """One stack of config files, loaded and walked."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.problems: list[Problem] = []
        self.dangling = False  # uses ids the stack does not define: a layer needs a base
        self.config: Config | None = None


def check_configs(ctx: "Context") -> None:
    """Parse every config and check the stack each one is used in; fills ``ctx.stacks``."""
    from bundle.config.loader import load_file_and_text

    by_name: dict[str, list[Path]] = {}
    for path in ctx.bundle.config_files():
        if path.name != "metadata.json":
            by_name.setdefault(path.stem, []).append(path)
    for name, paths in by_name.items():
        if len(paths) > 1:
            ctx.problem("configs", f"config '{name}' exists twice: {', '.join('configs/' + p.name for p in paths)}",
                        location=Location(str(paths[1])), hint="keep one of the files (the other is never read)")
    for name, paths in sorted(by_name.items()):
        try:
            data, _ = load_file_and_text(paths[0])
        except BundleError as err:
            ctx.error("configs", err)
            continue
        if isinstance(data, dict):  # a list is data (a data list kept in configs/), not a config
            ctx.config_files[name] = paths[0]
    for name in ctx.config_files:
        examined = choose_stack(ctx, name)
        ctx.stacks[name] = examined.files
        ctx.report.extend(examined.problems)


def choose_stack(ctx: "Context", name: str, _busy: frozenset[str] = frozenset()) -> _Examined:
    """The files config ``name`` is checked with, in merge order, and what checking them found.

    Candidates, in order: the config alone; on the config its name extends (``multi_gpu_X`` on ``X``,
    ``X_suffix`` on ``X``); on ``train``; on ``inference``; on ``evaluate``. The first candidate in which
    every reference and nested-id key resolves is chosen; if none is, the one with the fewest problems
    (the earlier one on a tie).
    """
    if name in ctx.examined_names:
        return ctx.examined_names[name]
    busy = _busy | {name}
    own = ctx.config_files[name]
    candidates: list[Callable[[], list[Path] | None]] = [lambda: [own]]
    for base in _bases(name, ctx.config_files):
        def candidate(base: str = base) -> list[Path] | None:
            return None if base in busy else choose_stack(ctx, base, busy).files + [own]

        candidates.append(candidate)
    tried: list[_Examined] = []
    chosen: _Examined | None = None
    for make in candidates:
        files = make()
        if files is None:
            continue
        examined = _examine(ctx, files)
        tried.append(examined)
        if not examined.dangling:
            chosen = examined
            break
    if chosen is None:  # the config alone is always tried, so there is at least one
        chosen = min(tried, key=lambda e: len([p for p in e.problems if p.severity != WARNING]))
    if not _busy:
        ctx.examined_names[name] = chosen
    return chosen


def _bases(name: str, names: dict[str, Path]) -> list[str]:
    found: list[str] = []
    if name.startswith(_MULTI_GPU) and name[len(_MULTI_GPU):] in names:
        found.append(name[len(_MULTI_GPU):])
    parts = name.split("_")
    found += ["_".join(parts[:k]) for k in range(len(parts) - 1, 0, -1) if "_".join(parts[:k]) in names]
    found += [b for b in ("train", "inference", "evaluate") if b in names]
    return [b for b in dict.fromkeys(found) if b != name]


def _examine(ctx: "Context", files: list[Path]) -> _Examined:
    key = tuple(files)
    if key in ctx.examined_stacks:
        return ctx.examined_stacks[key]
    from bundle.config.engine import Config

    examined = ctx.examined_stacks[key] = _Examined(files)
    meta = ctx.bundle.metadata_path if ctx.metadata is not None else None
    try:
        config = Config.load(*files, meta=meta, base_dir=ctx.bundle.root, locator=ctx.locator)
        expanded = config.expanded
    except MissingIdError as err:  # a nested-id key ("train#trainer#max_epochs") of a layer
        examined.dangling = True
        examined.problems.append(ctx.as_problem("configs", err))
        return examined
    except MacroError as err:
        examined.dangling = "names id" in err.message
        examined.problems.append(ctx.as_problem("configs", err))
        return examined
    except BundleError as err:
        examined.problems.append(ctx.as_problem("configs", err))
        return examined
    examined.config = config
    with ctx.bundle.scripts():
        _walk(ctx, config, expanded, examined)
    return examined


def _walk(ctx: "Context", config: "Config", expanded: Any, examined: _Examined) -> None:
    stack: list[tuple[str, Any]] = [(k, v) for k, v in reversed(list(expanded.items())) if k != syntax.META_KEY]
    while stack:
        id, node = stack.pop()
        if isinstance(node, str):
            _check_string(ctx, config, expanded, examined, id, node)
            continue
        if syntax.is_component(node):
            if _literally_disabled(node.get(syntax.DISABLED_KEY, False)):
                continue  # never built: its target and arguments are never looked at
            _check_component(ctx, config, examined, id, node)
        if isinstance(node, (dict, list)):
            stack.extend(reversed([(syntax.join_id(id, k), v) for _, k, v in tree.items_of(node)]))


def _literally_disabled(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _problem(ctx: "Context", config: "Config", id: str, message: str, hint: str = "", **kw: Any) -> Problem:
    return ctx.make_problem("configs", message, location=config.where(id), config_id=id, hint=hint, **kw)


def _missing_ref(ctx: "Context", config: "Config", expanded: Any, examined: _Examined, id: str, ref: str) -> None:
    from bundle.config.expand import candidates_near

    examined.dangling = True
    hint = did_you_mean(ref, candidates_near(expanded, ref)) or "check the spelling, or define the id"
    examined.problems.append(_problem(ctx, config, id, f"reference '@{ref}' names no id in the config", hint))


def _check_string(ctx: "Context", config: "Config", expanded: Any, examined: _Examined, id: str, node: str) -> None:
    if syntax.is_reference(node):
        if tree.lookup(expanded, node[1:]) is tree.MISSING:
            _missing_ref(ctx, config, expanded, examined, id, node[1:])
        return
    if not syntax.is_expression(node):
        return
    from bundle.config.expressions import compile_expression

    try:
        compiled = compile_expression(node, id)
    except BundleError as err:
        examined.problems.append(ctx.as_problem("configs", err, location=config.where(id), config_id=id))
        return
    for ref in compiled.refs:
        if tree.lookup(expanded, ref) is tree.MISSING:
            _missing_ref(ctx, config, expanded, examined, id, ref)
    for binding in compiled.imports:
        top = binding.module.split(".")[0]
        if top and _spec(top) is None:
            examined.problems.append(_problem(
                ctx, config, id, f"'{node[1:].strip()}' imports '{binding.module}', which is not installed",
                f"install the package that provides '{top}' (the config fails where it uses '{binding.name}')",
                severity=WARNING,
            ))


def _spec(module: str) -> Any:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _check_component(ctx: "Context", config: "Config", examined: _Examined, id: str, node: dict) -> None:
    try:
        config.resolver.check_component(id, node)
    except BundleError as err:
        examined.problems.append(ctx.as_problem("configs", err, location=config.where(id), config_id=id))
    target = node[syntax.TARGET_KEY]
    if not isinstance(target, str) or syntax.is_expression(target) or syntax.is_reference(target):
        return  # computed: the expression or reference is checked where it is written
    tid = syntax.join_id(id, syntax.TARGET_KEY)
    try:
        obj = ctx.locator.locate(target)
    except BundleError as err:
        if target.startswith("scripts.") and not (ctx.bundle.root / "scripts").is_dir():
            err.hint = "the bundle has no scripts/ folder: add the package (scripts/__init__.py and its modules)"
        examined.problems.append(ctx.as_problem("configs", err, location=config.where(tid), config_id=tid))
        return
    except Exception as err:  # importing the target's module raised: the bundle cannot run either
        examined.problems.append(_problem(ctx, config, tid, f"importing _target_ '{target}' raised "
                                          f"{type(err).__name__}: {err}", "fix or install the module it names"))
        return
    if not callable(obj):
        examined.problems.append(_problem(ctx, config, tid, f"_target_ '{target}' is a {type(obj).__name__}, "
                                          f"which cannot be called", "a _target_ must name a class or a function"))
        return
    mode = node.get(syntax.MODE_KEY, "default")
    for message, hint, at in _argument_problems(obj, target, node, id, mode):
        examined.problems.append(_problem(ctx, config, at, message, hint))


def _argument_problems(obj: Any, target: str, node: dict, id: str, mode: Any) -> list[tuple[str, str, str]]:
    """Arguments the target does not take, and (for a plain call) required ones the config lacks."""
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # builtins and C types without a signature: nothing to compare
        return []
    kinds = inspect.Parameter
    named = [n for n, p in params.items() if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)]
    given = [str(k) for k in node if k not in syntax.NON_ARG_KEYS]
    found = []
    if not any(p.kind == kinds.VAR_KEYWORD for p in params.values()):
        for k in given:
            if k not in named:
                hint = did_you_mean(k, named) or f"its arguments are: {', '.join(named) or 'none'}"
                found.append((f"'{k}' is not an argument of {target}", hint, syntax.join_id(id, k)))
    if mode == "default":
        required = [n for n in named if params[n].default is kinds.empty and n not in given]
        if required:
            found.append((f"{target} needs the argument{'s' * (len(required) > 1)} {', '.join(map(repr, required))}, "
                          "which the config does not give", f"add {required[0]!r} to the component", id))
    return found


# --- files the configs name --------------------------------------------------------------------


def check_files(ctx: "Context") -> None:
    """Every file a config names inside the bundle must exist.

    A value names a file when it is a plain string, or an expression the safe evaluator computes
    without building any component or importing anything, and it is a path (relative to the bundle
    folder, or absolute inside it, with ``bundle_root`` set to the bundle folder) whose first folder
    is one of ``FILE_FOLDERS`` and whose name has a suffix. Files listed in the large-files manifest
    are left to the ``large_files`` check; glob patterns and folders are not checked.
    """
    listed = {f.path for f in ctx.large_files}
    seen: set[tuple[str, str]] = set()
    for files in dict.fromkeys(tuple(f) for f in ctx.stacks.values()):
        safe = _safe_config(ctx, list(files))
        if safe is None:
            continue
        for id, value, written in _named_paths(safe):
            rel = _inside(ctx.bundle.root, value)
            if rel is None or rel in listed or (ctx.bundle.root / rel).exists():
                continue
            location = safe.where(id)
            key = (str(location), rel)
            if key in seen:
                continue
            seen.add(key)
            origin = f" ({written!r} gives {value!r})" if written != value else ""
            ctx.problem("files", f"'{rel}' does not exist{origin}", location=location, config_id=id,
                        hint="ship the file in the bundle, list it in large_files.yml with its URL, or fix the path")


def _safe_config(ctx: "Context", files: list[Path]) -> "Config | None":
    from bundle.format.network import load_network_config

    meta = ctx.bundle.metadata_path if ctx.metadata is not None else None
    try:
        safe = load_network_config(files, root=ctx.bundle.root, meta=meta, trusted=False, locator=ctx.locator)
        _ = safe.expanded  # expanding is the check: it raises what is wrong
    except (BundleError, OSError):
        return None  # the configs check reports why
    return safe


def _named_paths(config: "Config") -> list[tuple[str, str, str]]:
    """(id, string value, what is written) of every plain or safely computable string."""
    found = []
    for id, node in tree.walk_ids({k: v for k, v in config.expanded.items() if k != syntax.META_KEY}):
        if not isinstance(node, str) or not node:
            continue
        if syntax.is_expression(node):
            if not _computable(config, id, node):
                continue
            try:
                value = config.resolve(id)
            except Exception:  # noqa: BLE001 - not computable safely: not a file we can name
                continue
        elif syntax.is_reference(node):
            continue
        else:
            value = node
        if isinstance(value, str) and value and not any(c in value for c in "*?[\n"):
            found.append((id, value, node))
    return found


def _computable(config: "Config", id: str, node: str) -> bool:
    """Whether an expression builds a string out of plain values only (no component, no import)."""
    from bundle.config.expressions import is_import_text

    if is_import_text(node[1:]) or not any(q in node for q in "'\""):
        return False
    todo, seen = [id], set()
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        value = config.get(cur, None)
        if syntax.is_component(value) or (syntax.is_expression(value) and is_import_text(value[1:])):
            return False
        try:
            todo.extend(config.dependencies(cur))
        except (BundleError, SyntaxError):
            return False
        if len(seen) > 200:
            return False
    return True


def _inside(root: Path, value: str) -> str | None:
    """``value`` as a bundle-relative path if it names a file in one of ``FILE_FOLDERS``, else None."""
    path = Path(os.path.normpath(value if os.path.isabs(value) else os.path.join(root, value)))
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    parts = rel.parts
    if len(parts) < 2 or parts[0] not in FILE_FOLDERS or not Path(parts[-1]).suffix:
        return None
    return rel.as_posix()
