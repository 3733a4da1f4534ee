"""Safe mode at run time: the guard a ``compile_safe`` expression runs under, ``safe_globals`` and ``check_target``."""

from __future__ import annotations

import builtins
import functools
import inspect
import sys
import types
from types import ModuleType
from typing import Any, Callable, Mapping

from bundle.config.safety import (
    GUARD_CALL,
    GUARD_GETATTR,
    GUARD_NAMES,
    GUARD_VALUE,
    REFUSED_KEYWORDS,
    SAFE_BUILTINS,
    SAFE_MODE_HINT,
    SAFE_SETTABLE_ATTRIBUTES,
    SafePolicy,
    attribute_problem,
    is_within,
)
from bundle.errors import UnsafeConfigError

# --- what the guard refuses -------------------------------------------------------------------------

# Modules whose callables are refused wherever they turn up (matched at a dot boundary), unless the
# policy trusts them by name: processes and the OS; importing, compiling and introspecting code;
# reaching attributes by name (operator.attrgetter, string.Formatter); unpickling and loading code
# from files; files, sockets and downloads.
_REFUSED_MODULES: tuple[str, ...] = (
    "os", "subprocess", "pty", "signal", "resource", "multiprocessing", "_multiprocessing", "concurrent",
    "threading", "asyncio", "sys", "atexit", "faulthandler", "gc",
    "importlib", "pkgutil", "zipimport", "runpy", "code", "codeop", "pdb", "bdb", "inspect", "types",
    "ctypes", "cffi", "site", "trace", "operator", "string", "weakref",
    "pickle", "marshal", "shelve", "copyreg", "dill", "cloudpickle", "joblib",
    "io", "pathlib", "shutil", "tempfile", "glob", "fileinput", "zipfile", "tarfile", "sqlite3", "dbm",
    "socket", "ssl", "select", "selectors", "mmap", "fcntl", "urllib", "http", "ftplib", "smtplib",
    "xmlrpc", "webbrowser", "requests", "urllib3",
    "torch.serialization", "torch.hub", "torch.package", "torch.jit._serialization", "torch.multiprocessing",
    "torch.utils.cpp_extension", "torch.utils.collect_env", "torch.utils.model_zoo",
    "torch.utils.data.datapipes",  # its decoders unpickle file contents
    "numpy.lib.npyio", "numpy.lib.format", "numpy.ctypeslib", "numpy.f2py",
    "monai.utils.module", "monai.bundle", "monai.apps", "monai.data.torchscript_utils",
)  # fmt: skip
# C modules that stand for a refused module under another name.
_MODULE_ALIASES: Mapping[str, str] = {
    "posix": "os", "nt": "os", "posixpath": "os.path", "ntpath": "os.path", "_io": "io", "_pickle": "pickle",
    "_socket": "socket", "_posixsubprocess": "subprocess", "_thread": "threading", "_ctypes": "ctypes",
    "_operator": "operator", "_imp": "importlib", "_signal": "signal", "_string": "string", "_weakref": "weakref",
}  # fmt: skip
# Callables refused by identity: they live in modules that are otherwise fine.
_REFUSED_CALLABLES: tuple[str, ...] = (
    "torch.load", "torch.save", "torch.jit.load", "torch.jit.save",
    "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.loadtxt",
    "numpy.genfromtxt", "numpy.fromfile", "numpy.fromregex", "numpy.memmap",
    "monai.utils.run_cmd", "monai.utils.misc.run_cmd",
)  # fmt: skip
# Arguments that MONAI resolves as a dotted path and instantiates (``LoadImage(reader=...)``,
# ``SaveImage(writer=...)``, ``SlidingWindowInferer(merger_cls=...)``): they name a target too.
_LOCATING_ARGUMENTS = ("reader", "writer", "merger_cls")


# --- the runtime guard --------------------------------------------------------------------------------


