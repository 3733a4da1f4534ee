"""Turning an expanded config into objects: the dependency graph, walked lazily and iteratively.

Resolving an id resolves exactly what it depends on (its children, the ids it references, the
config imports its expressions use), each once: results are memoized, so the total cost is
linear in the size of what is resolved. The walk uses an explicit stack, so a chain of 100,000
references needs no recursion; a cycle is reported with its full path and where each link is.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, Iterable

from bundle.config import syntax, tree
from bundle.config.expressions import Compiled, Namespace, compile_expression, evaluate, run_import, unknown_name_hint
from bundle.config.sources import Sources
from bundle.errors import (
    BundleError,
    CircularReferenceError,
    ExpressionError,
    InstantiationError,
    InvalidConfigError,
    Location,
    MissingIdError,
    MissingReferenceError,
    UnsafeConfigError,
    did_you_mean,
)

MISSING = tree.MISSING
MODES = ("default", "callable", "debug")

# node kinds
_PLAIN, _REF, _EXPR, _IMPORT, _CONTAINER, _COMPONENT = range(6)


def node_kind(node: Any) -> int:
    if isinstance(node, dict):
        return _COMPONENT if syntax.TARGET_KEY in node else _CONTAINER
    if isinstance(node, list):
        return _CONTAINER
    if isinstance(node, str) and node:
        if node[0] == syntax.REF:
            return _REF
        if node[0] == syntax.EXPR:
            return _EXPR
    return _PLAIN


def is_disabled_value(value: Any) -> bool:
    """MONAI's rule: strings are true only when they read ``true``; anything else by ``bool()``."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class _Frame:
    __slots__ = ("id", "node", "kind", "deps", "next", "phase", "compiled")

    def __init__(self, id: str, node: Any, kind: int) -> None:
        self.id = id
        self.node = node
        self.kind = kind
        self.deps: list[str] = []
        self.next = 0
        self.phase = 0
        self.compiled: Compiled | None = None


