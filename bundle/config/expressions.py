"""Compiling and evaluating ``$`` expressions: references bound, names imported lazily, safe mode.

An expression is compiled once per distinct text (and policy) and cached. Each ``@id`` in its code
becomes a placeholder name bound to the referenced value at evaluation; string literals are left
alone, so ``"$'admin@site.org'"`` is just a string. Global names (``torch``, ``np``, names bound
by ``$import``) are looked up only when the expression uses them.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import Any, Callable, Mapping

from bundle.config import syntax
from bundle.errors import ExpressionSyntaxError, MissingDependencyError, UnsafeConfigError

DEFAULT_GLOBALS: Mapping[str, str] = {"monai": "monai", "torch": "torch", "np": "numpy", "numpy": "numpy"}
_PLACEHOLDER = "__ref_{}"


@dataclass(frozen=True)
class ImportBinding:
    """One name an import statement binds: ``name`` -> module ``module`` (or its attribute ``attr``)."""

    name: str
    module: str
    attr: str | None = None
    level: int = 0


@dataclass(frozen=True)
class Compiled:
    """A compiled expression: its code, the ids it references and the global names it uses."""

    text: str  # the source after "$"
    code: CodeType | None
    refs: tuple[str, ...]  # ids referenced, absolute, in order of first appearance
    placeholders: Mapping[str, str]  # id -> placeholder name in code
    names: frozenset[str]  # free names the code reads (besides placeholders)
    imports: tuple[ImportBinding, ...] = field(default=())

    @property
    def is_import(self) -> bool:
        return bool(self.imports)


def is_import_text(text: str) -> bool:
    """Whether an expression (without the ``$``) is an ``import``/``from ... import`` statement."""
    t = text.lstrip()
    return t.startswith("import ") or (t.startswith("from ") and " import " in t)


_cache: dict[tuple, Compiled] = {}


def compile_expression(
    value: str, at: str = "", *, policy: Any = None, bindings: Mapping[str, str] | None = None
) -> Compiled:
    """Compile a ``$...`` string written at id ``at``.

    Args:
        value: the config string, starting with ``$``.
        at: the id it is written at (relative references are resolved from there).
        policy: a ``SafePolicy`` for safe mode, or None when the config is trusted.
        bindings: in safe mode, the names the config's allowed imports bind (name -> dotted path).

    Raises:
        ExpressionSyntaxError: the text is not a Python expression or import statement.
        UnsafeConfigError: safe mode refuses something in it.
    """
    text = value[len(syntax.EXPR):]
    frozen = tuple(sorted(bindings.items())) if (policy is not None and bindings) else ()
    key = (text, at if "@:" in text or "@#" in text else "", id(policy), frozen)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    compiled = _compile(text, at, policy, dict(frozen))
    if len(_cache) > 100_000:
        _cache.clear()
    _cache[key] = compiled
    return compiled


def _compile(text: str, at: str, policy: Any, bindings: Mapping[str, str]) -> Compiled:
    if is_import_text(text):
        return _compile_import(text, policy)
    refs: list[str] = []
    placeholders: dict[str, str] = {}
    out, last = [], 0
    for start, end, written in syntax.expression_refs(text):
        rid = syntax.absolute_id(written, at)
        if rid not in placeholders:
            placeholders[rid] = _PLACEHOLDER.format(len(placeholders))
            refs.append(rid)
        out.append(text[last:start])
        out.append(placeholders[rid])
        last = end
    out.append(text[last:])
    source = "".join(out).strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise _syntax_error(text, err) from None
    names = frozenset(
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in placeholders.values()
    )
    if policy is not None:
        from bundle.config.safety import compile_safe

        try:
            code = compile_safe(
                source, ref_names=set(placeholders.values()), policy=policy, filename="<config>",
                bindings=bindings or None,
            )
        except UnsafeConfigError as err:
            # show the references as written, not the placeholders they became
            for rid, name in sorted(placeholders.items(), key=lambda kv: -len(kv[1])):
                err.message = err.message.replace(name, f"@{rid}")
            err.args = (err.message,)
            raise
    else:
        code = compile(tree, "<config>", "eval")
    return Compiled(text, code, tuple(refs), placeholders, names)


def _syntax_error(text: str, err: SyntaxError) -> ExpressionSyntaxError:
    col = err.offset or 0
    caret = f"\n    ${text.strip()}\n    {' ' * col}^" if col else f"\n    ${text.strip()}"
    return ExpressionSyntaxError(
        f"expression is not valid Python: {err.msg}{caret}",
        expression=text,
        hint="an expression after '$' must be one Python expression; references are written @id",
    )


def _compile_import(text: str, policy: Any) -> Compiled:
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as err:
        raise _syntax_error(text, err) from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Import, ast.ImportFrom)):
        raise ExpressionSyntaxError(
            "an import expression must be a single 'import ...' or 'from ... import ...' statement",
            expression=text,
        )
    if policy is not None:
        from bundle.config.safety import check_import

        check_import(text.strip(), policy)
    stmt = tree.body[0]
    bindings: list[ImportBinding] = []
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                bindings.append(ImportBinding(alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                bindings.append(ImportBinding(top, alias.name, attr=None))
    else:
        if any(a.name == "*" for a in stmt.names):
            raise ExpressionSyntaxError(
                "'from ... import *' is not supported in a config", expression=text,
                hint="import the names you use, e.g. '$from os.path import join, exists'",
            )
        for alias in stmt.names:
            bindings.append(ImportBinding(alias.asname or alias.name, stmt.module or "", alias.name, stmt.level))
    return Compiled(text, None, (), {}, frozenset(), tuple(bindings))


def run_import(binding: ImportBinding) -> Any:
    """Perform one import binding and return the bound object."""
    if binding.level:
        raise ImportError("relative imports are not supported in a config")
    if binding.attr is None:
        module = importlib.import_module(binding.module)
        if binding.name == binding.module.split(".")[0] and "." in binding.module:
            return importlib.import_module(binding.name)  # `import a.b` binds `a`
        return module
    module = importlib.import_module(binding.module)
    try:
        return getattr(module, binding.attr)
    except AttributeError:
        return importlib.import_module(f"{binding.module}.{binding.attr}")


class Namespace:
    """The global names expressions see: given objects, modules imported on first use, config imports.

    Args:
        globals: MONAI's meaning: None for the defaults (``monai``, ``torch``, ``np``, ``numpy``),
            False for none, or a dict added to the defaults (it wins on a clash), whose values are
            module names (imported when first used) or objects.
    """

    def __init__(self, globals: Mapping[str, Any] | bool | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.lazy_modules: dict[str, str] = {}
        if globals is False:
            return
        names = dict(DEFAULT_GLOBALS)
        if isinstance(globals, Mapping):
            names.update(globals)
        for name, value in names.items():
            if isinstance(value, str):
                self.lazy_modules[name] = value
            else:
                self.values[name] = value

    def lookup(self, name: str) -> tuple[bool, Any]:
        if name in self.values:
            return True, self.values[name]
        module = self.lazy_modules.get(name)
        if module is None:
            return False, None
        try:
            value = importlib.import_module(module)
        except ImportError as err:
            extra = "monai" if module.split(".")[0] == "monai" else ""
            raise MissingDependencyError(module, extra=extra, purpose=f"the name '{name}' in expressions") from err
        self.values[name] = value
        return True, value

    def bind(self, name: str, value: Any) -> None:
        self.values[name] = value


def evaluate(
    compiled: Compiled,
    refs: Mapping[str, Any],
    namespace: Namespace,
    *,
    policy: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """Evaluate a compiled (non-import) expression.

    Args:
        compiled: from ``compile_expression``.
        refs: resolved values for every id in ``compiled.refs``.
        namespace: where global names come from.
        policy: the safe policy the code was compiled under, if any.
        extra: names that take precedence over the namespace (MONAI's ``globals=``/``locals=``).
    """
    if compiled.code is None:
        raise TypeError(f"'{compiled.text}' is an import statement: it is not evaluated, its bindings are imported")
    if policy is not None:
        from bundle.config.guard import safe_globals

        env = safe_globals(policy)
    else:
        env = {"__builtins__": builtins}
    for name in compiled.names:
        if extra and name in extra:
            env[name] = extra[name]
            continue
        found, value = namespace.lookup(name)
        if found:
            env[name] = value
    for rid, placeholder in compiled.placeholders.items():
        env[placeholder] = refs[rid]
    return eval(compiled.code, env)  # noqa: S307 - the point of a '$' expression; gated by trust/safe mode


def unknown_name_hint(name: str, namespace: Namespace) -> str:
    import importlib.util

    from bundle.errors import did_you_mean

    try:
        is_module = bool(name) and importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        is_module = False
    if is_module:  # the usual slip: a module used without an import ("glob" would suggest "globals")
        return f"'{name}' is a module that is not imported: add \"$import {name}\" to the config"
    known = list(namespace.values) + list(namespace.lazy_modules) + dir(builtins)
    hint = did_you_mean(name, known)
    if hint:
        return hint
    return f"if '{name}' is a module, add an import to the config, e.g. \"$import {name}\""


ModuleLoader = Callable[[str], ModuleType]