def _canonical(module: str) -> str:
    """A module's name with C stand-ins mapped to what they stand for (``posix.x`` -> ``os.x``)."""
    head, _, rest = module.partition(".")
    head = _MODULE_ALIASES.get(head, head)
    return f"{head}.{rest}" if rest else head


def _module_name(module: ModuleType) -> str:
    return _canonical(getattr(module, "__name__", "") or "")


def _origin(value: Any) -> str | None:
    """The dotted module that defines a callable (C aliases mapped: ``posix`` -> ``os``)."""
    try:
        if isinstance(value, types.BuiltinFunctionType) and isinstance(value.__self__, ModuleType):
            module = value.__self__.__name__
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            module = value.__module__
        else:
            module = type(value).__module__
    except Exception:  # an object whose attributes raise: treat as unknown
        return None
    return _canonical(module) if isinstance(module, str) else None


def _resolve_loaded(path: str) -> Any:
    """The object at ``path`` if its module is already imported (never imports), else None."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None:
            obj: Any = module
            for part in parts[i:]:
                obj = getattr(obj, part, None)
            return obj
    return None


_refused_by_id: dict[int, tuple[Any, str]] = {}
_refused_seen_modules = -1


def _refused_callable(value: Any) -> str | None:
    global _refused_seen_modules
    if _refused_seen_modules != len(sys.modules):  # more modules loaded: resolve again
        for path in _REFUSED_CALLABLES:
            obj = _resolve_loaded(path)
            if obj is not None:
                _refused_by_id[id(obj)] = (obj, path)
        _refused_seen_modules = len(sys.modules)
    hit = _refused_by_id.get(id(value))
    return hit[1] if hit is not None and hit[0] is value else None


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _switches_unsafe(key: str | None, value: Any) -> bool:
    """Whether keyword ``key=value`` turns on pickle loading or remote code (``allow_pickle=True``)."""
    unsafe = REFUSED_KEYWORDS.get(key or "")
    if unsafe is None:
        return False
    try:
        return bool(value) is unsafe
    except Exception:  # no truth value (a tensor): refuse rather than guess
        return True


def _restricted_setattr(obj: Any, name: str, value: Any) -> None:
    """``setattr`` for safe mode: only the flags in ``SAFE_SETTABLE_ATTRIBUTES``, only to plain values."""
    path = f"{_module_name(obj)}.{name}" if isinstance(obj, ModuleType) else ""
    if path not in SAFE_SETTABLE_ATTRIBUTES or not isinstance(value, (bool, int, float, str, type(None))):
        raise UnsafeConfigError(
            f"safe mode refuses setattr of '{name}' on {type(obj).__name__}",
            hint="safe mode may only set: " + ", ".join(sorted(SAFE_SETTABLE_ATTRIBUTES)),
        )
    setattr(obj, name, value)


class _Named:
    """Formats as the name of a callable, looked up only when a message is built."""

    def __init__(self, func: Any) -> None:
        self.func = func

    def __str__(self) -> str:
        plain = isinstance(self.func, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType))
        return (getattr(self.func, "__qualname__", None) if plain else None) or type(self.func).__qualname__


_SAFE_BUILTIN_VALUES: dict[str, Any] = {
    name: _restricted_setattr if name == "setattr" else getattr(builtins, name) for name in SAFE_BUILTINS
}
_SAFE_BUILTIN_IDS = frozenset(id(v) for v in _SAFE_BUILTIN_VALUES.values())


class _Guard:
    """Checks, while an expression runs, what each attribute read, call and result really is."""

    def __init__(self, policy: SafePolicy) -> None:
        self.policy = policy
        self.approved: dict[int, Any] = {}  # objects released under a trusted path (kept alive)

    def danger(self, value: Any, *, steps: bool = False) -> str | None:
        """Why ``value`` may not be used, or None. ``steps`` lets modules on the way to a name pass."""
        if id(value) in self.approved or id(value) in _SAFE_BUILTIN_IDS:
            return None
        policy = self.policy
        if isinstance(value, ModuleType):
            name = _module_name(value)
            ok = policy.trusts(name) or (steps and policy.passes_through(name))
            return None if ok else f"the module '{name}'"
        if not callable(value):
            return None
        if refused := _refused_callable(value):
            return f"'{refused}'"
        if isinstance(value, functools.partial):
            return self.danger(value.func)
        if isinstance(value, types.MethodType):
            return self.danger(value.__func__)
        origin = _origin(value)
        if origin is None:
            return None
        plain = isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType))
        qualname = getattr(value, "__qualname__", None) if plain else None
        full = f"{origin}.{qualname or type(value).__qualname__}"
        if policy.trusts(full) or is_within(origin, policy.imports):
            return None
        if origin == "builtins" and isinstance(value, (type, types.BuiltinFunctionType)):
            return f"the builtin '{qualname}'"
        if is_within(origin, _REFUSED_MODULES):
            return f"'{full}'"
        return None

    def refuse(self, what: str, reason: str) -> UnsafeConfigError:
        return UnsafeConfigError(f"safe mode refused {what}: {reason}", hint=SAFE_MODE_HINT)

    def read_attribute(self, obj: Any, name: str) -> Any:
        if problem := attribute_problem(name):
            raise self.refuse(f"reading '.{name}'", problem)
        policy = self.policy
        if isinstance(obj, ModuleType):
            path = f"{_module_name(obj)}.{name}"
            if not policy.passes_through(path):
                raise self.refuse(f"'{path}'", "it is not an allowed callable or value")
            value = getattr(obj, name)
            if isinstance(value, ModuleType):
                if not policy.passes_through(_module_name(value)):
                    raise self.refuse(f"'{path}'", f"it is the module '{_module_name(value)}'")
                return value
            if policy.trusts(path):
                if callable(value):
                    self.approved[id(value)] = value
                return value
        else:
            value = getattr(obj, name)
        if reason := self.danger(value, steps=True):
            raise self.refuse(f"reading '.{name}'", f"it is {reason}")
        return value

    def call(self, func: Any, /, *args: Any, **kwargs: Any) -> Any:
        if func is _restricted_setattr:
            return func(*args, **kwargs)
        name = _Named(func)  # formatted only when a message needs it
        if reason := self.danger(func):
            raise self.refuse(f"calling '{name}'", f"it is {reason}")
        for value in (*args, *kwargs.values()):
            if reason := self.danger(value):
                raise self.refuse(f"passing {reason} to '{name}'", "it could be called from there")
        for key, value in kwargs.items():
            if _switches_unsafe(key, value):
                raise self.refuse(f"'{key}={value!r}' for '{name}'", "it loads pickles or remote code")
        for located in self.located_paths(func, args, kwargs):
            if not self.policy.allows_target(located):
                raise self.refuse(f"'{located}' for '{name}'", "it is resolved and instantiated as a _target_")
        result = func(*args, **kwargs)
        if reason := self.danger(result):
            raise self.refuse(f"the result of '{name}'", f"it is {reason}")
        return result

    @staticmethod
    def located_paths(func: Any, args: tuple, kwargs: Mapping[str, Any]) -> list[str]:
        """Dotted paths given to arguments MONAI resolves and instantiates (``reader=...``)."""
        values = [kwargs[k] for k in _LOCATING_ARGUMENTS if k in kwargs]
        # positional strings: bind them by name, for MONAI classes only (the only ones that locate)
        from_monai = isinstance(func, type) and (_origin(func) or "").startswith("monai.")
        if from_monai and any(isinstance(a, str) for a in args):
            sig = _signature(func)
            if sig is not None:
                try:
                    bound = sig.bind_partial(*args).arguments
                except TypeError:
                    bound = {}
                values += [bound[k] for k in _LOCATING_ARGUMENTS if k in bound]
        paths = []
        for value in values:
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, str) and "." in item:
                    paths.append(item)
        return paths

    def internal_import(self, name: str, globals=None, locals=None, fromlist=(), level: int = 0) -> Any:  # noqa: A002
        """``__import__`` for C code called from an expression.

        ``PyImport_Import`` looks ``__import__`` up in the calling frame's builtins, and torch imports
        lazily from C. Source cannot name it; it only imports modules that are loaded already or
        belong to a package the policy reaches.
        """
        top = name.partition(".")[0]
        policy = self.policy
        packages = {path.partition(".")[0] for path in (*policy.callables, *policy.imports, *policy.targets)}
        if level or (name not in sys.modules and top not in packages):
            raise self.refuse(f"importing '{name}'", "safe expressions cannot import modules")
        return builtins.__import__(name, globals, locals, fromlist, level)

    def check_value(self, value: Any) -> Any:
        if reason := self.danger(value):
            raise self.refuse("the value", f"it is {reason}")
        return value


@functools.lru_cache(maxsize=64)
def _guard(policy: SafePolicy) -> _Guard:
    return _Guard(policy)


def safe_globals(policy: SafePolicy, modules: Mapping[str, ModuleType] = {}) -> dict:  # noqa: B006 - read only
    """Globals to ``eval`` a ``compile_safe`` expression with.

    Args:
        policy: the policy the expression was compiled under.
        modules: the module roots and ``$import`` bindings, name -> object (e.g. ``{"np": numpy}``).

    Returns:
        A new dict: restricted ``__builtins__``, the runtime guard, and ``modules``. The caller adds
        the reference placeholders.
    """
    clash = [name for name in modules if name in GUARD_NAMES or name == "__builtins__"]
    if clash:
        raise ValueError(f"module names may not be {clash}")
    guard = _guard(policy)
    env: dict[str, Any] = {
        "__builtins__": {**_SAFE_BUILTIN_VALUES, "__import__": guard.internal_import},
        GUARD_GETATTR: guard.read_attribute,
        GUARD_CALL: guard.call,
        GUARD_VALUE: guard.check_value,
    }
    env.update(modules)
    return env


def check_target(
    full_path: str, target: Any, policy: SafePolicy, arguments: Mapping[str, Any] | None = None
) -> None:
    """Check a ``_target_`` after it was resolved, and the arguments it will get.

    ``allows_target`` reads the path only; attribute chains can leave the allowed package
    (``torch.nn.functional.torch.load``). Here the object must be a class or function defined
    under an allowed target prefix (or a harmless re-export from the same package), and no
    argument may switch on pickle loading or name another class to instantiate outside the policy.

    Raises:
        UnsafeConfigError: listing every problem.
    """
    problems: list[str] = []
    guard = _guard(policy)
    if not policy.allows_target(full_path):
        problems.append(f"'{full_path}' is not under the policy's targets")
    elif isinstance(target, ModuleType):
        problems.append(f"'{full_path}' is a module")
    elif not isinstance(target, (type, types.FunctionType, types.BuiltinFunctionType)):
        problems.append(f"'{full_path}' is not a class or function")
    else:
        origin = _origin(target) or ""
        same_package = origin.split(".")[0] == full_path.split(".")[0]
        if reason := guard.danger(target):
            problems.append(f"'{full_path}' is {reason}")
        elif not (policy.allows_target(origin) or policy.trusts(origin) or same_package):
            problems.append(f"'{full_path}' is defined in '{origin}', outside the policy's targets")
    for key, value in (arguments or {}).items():
        if _switches_unsafe(key, value):
            problems.append(f"argument '{key}={value!r}' loads pickles or remote code")
        elif reason := guard.danger(value):
            problems.append(f"argument '{key}' is {reason}")
    for located in _Guard.located_paths(target, (), arguments or {}):
        if not policy.allows_target(located):
            problems.append(f"argument naming '{located}', which would be instantiated too")
    if problems:
        listing = "; ".join(problems)
        raise UnsafeConfigError(
            f"safe mode refuses the _target_ '{full_path}': {listing}",
            hint="trust the bundle if you know its code, or add the namespace to the policy's targets",
        )
