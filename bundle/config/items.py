"""MONAI-compatible config items and ``ReferenceResolver``, as thin faces over our resolver.

``ConfigItem``, ``ConfigComponent``, ``ConfigExpression`` and ``ReferenceResolver`` keep the
constructor arguments, methods and meanings of ``monai.bundle``'s classes, so code written against
them works after changing the import. The work is done by ``bundle.config.resolver.Resolver``.
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from typing import Any, Iterator, Sequence

from bundle import settings
from bundle.config import syntax, tree
from bundle.config.expressions import Namespace, compile_expression, evaluate, is_import_text, run_import
from bundle.config.resolver import MISSING, MODES, Resolver, call_target, is_disabled_value, node_kind
from bundle.errors import InvalidConfigError, MissingIdError


class Instantiable(ABC):
    """Something that can be instantiated (MONAI's ABC)."""

    @abstractmethod
    def is_disabled(self, *args: Any, **kwargs: Any) -> bool: ...

    @abstractmethod
    def instantiate(self, *args: Any, **kwargs: Any) -> object: ...


class ConfigItem:
    """One node of a config: its id and its (possibly resolved) content."""

    def __init__(self, config: Any, id: str = "") -> None:
        self.config = config
        self.id = id

    def get_id(self) -> str:
        return self.id

    def update_config(self, config: Any) -> None:
        self.config = config

    def get_config(self) -> Any:
        return self.config

    def __repr__(self) -> str:
        return f"{type(self).__name__}: \n{self.config!r}"


class ConfigComponent(ConfigItem, Instantiable):
    """A dict with ``_target_``: instantiating it calls the target with the other keys as kwargs."""

    non_arg_keys = set(syntax.NON_ARG_KEYS)

    def __init__(self, config: Any, id: str = "", locator: Any = None, excludes: Sequence[str] | str | None = None):
        super().__init__(config=config, id=id)
        if locator is None:
            from bundle.config.locator import ComponentLocator

            locator = ComponentLocator(excludes=excludes)
        self.locator = locator

    @staticmethod
    def is_instantiable(config: Any) -> bool:
        return syntax.is_component(config)

    def resolve_module_name(self) -> Any:
        """The full dotted path of the target (or the target itself when it is not a string)."""
        target = self.get_config().get(syntax.TARGET_KEY)
        if not isinstance(target, str):
            return target
        return self.locator.resolve_name(target)

    def resolve_args(self) -> dict:
        return {k: v for k, v in self.get_config().items() if k not in self.non_arg_keys}

    def is_disabled(self) -> bool:
        return is_disabled_value(self.get_config().get(syntax.DISABLED_KEY, False))

    def instantiate(self, **kwargs: Any) -> object:
        """Call the target (``None`` when the config is not a component or is disabled)."""
        if not self.is_instantiable(self.get_config()) or self.is_disabled():
            return None
        config = self.get_config()
        mode = config.get(syntax.MODE_KEY, "default")
        if mode not in MODES:
            raise InvalidConfigError(f"_mode_ is {mode!r}; it must be one of {', '.join(MODES)}", config_id=self.id)
        target = config[syntax.TARGET_KEY]
        name = target if isinstance(target, str) else getattr(target, "__qualname__", repr(target))
        if isinstance(target, str):
            target = self.locator.locate(target)
        args = self.resolve_args()
        args.update(kwargs)
        return call_target(target, args, mode=mode, name=name, id=self.id)


class ConfigExpression(ConfigItem):
    """A ``$`` string: evaluating it runs the Python expression after the ``$``."""

    prefix = syntax.EXPR
    run_eval = True

    def __init__(self, config: Any, id: str = "", globals: dict | None = None) -> None:
        super().__init__(config=config, id=id)
        self.globals = globals if globals is not None else {}
        self._resolver: Resolver | None = None

    def evaluate(self, globals: dict | None = None, locals: dict | None = None) -> Any:
        """Evaluate the expression; references come from the resolver that made this item, or from
        ``globals["__local_refs"]`` (MONAI's convention)."""
        value = self.get_config()
        if not self.is_expression(value):
            return None
        if is_import_text(value[1:]):
            compiled = compile_expression(value, self.id)
            result = None
            for n, binding in enumerate(compiled.imports):
                obj = run_import(binding)
                self.globals[binding.name] = obj
                result = obj if n == 0 else result
            return result
        extra = dict(self.globals)
        if globals:
            conflicts = [k for k in globals if k in self.globals and globals[k] is not self.globals[k]]
            if conflicts:
                warnings.warn(f"the new global variable(s) {conflicts} conflict with existing ones", stacklevel=2)
            extra.update(globals)
        if locals:
            extra.update(locals)
        if self._resolver is not None:
            return self._resolver.evaluate_now(self.id, value, extra=extra)
        compiled = compile_expression(value, self.id)
        # kept in ``extra`` too: text already rewritten the MONAI way reads ``__local_refs['id']``
        local_refs = extra.get("__local_refs", {})
        refs = {}
        for rid in compiled.refs:
            if rid not in local_refs:
                raise MissingIdError(rid, hint="pass the referenced values as globals={'__local_refs': {...}}")
            refs[rid] = local_refs[rid]
        return evaluate(compiled, refs, Namespace(), extra=extra)

    @classmethod
    def is_expression(cls, config: Any) -> bool:
        return syntax.is_expression(config)

    @classmethod
    def is_import_statement(cls, config: Any) -> bool:
        return syntax.is_expression(config) and is_import_text(config[1:])


def make_item(config: Any, id: str, *, locator: Any = None, globals: dict | None = None) -> ConfigItem:
    """The right item class for a node (MONAI's parse makes one per node)."""
    if ConfigComponent.is_instantiable(config):
        return ConfigComponent(config, id=id, locator=locator)
    if ConfigExpression.is_expression(config):
        return ConfigExpression(config, id=id, globals=globals)
    return ConfigItem(config, id=id)


class _ItemsView(dict):
    """``resolver.items`` for a parsed config: items are made on first access, not for every node."""

    def __init__(self, owner: "ReferenceResolver") -> None:
        super().__init__()
        self._owner = owner

    def __missing__(self, id: str) -> ConfigItem:
        engine = self._owner._engine
        if engine is None:
            raise KeyError(id)
        node = engine.node(id)
        if node is MISSING:
            raise KeyError(id)
        item = make_item(node, id, locator=engine.get_locator() if syntax.is_component(node) else None)
        self[id] = item
        return item

    def __contains__(self, id: object) -> bool:
        engine = self._owner._engine
        if dict.__contains__(self, id):
            return True
        return engine is not None and isinstance(id, str) and engine.node(id) is not MISSING


class ReferenceResolver:
    """Resolves config items by id, following their references (MONAI-compatible).

    Args:
        items: ``ConfigItem`` objects to start with.
    """

    _vars = "__local_refs"
    sep = syntax.SEP
    ref = syntax.REF
    id_matcher = re.compile(r"@(?:\w*)(?:::\w*)*")
    # MONAI's switch (its default from MONAI_ALLOW_MISSING_REFERENCE, read once, as MONAI does): a missing
    # reference warns and stays its text instead of raising
    allow_missing_reference = settings.allow_missing_reference()

    def __init__(self, items: Sequence[ConfigItem] | None = None) -> None:
        # ids are stored normalized, so items added as "a#b" (MONAI's flat form) are found as "a::b"
        self.items: dict[str, ConfigItem] = {} if items is None else {self.normalize_id(i.get_id()): i for i in items}
        self._engine: Resolver | None = None
        self._engine_from_items = True

    # --- binding to a parsed config (used by ConfigParser) ------------------------------------

    def bind_resolver(self, engine: Resolver) -> None:
        """Serve a parsed config (our addition; ``ConfigParser.parse`` calls it): from now on the
        items are views of ``engine``'s tree, made when first asked for, and resolving goes
        through ``engine``."""
        self._engine = engine
        self._engine_from_items = False
        self.items = _ItemsView(self)

    def _get_engine(self) -> Resolver:
        if self._engine is None:
            items = self.items

            def lookup(id: str) -> Any:
                if id in items:
                    return items[id].get_config()
                parts = syntax.split_id(id)
                for n in range(len(parts) - 1, -1, -1):
                    anc = syntax.SEP.join(parts[:n])
                    if anc in items:
                        return tree.lookup(items[anc].get_config(), syntax.SEP.join(parts[n:]))
                return MISSING

            self._engine = Resolver({}, lookup=lookup)
            for id, item in items.items():
                self._adopt(self._engine, id, item)
        return self._engine

    @staticmethod
    def _adopt(engine: Resolver, id: str, item: ConfigItem) -> None:
        """Make a standalone item known to the engine: its top-level id (for close matches), the
        globals of an expression, the imports it binds, the locator of a component."""
        if syntax.SEP not in id:
            engine.root[id] = item.get_config()
        if isinstance(item, ConfigComponent) and engine.locator is None:
            engine.locator = item.locator
        if isinstance(item, ConfigExpression):
            for name, value in item.globals.items():
                engine.namespace.bind(name, value)
            if item.is_import_statement(item.get_config()):
                engine.add_import(id)

    # --- MONAI API ---------------------------------------------------------------------------

    @property
    def resolved_content(self) -> dict[str, Any]:
        return self._engine.cache if self._engine is not None else {}

    def reset(self) -> None:
        if self._engine_from_items:
            self.items = {}
            self._engine = None
        elif self._engine is not None:
            self._engine.reset()

    def is_resolved(self) -> bool:
        return bool(self.resolved_content)

    def add_item(self, item: ConfigItem) -> None:
        id = self.normalize_id(item.get_id())
        if id in self.items:
            return
        if not self._engine_from_items:  # a parsed config: items are views of its tree
            return
        self.items[id] = item
        if self._engine is not None:  # keep what is resolved: a new item changes no earlier result
            self._adopt(self._engine, id, item)

    def get_item(self, id: str, resolve: bool = False, **kwargs: Any) -> ConfigItem | None:
        id = self.normalize_id(id)
        if resolve and id not in self.resolved_content:
            self.get_resolved_content(id, **kwargs)
        try:
            item = self.items[id]
        except KeyError:
            return None
        engine = self._engine
        if resolve and engine is not None and id in engine.cache:  # id in self.resolved_content
            value = engine.cache[id]
            if (
                isinstance(item, ConfigComponent) and item.is_instantiable(item.get_config())
                and id not in engine.disabled
            ):
                # MONAI's resolved item: its arguments hold the resolved objects, ready to instantiate
                item = self._component_item(engine, id, item.get_config())
            elif not isinstance(item, (ConfigComponent, ConfigExpression)):
                item = ConfigItem(value, id)
        return item

    def get_resolved_content(self, id: str, **kwargs: Any) -> Any:
        """Resolve ``id``. Keyword arguments: ``instantiate`` (default True), ``eval_expr``
        (default True), ``default`` (returned when ``id`` does not exist)."""
        engine = self._get_engine()
        id = self.normalize_id(id)
        node = engine.node(id)
        if node is MISSING:
            if "default" in kwargs:
                default = kwargs["default"]
                if isinstance(default, ConfigComponent):
                    return default.instantiate()
                if isinstance(default, ConfigExpression):
                    return default.evaluate()
                if isinstance(default, ConfigItem):
                    return default.get_config()
                return default
            return engine.resolve(id)  # raises MissingIdError with close matches
        kind = node_kind(node)
        if not kwargs.get("instantiate", True) and syntax.is_component(node):
            return self._component_item(engine, id, node)
        if not kwargs.get("eval_expr", True) and syntax.is_expression(node):
            item = ConfigExpression(node, id=id, globals={})
            item._resolver = engine
            return item
        del kind
        return engine.resolve(id)

    def _component_item(self, engine: Resolver, id: str, node: dict) -> ConfigComponent:
        config = {}
        for k, v in node.items():
            cid = syntax.join_id(id, k)
            if k in (syntax.DESC_KEY, syntax.MODE_KEY) or (k == syntax.TARGET_KEY and isinstance(v, str) and v[:1] not in "@$"):
                config[k] = v
                continue
            value = engine.resolve(cid)
            if cid in engine.disabled:
                continue
            config[k] = value
        return ConfigComponent(config, id=id, locator=engine.get_locator())

    def remove_resolved_content(self, id: str) -> Any | None:
        engine = self._engine
        if engine is None:
            return None
        id = self.normalize_id(id)
        value = engine.cache.get(id)
        engine.forget(id)
        return value

    # --- MONAI's classmethods ------------------------------------------------------------------

    @classmethod
    def normalize_id(cls, id: str | int) -> str:
        return syntax.normalize_id(id)

    @classmethod
    def split_id(cls, id: str | int, last: bool = False) -> list[str]:
        if not last:
            return syntax.split_id(id)
        res = syntax.normalize_id(id).rsplit(syntax.SEP, 1)
        return ["".join(res[:-1]), res[-1]]

    @classmethod
    def iter_subconfigs(cls, id: str, config: Any) -> Iterator[tuple[str, str, Any]]:
        for k, key_id, v in tree.items_of(config):
            yield k, syntax.join_id(id, key_id), v

    @classmethod
    def match_refs_pattern(cls, value: str) -> dict[str, int]:
        """Ids referenced by a string, with counts: all ``@id`` in an expression's code, or the
        whole string when it is one reference."""
        refs: dict[str, int] = {}
        if syntax.is_expression(value):
            for _, _, written in syntax.expression_refs(value):
                rid = syntax.normalize_id(written)
                refs[rid] = refs.get(rid, 0) + 1
        elif syntax.is_reference(value):
            rid = syntax.normalize_id(value[1:])
            refs[rid] = 1
        return refs

    @classmethod
    def update_refs_pattern(cls, value: str, refs: dict) -> Any:
        """Substitute references in a string: a whole-string reference becomes the object;
        in an expression each ``@id`` becomes ``__local_refs['id']``."""
        if syntax.is_reference(value):
            rid = syntax.normalize_id(value[1:])
            if rid not in refs:
                return cls._missing_reference(rid, value)
            return refs[rid]
        if syntax.is_expression(value):
            out, last = [], 0
            for s, e, written in syntax.expression_refs(value):
                rid = syntax.normalize_id(written)
                if rid not in refs:
                    cls._missing_reference(rid, value)
                    continue
                out.append(value[last:s] + f"{cls._vars}['{rid}']")
                last = e
            out.append(value[last:])
            return "".join(out)
        return value

    @classmethod
    def _missing_reference(cls, rid: str, value: str) -> Any:
        msg = f"the referring item `@{rid}` is not defined in the config content."
        if not cls.allow_missing_reference:
            raise InvalidConfigError(msg)
        warnings.warn(msg, stacklevel=3)
        return value

    @classmethod
    def find_refs_in_config(cls, config: Any, id: str, refs: dict[str, int] | None = None) -> dict[str, int]:
        """Every id a config subtree depends on: its references, and its nested components and
        expressions (MONAI's definition)."""
        refs_ = refs or {}
        stack: list[tuple[Any, str]] = [(config, id)]
        while stack:
            node, nid = stack.pop()
            if isinstance(node, str):
                for rid, count in cls.match_refs_pattern(node).items():
                    refs_[rid] = refs_.get(rid, 0) + count
                continue
            if not isinstance(node, (dict, list)):
                continue
            kids = list(cls.iter_subconfigs(nid, node))
            for _, sub_id, v in kids:
                if (ConfigComponent.is_instantiable(v) or ConfigExpression.is_expression(v)) and sub_id not in refs_:
                    refs_[sub_id] = 1
            stack.extend((v, sub_id) for _, sub_id, v in reversed(kids))
        return refs_

    @classmethod
    def update_config_with_refs(cls, config: Any, id: str, refs: dict | None = None) -> Any:
        """A copy of ``config`` with references replaced by ``refs`` values; nested components and
        expressions are replaced by their entries in ``refs`` (disabled components dropped)."""
        refs_ = refs or {}
        if isinstance(config, str):
            return cls.update_refs_pattern(config, refs_)
        if not isinstance(config, (list, dict)):
            return config
        ret: Any = type(config)()
        for idx, sub_id, v in cls.iter_subconfigs(id, config):
            if ConfigComponent.is_instantiable(v) or ConfigExpression.is_expression(v):
                updated = refs_[sub_id]
                if ConfigComponent.is_instantiable(v) and updated is None:
                    continue
            else:
                updated = cls.update_config_with_refs(v, sub_id, refs_)
            if isinstance(ret, dict):
                ret[idx] = updated
            else:
                ret.append(updated)
        return ret

    @staticmethod
    def normalize_meta_id(config: Any) -> Any:
        """Rename the deprecated ``optional_packages_version`` key to ``required_packages_version``."""
        if isinstance(config, dict) and "optional_packages_version" in config:
            config["required_packages_version"] = config.pop("optional_packages_version")
        return config