class Resolver:
    """Resolves ids of one expanded config tree.

    Args:
        root: the expanded config (after macros and relative ids).
        sources: where ids are written, for messages.
        locator: finds ``_target_`` callables (``ComponentLocator``).
        namespace: global names for expressions.
        policy: a ``SafePolicy`` in safe mode, None when trusted.
        import_ids: ids of every ``$import`` expression (they bind names for all expressions).
        lookup: how to find the node of an id (default: walk ``root``).

    ``allow_missing_reference`` (a callable, asked when a reference is missing; default: never) is
    MONAI's switch: a reference to an id that does not exist warns and stays the text it is
    (``"@x"``), inside an expression too, instead of raising ``MissingReferenceError``.
    """

    def __init__(
        self,
        root: Any,
        *,
        sources: Sources | None = None,
        locator: Any = None,
        namespace: Namespace | None = None,
        policy: Any = None,
        import_ids: Iterable[str] = (),
        lookup: Callable[[str], Any] | None = None,
    ) -> None:
        self.root = root
        self.sources = sources or Sources()
        self.locator = locator
        self.namespace = namespace or Namespace()
        self.policy = policy
        self.cache: dict[str, Any] = {}
        self.disabled: set[str] = set()
        self._lookup = lookup or (lambda id: tree.lookup(self.root, id))
        self._import_ids = list(import_ids)
        self._provides: dict[str, str] | None = None
        self._bindings: dict[str, str] | None = None
        self.allow_missing_reference: Callable[[], bool] = lambda: False

    # --- public ------------------------------------------------------------------------------

    def node(self, id: str) -> Any:
        return self._lookup(id)

    def where(self, id: str) -> Location | None:
        return self.sources.where(id)

    def resolve(self, id: str = "") -> Any:
        """The object ``id`` stands for, resolving what it needs first.

        Raises:
            MissingIdError: ``id`` is not in the config.
            ConfigError: anything wrong on the way (each error names its id and position).
        """
        id = syntax.normalize_id(id)
        if id in self.cache:
            return self.cache[id]
        node = self._lookup(id)
        if node is MISSING:
            from bundle.config.expand import candidates_near

            raise MissingIdError(id, candidates=candidates_near(self.root, id))
        kind = node_kind(node)
        if kind == _PLAIN:
            return node
        self._run(id, node, kind)
        return self.cache[id]

    def forget(self, id: str) -> None:
        """Drop the memoized result of ``id`` so that the next resolve runs it again."""
        id = syntax.normalize_id(id)
        self.cache.pop(id, None)
        self.disabled.discard(id)

    def reset(self) -> None:
        self.cache.clear()
        self.disabled.clear()

    def add_import(self, id: str) -> None:
        """Register one more ``$import`` expression: the names it binds become visible to every expression."""
        self._import_ids.append(id)
        self._provides = None
        self._bindings = None

    def get_locator(self) -> Any:
        """The ``ComponentLocator`` that finds ``_target_`` names: the one given, else a default one
        made on first use (and kept in ``self.locator``)."""
        if self.locator is None:
            from bundle.config.locator import ComponentLocator

            self.locator = ComponentLocator()
        return self.locator

    def _safe_bindings(self) -> dict[str, str] | None:
        """In safe mode: the names bound by the config's imports that the policy allows."""
        if self.policy is None or not self._import_ids:
            return None
        if self._bindings is None:
            from bundle.config.safety import import_bindings

            bindings: dict[str, str] = {}
            for iid in self._import_ids:
                node = self._lookup(iid)
                if not isinstance(node, str):
                    continue
                try:
                    compile_expression(node, iid, policy=self.policy)
                except BundleError:
                    continue  # refused: it is reported where it is written, when resolved
                bindings.update(import_bindings(node[1:].strip()))
            self._bindings = bindings
        return self._bindings

    def compiled(self, id: str, node: str) -> Compiled:
        try:
            return compile_expression(node, id, policy=self.policy, bindings=self._safe_bindings())
        except BundleError as err:
            raise self._located(err, id) from None

    def locate_target(self, id: str, target: Any) -> Any:
        """The callable a component's ``_target_`` names (safe mode checks it first)."""
        if not isinstance(target, str):
            return target
        locator = self.get_locator()
        tid = syntax.join_id(id, syntax.TARGET_KEY)
        try:
            if self.policy is not None:
                full = locator.resolve_name(target)
                if not self.policy.allows_target(full):
                    raise UnsafeConfigError(
                        f"safe mode does not allow the _target_ '{full}'",
                        hint="trust the bundle (drop --safe / trusted=False) if you know this code, "
                        "or add the namespace to the safe policy's targets",
                    )
            return locator.locate(target)
        except BundleError as err:
            raise self._located(err, tid) from None

    def _check_target(self, id: str, written: str, target: Any, kwargs: dict) -> None:
        """Safe mode, after locating: the object itself and its arguments (a dotted path can
        leave an allowed package, e.g. ``torch.nn.functional.torch.load``)."""
        from bundle.config.guard import check_target

        try:
            check_target(self.get_locator().resolve_name(written), target, self.policy, kwargs)
        except BundleError as err:
            raise self._located(err, syntax.join_id(id, syntax.TARGET_KEY)) from None

    # --- the walk ----------------------------------------------------------------------------

    def _run(self, id: str, node: Any, kind: int) -> None:
        stack: list[_Frame] = [self._frame(id, node, kind)]
        on_stack: dict[str, int] = {id: 0}
        while stack:
            frame = stack[-1]
            pushed = False
            while frame.next < len(frame.deps):
                dep = frame.deps[frame.next]
                frame.next += 1
                if dep in self.cache:
                    continue
                if dep in on_stack:
                    self._cycle(stack, on_stack[dep], dep)
                dep_node = self._lookup(dep)
                if dep_node is MISSING:
                    self._missing(frame, dep)  # raises, unless missing references are allowed
                    continue
                dep_kind = node_kind(dep_node)
                if dep_kind == _PLAIN:
                    continue
                on_stack[dep] = len(stack)
                stack.append(self._frame(dep, dep_node, dep_kind))
                pushed = True
                break
            if pushed:
                continue
            if self._finish(frame):
                stack.pop()
                del on_stack[frame.id]

    def _frame(self, id: str, node: Any, kind: int) -> _Frame:
        frame = _Frame(id, node, kind)
        if kind == _REF:
            frame.deps = [node[1:]]
        elif kind == _EXPR:
            compiled = frame.compiled = self.compiled(id, node)
            if compiled.is_import:
                frame.kind = _IMPORT
            else:
                frame.deps = list(compiled.refs) + self._imports_for(compiled.names)
        elif kind == _CONTAINER:
            frame.deps = [syntax.join_id(id, k) for _, k, v in tree.items_of(node) if node_kind(v) != _PLAIN]
        elif kind == _COMPONENT:
            disabled = node.get(syntax.DISABLED_KEY, False)
            if node_kind(disabled) != _PLAIN:
                frame.deps = [syntax.join_id(id, syntax.DISABLED_KEY)]
        return frame

    def dependencies(self, id: str, node: Any) -> list[str]:
        """The ids that ``node`` (the node at ``id``) needs directly: the id a reference names, the ids
        and config imports an expression uses, the children of a container or component that are
        not plain values. Nothing is resolved."""
        kind = node_kind(node)
        if kind == _REF:
            return [node[1:]]
        if kind == _EXPR:
            compiled = self.compiled(id, node)
            return list(compiled.refs) + self._imports_for(compiled.names)
        if kind in (_CONTAINER, _COMPONENT):
            return [syntax.join_id(id, k) for _, k, v in tree.items_of(node) if node_kind(v) != _PLAIN]
        return []

    def _value(self, id: str, node: Any) -> Any:
        return node if node_kind(node) == _PLAIN else self.cache[id]

    def _finish(self, frame: _Frame) -> bool:
        """Build the frame's value once its dependencies are resolved; False if it needs more."""
        id, node, kind = frame.id, frame.node, frame.kind
        if kind == _REF:
            dep = frame.deps[0]
            value = self.cache[dep] if dep in self.cache else self._lookup(dep)
            self.cache[id] = node if value is MISSING else value  # a missing reference, allowed: its text
        elif kind in (_EXPR, _IMPORT):
            assert frame.compiled is not None  # _frame compiles every expression and import
            run = self._evaluate if kind == _EXPR else self._import
            self.cache[id] = run(id, frame.compiled)
        elif kind == _CONTAINER:
            self.cache[id] = self._assemble(id, node)
        else:
            return self._component(frame)
        return True

    def _assemble(self, id: str, node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                cid = syntax.join_id(id, k)
                if cid in self.disabled:
                    continue
                out[k] = self._value(cid, v)
            return out
        items = []
        for i, v in enumerate(node):
            cid = syntax.join_id(id, i)
            if cid in self.disabled:
                continue
            items.append(self._value(cid, v))
        return items

    def _component(self, frame: _Frame) -> bool:
        id, node = frame.id, frame.node
        if frame.phase == 0:
            did = syntax.join_id(id, syntax.DISABLED_KEY)
            flag = self._value(did, node.get(syntax.DISABLED_KEY, False))
            if is_disabled_value(flag):
                self.cache[id] = None
                self.disabled.add(id)
                return True
            frame.phase = 1
            self.check_component(id, node)
            deps = []
            for key in (syntax.REQUIRES_KEY, syntax.TARGET_KEY):
                if key in node and node_kind(node[key]) != _PLAIN:
                    deps.append(syntax.join_id(id, key))
            deps += [
                syntax.join_id(id, k) for k, v in node.items()
                if k not in syntax.NON_ARG_KEYS and node_kind(v) != _PLAIN
            ]
            frame.deps, frame.next = deps, 0
            return False
        self.cache[id] = self.instantiate(id, node)
        return True

    def arguments(self, id: str, node: dict) -> dict[str, Any]:
        """A component's keyword arguments, resolved (disabled components among them dropped)."""
        kwargs = {}
        for k, v in node.items():
            if k in syntax.NON_ARG_KEYS:
                continue
            cid = syntax.join_id(id, k)
            if cid in self.disabled:
                continue
            kwargs[k] = self._value(cid, v)
        return kwargs

    def instantiate(self, id: str, node: dict, **override: Any) -> Any:
        """Call a component's target with its resolved arguments (its dependencies must be resolved)."""
        target_raw = node[syntax.TARGET_KEY]
        target = self.locate_target(id, self._value(syntax.join_id(id, syntax.TARGET_KEY), target_raw))
        kwargs = self.arguments(id, node)
        kwargs.update(override)
        if self.policy is not None and isinstance(target_raw, str) and not syntax.is_expression(target_raw):
            self._check_target(id, target_raw, target, kwargs)
        name = target_raw if isinstance(target_raw, str) else getattr(target, "__qualname__", repr(target))
        return call_target(
            target, kwargs, mode=node.get(syntax.MODE_KEY, "default"), name=name, id=id,
            location=self.where(id), target_location=self.where(syntax.join_id(id, syntax.TARGET_KEY)),
        )

    def check_component(self, id: str, node: dict) -> None:
        """Check a component's reserved keys before anything is resolved: ``_mode_`` is a known mode,
        ``_requires_`` holds references, expressions or components, ``_target_`` is not empty.

        Raises:
            InvalidConfigError: the first problem found, with its id and position.
        """
        mode = node.get(syntax.MODE_KEY, "default")
        if mode not in MODES:
            raise InvalidConfigError(
                f"_mode_ is {mode!r}; it must be one of {', '.join(MODES)}",
                location=self.where(syntax.join_id(id, syntax.MODE_KEY)), config_id=id,
                hint=did_you_mean(str(mode), MODES) or "'default' calls the target, 'callable' returns a partial",
            )
        if syntax.REQUIRES_KEY in node:
            req = node[syntax.REQUIRES_KEY]
            items = req if isinstance(req, list) else [req]
            for n, item in enumerate(items):
                if node_kind(item) in (_PLAIN, _CONTAINER) and not syntax.is_component(item):
                    rid = syntax.join_id(id, syntax.REQUIRES_KEY)
                    raise InvalidConfigError(
                        f"_requires_ holds {item!r}; it must be '@id', '$expression', a component, or a list of them",
                        location=self.where(syntax.join_id(rid, n) if isinstance(req, list) else rid),
                        config_id=id, hint="write a reference, e.g. \"_requires_\": \"@initialize\"",
                    )
        target = node[syntax.TARGET_KEY]
        if isinstance(target, str) and node_kind(target) == _PLAIN and not target.strip():
            raise InvalidConfigError(
                "_target_ is empty", location=self.where(syntax.join_id(id, syntax.TARGET_KEY)), config_id=id
            )

    # --- expressions -------------------------------------------------------------------------

    def _provider_map(self) -> dict[str, str]:
        if self._provides is None:
            provides: dict[str, str] = {}
            for iid in self._import_ids:
                node = self._lookup(iid)
                if not isinstance(node, str):
                    continue
                compiled = self.compiled(iid, node)
                for binding in compiled.imports:
                    provides[binding.name] = iid
            self._provides = provides
        return self._provides

    def _imports_for(self, names: Iterable[str]) -> list[str]:
        if not self._import_ids:
            return []
        provides = self._provider_map()
        return [provides[n] for n in names if n in provides and n not in self.namespace.values]

    def _import(self, id: str, compiled: Compiled) -> Any:
        value = None
        for n, binding in enumerate(compiled.imports):
            try:
                obj = run_import(binding)
            except ModuleNotFoundError as err:
                if not _is_missing(err, binding.module):
                    raise self._import_error(id, compiled, binding, err) from err
                # MONAI's meaning: an import of a package that is not installed fails only when
                # the config uses it (bundles list imports that one workflow never needs)
                obj = MissingModule(binding.module, compiled.text.strip(), lambda: self.where(id) or id)
            except ImportError as err:
                raise self._import_error(id, compiled, binding, err) from err
            self.namespace.bind(binding.name, obj)
            if n == 0:
                value = obj
        return value

    def _import_error(self, id: str, compiled: Compiled, binding: Any, err: ImportError) -> ExpressionError:
        return ExpressionError(
            f"'{compiled.text.strip()}' failed: {err}", expression=compiled.text,
            location=self.where(id), config_id=id, hint=f"install the package that provides '{binding.module}'",
        )

    def _evaluate(self, id: str, compiled: Compiled, extra: dict | None = None) -> Any:
        refs = {rid: self.cache[rid] if rid in self.cache else self._lookup(rid) for rid in compiled.refs}
        for rid, value in refs.items():
            if value is MISSING:  # a missing reference, allowed: its text, as MONAI leaves it
                refs[rid] = syntax.REF + rid
        try:
            return evaluate(compiled, refs, self.namespace, policy=self.policy, extra=extra)
        except BundleError as err:
            raise self._located(err, id) from None
        except NameError as err:
            name = getattr(err, "name", None) or ""
            raise ExpressionError(
                f"expression '${compiled.text.strip()}' uses the unknown name '{name}'",
                expression=compiled.text, location=self.where(id), config_id=id,
                hint=unknown_name_hint(name, self.namespace),
            ) from err
        except Exception as err:
            raise ExpressionError(
                f"expression '${compiled.text.strip()}' raised {type(err).__name__}: {err}",
                expression=compiled.text, location=self.where(id), config_id=id,
                hint="check the values it references; set BUNDLE_DEBUG=1 for the full traceback",
            ) from err

    def evaluate_now(self, id: str, node: str, extra: dict | None = None) -> Any:
        """Evaluate the expression at ``id`` (dependencies resolved first), without memoizing."""
        compiled = self.compiled(id, node)
        if compiled.is_import:
            return self._import(id, compiled)
        for dep in list(compiled.refs) + self._imports_for(compiled.names):
            self.resolve(dep) if self._lookup(dep) is not MISSING else self._missing(_Frame(id, node, _EXPR), dep)
        return self._evaluate(id, compiled, extra)

    # --- errors ------------------------------------------------------------------------------

    def _located(self, err: BundleError, id: str) -> BundleError:
        if err.config_id is None:
            err.config_id = id
        if err.location is None:
            err.location = self.where(id)
        return err

    def _missing(self, frame: _Frame, dep: str) -> None:
        from bundle.config.expand import candidates_near

        if frame.kind == _COMPONENT or frame.kind == _CONTAINER:  # a child vanished: internal
            raise MissingIdError(dep)
        err = MissingReferenceError(
            dep, candidates=candidates_near(self.root, dep), location=self.where(frame.id), config_id=frame.id
        )
        if not self.allow_missing_reference():
            raise err
        where = f"{err.location}: " if err.location else ""
        warnings.warn(f"the referring item `@{dep}` is not defined in the config content ({where}config id "
                      f"'{frame.id}'); it stays the text '@{dep}' (allow_missing_reference)", stacklevel=2)

    def _cycle(self, stack: list[_Frame], start: int, again: str) -> None:
        ids = [f.id for f in stack[start:]] + [again]
        links = []
        for f in stack[start:]:
            loc = self.where(f.id)
            links.append(f"{f.id}" + (f"  ({loc})" if loc else "") + f": {_describe(f.node)}")
        raise CircularReferenceError(ids, links=links, location=self.where(stack[start].id), config_id=stack[start].id)


def _is_missing(err: ModuleNotFoundError, module: str) -> bool:
    """Whether ``err`` says ``module`` (or a parent package of it) is not installed."""
    name = err.name or ""
    return module == name or module.startswith(name + ".")


class MissingModule:
    """Stands for a module a config imports that is not installed; using it raises
    ``MissingDependencyError`` naming the module and where the import is written."""

    def __init__(self, module: str, statement: str, where: Callable[[], Any]) -> None:
        self._module = module
        self._statement = statement
        self._where = where  # computed only if the module is used

    def _fail(self) -> None:
        from bundle.errors import MissingDependencyError

        purpose = f"the config's import '${self._statement}' ({self._where()})"
        raise MissingDependencyError(self._module.split(".")[0], purpose=purpose)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._fail()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._fail()

    def __repr__(self) -> str:
        return f"<missing module '{self._module}'>"


def call_target(
    target: Any,
    kwargs: dict,
    *,
    mode: str = "default",
    name: str = "",
    id: str = "",
    location: Location | None = None,
    target_location: Location | None = None,
) -> Any:
    """Call a component's target as its ``_mode_`` says, turning failures into ``InstantiationError``."""
    if not callable(target):
        raise InvalidConfigError(
            f"_target_ '{name}' is a {type(target).__name__}, which cannot be called",
            location=target_location, config_id=id, hint="a _target_ must name a class or a function",
        )
    try:
        if mode == "callable":
            return functools.partial(target, **kwargs) if kwargs else target
        if mode == "debug":
            import pdb

            return pdb.runcall(target, **kwargs)
        return target(**kwargs)
    except BundleError:
        raise
    except Exception as err:
        raise InstantiationError(
            f"calling {name}({', '.join(kwargs)}) raised {type(err).__name__}: {err}",
            target=name, location=location, config_id=id, hint=_instantiation_hint(target, kwargs, err),
        ) from err


def _describe(node: Any) -> str:
    if isinstance(node, str):
        return repr(node if len(node) < 60 else node[:57] + "...")
    if isinstance(node, dict):
        return f"component {node[syntax.TARGET_KEY]!r}" if syntax.TARGET_KEY in node else "dict"
    return type(node).__name__


def _instantiation_hint(target: Any, kwargs: dict, err: Exception) -> str:
    if isinstance(err, TypeError) and "unexpected keyword" in str(err):
        try:
            params = list(inspect.signature(target).parameters)
        except (TypeError, ValueError):
            params = []
        bad = [k for k in kwargs if params and k not in params]
        if bad:
            hint = did_you_mean(bad[0], params)
            return f"'{bad[0]}' is not an argument of the target" + (f"; {hint}" if hint else "")
    return "set \"_mode_\": \"debug\" on the component to step into the call, or BUNDLE_DEBUG=1 for the traceback"

