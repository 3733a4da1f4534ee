"""Safe mode: what an untrusted bundle's ``$`` expressions, ``$import`` lines and ``_target_`` names may run.

A bundle downloaded from someone else is code. In safe mode nothing runs outside an allowlist:

* ``compile_safe`` checks an expression's syntax tree against a small subset of Python (no
  statements, no walrus, no private attributes, only known names) and compiles it with every
  attribute read, every call, every lambda result and the final value routed through a runtime
  guard, which checks again what the static check could not know (what a reference really is).
* ``check_import`` lets ``$import`` bind only modules the policy lists, or modules that lead to
  nothing but names expressions may use anyway (``import torch.distributed as dist``).
* ``SafePolicy.allows_target`` and ``check_target`` decide which ``_target_`` may be instantiated.

Safe mode stops code *execution*: shelling out, importing, unpickling, reaching ``builtins``
through introspection. It does not sandbox what allowlisted components do with paths a config
gives them (a ``CheckpointSaver`` writes where it is told; a dataset reads the files it lists),
nor resource use (``10 ** 10 ** 10``). Values the guard cannot see are not checked: the items of
a container are not walked, so a dangerous function that already sits in a list reachable from a
reference can be handed on, though not called or passed to a call by the expression itself.

This module holds the policy, the static check and the ``$import`` check. The runtime guard,
``safe_globals`` and ``check_target`` live in ``bundle.config.guard``, which imports this module
(never the other way round).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from types import CodeType
from typing import Collection, Iterable, Mapping, Sequence

from bundle.errors import UnsafeConfigError, did_you_mean

# --- the default allowlists ---------------------------------------------------------------------

#: Dotted prefixes a ``_target_`` may start with: the component libraries bundles are built from.
#: Not in: ``monai.utils`` (``optional_import``/``instantiate`` import and build anything by name,
#: ``run_cmd`` runs processes), ``monai.bundle`` (downloads bundles and runs their configs, unsafe
#: ones included), ``monai.apps`` (download helpers; datasets that download), ``monai.auto3dseg``
#: (runs algorithm scripts). Add trusted names with ``SafePolicy().extended(targets=...)``.
DEFAULT_SAFE_TARGETS: tuple[str, ...] = (
    "torch.nn",
    "torch.optim",
    "torch.utils.data",  # Dataset/DataLoader/samplers/Subset: build values, load no code
    "bundle.components",
    "monai.networks",
    "monai.transforms",
    "monai.losses",
    "monai.metrics",
    "monai.inferers",
    "monai.engines",
    "monai.handlers",
    "monai.data",
    "monai.optimizers",
)

_TORCH_DTYPES = (
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "complex64", "complex128",
    "int8", "int16", "int32", "int64", "uint8", "long", "int", "short", "bool",
)  # fmt: skip
_TORCH_VALUES = (
    # devices, types and process state that is read, or set without reaching outside the process
    "device", "dtype", "Tensor", "Size", "cuda.is_available", "cuda.device_count", "cuda.current_device",
    "cuda.set_device", "cuda.empty_cache", "backends.mps.is_available",
    "get_num_threads", "set_num_threads",  # intra-op threads: speed and bit-for-bit reproducibility
    "distributed.is_available", "distributed.is_initialized", "distributed.get_rank",
    "distributed.get_world_size",
    # building tensors and pure tensor math (lambdas in post-processing use these)
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
    "zeros_like", "ones_like", "full_like", "rand", "randn", "randint", "cat", "stack", "where",
    "argmax", "argmin", "max", "min", "sum", "mean", "clamp", "abs", "exp", "log", "sqrt", "sigmoid",
    "softmax", "flatten", "squeeze", "unsqueeze", "no_grad", "inference_mode", "set_grad_enabled",
)  # fmt: skip
_NUMPY_VALUES = (
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool_",
    "ndarray", "dtype", "pi", "e", "inf", "nan", "array", "asarray", "zeros", "ones", "full", "arange",
    "linspace", "concatenate", "stack", "where", "clip", "argmax", "argmin", "abs", "sum", "mean",
)  # fmt: skip

#: Dotted names of module-level callables and values expressions may use, besides anything under
#: ``DEFAULT_SAFE_TARGETS`` (calling a class in an expression is no more than naming it as a
#: ``_target_``). Chosen from what the MONAI model zoo's configs use, keeping what only reads state
#: or builds values. Left out on purpose: ``torch.load``/``torch.jit.load``/``numpy.load`` (unpickle
#: or load code), ``torch.save``/``numpy.save*``/``tofile`` (write files), ``torch.hub.*`` (downloads
#: and runs code), ``torch.distributed.init_process_group`` (opens network connections to an address
#: from the environment), ``os.*`` (environment, files, processes), ``glob.glob`` (lists
#: directories; trust it with ``imports=("glob",)``).
DEFAULT_SAFE_CALLABLES: tuple[str, ...] = (
    *(f"torch.{name}" for name in _TORCH_DTYPES + _TORCH_VALUES),
    *(f"numpy.{name}" for name in _NUMPY_VALUES),
    "monai.utils.set_determinism",  # seeds the random generators
    "monai.utils.InterpolateMode",  # the enums below are plain string constants
    "monai.utils.GridSampleMode",
    "monai.utils.GridSamplePadMode",
    "monai.utils.BlendMode",
    "monai.utils.CommonKeys",
)

#: How expressions spell the module roots they may use: name -> dotted module.
DEFAULT_MODULE_ROOTS: Mapping[str, str] = {"torch": "torch", "np": "numpy", "numpy": "numpy", "monai": "monai"}

#: The builtins a safe expression sees. Left out: everything that reaches attributes by a computed
#: name (``getattr``, ``hasattr``: it runs properties and probes private names, ``vars``, ``dir``,
#: ``format``), runs or compiles code (``eval``, ``exec``, ``compile``, ``__import__``,
#: ``breakpoint``), touches files or the terminal (``open``, ``input``, ``help``, ``exit``,
#: ``quit``), hands out namespaces (``globals``, ``locals``), builds classes or reaches the class
#: tree (``type``, ``object``, ``super``, ``classmethod``, ``staticmethod``, ``property``),
#: reads raw memory (``memoryview``) or leaks addresses (``id``). ``setattr`` is a restricted
#: stand-in that can only set the flags in ``SAFE_SETTABLE_ATTRIBUTES``.
SAFE_BUILTINS: frozenset[str] = frozenset(
    [
        "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex",
        "dict", "divmod", "enumerate", "filter", "float", "frozenset", "hash", "hex", "int", "isinstance",
        "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "print",
        "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
        "setattr"
    ]
)

#: The only attributes ``setattr`` may set in safe mode: global switches nearly every MONAI
#: bundle flips in ``initialize`` (``$setattr(torch.backends.cudnn, 'benchmark', True)``).
SAFE_SETTABLE_ATTRIBUTES: frozenset[str] = frozenset(
    {"torch.backends.cudnn.benchmark", "torch.backends.cudnn.deterministic", "torch.backends.cudnn.allow_tf32"}
)

# --- what the static check and the guard both refuse ------------------------------------------------

# Attribute names refused on any object, grouped by why.
_REFUSED_ATTRIBUTES: Mapping[str, str] = {
    **dict.fromkeys(("format", "format_map"), "str.format reads attributes named in the format string"),
    **dict.fromkeys(
        (
            "mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
            "ag_code", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next",
            "func_globals", "func_code",
        ),
        "it reaches frames, code or the class tree, and from there builtins",
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "system", "popen", "startfile", "fork", "forkpty", "kill", "killpg", "posix_spawn",
            "posix_spawnp", "Popen", "check_output", "check_call", "getoutput", "getstatusoutput",
        ),
        "it runs processes",
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "tofile", "dump", "dumps", "write_text", "write_bytes", "unlink", "rmtree", "chmod", "chown",
            "symlink_to", "hardlink_to", "load_library", "ctypes",
        ),
        "it writes or serializes files, or reaches native code and raw memory",
    ),  # fmt: skip
}
_REFUSED_ATTRIBUTE_PREFIXES: Mapping[str, str] = {"spawn": "it runs processes", "exec": "it runs processes or code"}

# Module names refused as a part of a ``_target_`` path after its allowed prefix
# (``torch.utils.data.dataloader.os.system`` is a real attribute chain).
_REFUSED_TARGET_PARTS = frozenset(
    [
        "os", "posix", "nt", "sys", "subprocess", "shutil", "builtins", "importlib", "pickle", "marshal",
        "ctypes", "socket", "runpy", "pty", "pathlib", "tempfile", "multiprocessing"
    ]
)
#: Keyword arguments that switch a safe loader to an unsafe one, with the value that does it
#: (refused by the static check when written, by the runtime guard when passed).
REFUSED_KEYWORDS: Mapping[str, bool] = {"allow_pickle": True, "weights_only": False, "trust_remote_code": True}

#: Names the runtime guard is stored under in the globals; the static check refuses ``__`` names,
#: so no expression can read or rebind them.
GUARD_GETATTR = "__bundle_getattr__"
GUARD_CALL = "__bundle_call__"
GUARD_VALUE = "__bundle_value__"
GUARD_NAMES = frozenset({GUARD_GETATTR, GUARD_CALL, GUARD_VALUE})

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_within(name: str, prefixes: Iterable[str]) -> bool:
    """Whether dotted ``name`` is one of ``prefixes`` or inside one (at a dot boundary)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_dunder_name(name: str) -> bool:
    return name.startswith("__") and name.strip("_") != ""


# --- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafePolicy:
    """What safe mode lets a config run.

    Args:
        targets: dotted prefixes a ``_target_``'s full path may start with (at a dot boundary).
        callables: dotted names of module-level callables and values expressions may use.
        imports: modules ``$import`` may bind and expressions may use whole (default none; see
            ``check_import`` for the harmless imports allowed without listing).

    Example:
        >>> SafePolicy().extended(imports=("glob",)).allows_target("torch.nn.Linear")
        True
    """

    targets: tuple[str, ...] = DEFAULT_SAFE_TARGETS
    callables: tuple[str, ...] = DEFAULT_SAFE_CALLABLES
    imports: tuple[str, ...] = ()
    _steps: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("targets", "callables", "imports"):
            entries = (getattr(self, name),) if isinstance(getattr(self, name), str) else getattr(self, name)
            entries = tuple(entries)
            bad = [e for e in entries if not isinstance(e, str) or not _DOTTED.match(e)]
            if bad:
                raise ValueError(f"SafePolicy.{name}: not dotted names: {bad!r}")
            object.__setattr__(self, name, entries)
        steps: set[str] = set()
        for entry in (*self.targets, *self.callables, *self.imports, *SAFE_SETTABLE_ATTRIBUTES):
            parts = entry.split(".")
            steps.update(".".join(parts[:i]) for i in range(1, len(parts)))
        object.__setattr__(self, "_steps", frozenset(steps))

    def allows_target(self, full_path: str) -> bool:
        """Whether a ``_target_`` with this full dotted path may be instantiated.

        The path must start with one of ``targets`` at a dot boundary, and nothing after that prefix
        may be a dunder or the name of a process/import/pickle module. This reads only the string:
        also call ``check_target`` on the object the path resolves to.
        """
        if not isinstance(full_path, str) or not _DOTTED.match(full_path):
            return False
        parts = full_path.split(".")
        for prefix in self.targets:
            if is_within(full_path, (prefix,)):
                rest = parts[prefix.count(".") + 1 :]
                if not any(_is_dunder_name(p) or p in _REFUSED_TARGET_PARTS for p in rest):
                    return True
        return False

    def extended(
        self, *, targets: Iterable[str] = (), callables: Iterable[str] = (), imports: Iterable[str] = ()
    ) -> SafePolicy:
        """A new policy with these entries added to this one's."""
        return SafePolicy(
            targets=(*self.targets, *targets),
            callables=(*self.callables, *callables),
            imports=(*self.imports, *imports),
        )

    # What expressions may reach, by dotted path (used by the static check and the runtime guard).

    def trusts(self, path: str) -> bool:
        """Whether ``path`` is named by ``callables`` or lies inside a module in ``imports``."""
        return path in self.callables or is_within(path, self.imports)

    def reaches(self, path: str) -> bool:
        """Whether an expression may use ``path``: trusted, or a target's name."""
        return self.trusts(path) or self.allows_target(path)

    def passes_through(self, path: str) -> bool:
        """Whether ``path`` may be a step of a longer allowed chain (``torch.cuda``)."""
        return path in self._steps or self.reaches(path)


# --- problems and errors --------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyProblem:
    """One thing safe mode refused: why, the offending source text, and where it starts (from 1)."""

    reason: str
    text: str
    line: int = 1
    col: int = 0
    hint: str = ""

    def __str__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        where = f"line {self.line}, column {self.col}" if self.line > 1 else f"column {self.col}"
        return f"{self.reason}, at {where}: {text}"


#: The hint of a refusal that has no more specific one.
SAFE_MODE_HINT = (
    "safe mode runs only allowlisted names; trust the bundle if you know its code, "
    "or extend the policy, e.g. SafePolicy().extended(callables=('mypkg.helper',))"
)


def _refuse(what: str, source: str, problems: list[SafetyProblem]) -> UnsafeConfigError:
    problems = sorted(problems, key=lambda p: (p.line, p.col))
    if len(problems) == 1:
        message = f"safe mode refuses the {what} '{source}': {problems[0]}"
        hint = problems[0].hint or SAFE_MODE_HINT
    else:
        listing = "".join(f"\n    {p}" for p in problems)
        message = f"safe mode refuses the {what} '{source}' ({len(problems)} problems):{listing}"
        hint = SAFE_MODE_HINT
    err = UnsafeConfigError(message, hint=hint)
    err.problems = tuple(problems)
    err.source = source
    return err


def attribute_problem(name: str) -> str:
    """Why attribute ``name`` is refused, or an empty string."""
    if name.startswith("_"):
        return f"attribute '{name}' is private (starts with '_')"
    reason = _REFUSED_ATTRIBUTES.get(name) or next(
        (why for prefix, why in _REFUSED_ATTRIBUTE_PREFIXES.items() if name.startswith(prefix)), ""
    )
    return f"attribute '{name}' is refused: {reason}" if reason else ""


def _problem_at(source: str, node: ast.AST, reason: str, hint: str = "", *, at_name: bool = False) -> SafetyProblem:
    """A problem with ``node``'s text and position; ``at_name`` points at an attribute's name."""
    text = ast.get_source_segment(source, node) or ""
    line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", -1) + 1
    if at_name and isinstance(node, ast.Attribute) and node.end_lineno == line and node.end_col_offset is not None:
        col = node.end_col_offset - len(node.attr) + 1
    return SafetyProblem(reason, text, line, col, hint)


# --- the static check ------------------------------------------------------------------------------

_PLAIN_NODES = (
    ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.JoinedStr, ast.FormattedValue,
    ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.Starred,
    ast.keyword, ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip
_NODE_NAMES = {
    ast.NamedExpr: "assignment expression ':='", ast.Await: "'await'", ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
}  # fmt: skip


class _Checker(ast.NodeVisitor):
    """Walks an expression and collects every problem; scopes track lambda and comprehension names."""

    def __init__(self, source: str, refs: Collection[str], roots: Mapping[str, str], policy: SafePolicy):
        self.source, self.refs, self.roots, self.policy = source, refs, roots, policy
        self.scopes: list[set[str]] = []
        self.problems: list[SafetyProblem] = []

    def problem(self, node: ast.AST, reason: str, hint: str = "", *, at_name: bool = False) -> None:
        self.problems.append(_problem_at(self.source, node, reason, hint, at_name=at_name))

    def is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _PLAIN_NODES):
            what = _NODE_NAMES.get(type(node), f"'{type(node).__name__}'")
            self.problem(node, f"{what} is not allowed in a safe expression")
            return
        super().generic_visit(node)

    # names and attribute chains

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if self.is_local(name) or name in self.refs:
            return
        if name in self.roots:
            self.check_chain(node, name, [])
        elif name not in SAFE_BUILTINS:
            known = [*self.roots, *(SAFE_BUILTINS - {"setattr"})]
            hint = did_you_mean(name, known) or (
                "safe expressions may use references, the safe builtins and the modules "
                + ", ".join(sorted(self.roots))
            )
            self.problem(node, f"name '{name}' is not allowed in safe mode", hint)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[ast.Attribute] = []
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            chain.append(root)
            root = root.value
        chain.reverse()
        if isinstance(root, ast.Name) and self.is_module_root(root.id):
            self.check_chain(node, root.id, [a.attr for a in chain])
        else:
            self.visit(root)
        for attr in chain:
            if reason := attribute_problem(attr.attr):
                self.problem(attr, reason, at_name=True)

    def is_module_root(self, name: str) -> bool:
        return name in self.roots and not self.is_local(name) and name not in self.refs

    def check_chain(self, node: ast.expr, root: str, attrs: list[str]) -> None:
        """A chain rooted at a module must reach an allowed name; past it, only the name rules apply."""
        parts = [self.roots[root], *attrs]
        for i in range(1, len(parts) + 1):
            if self.policy.reaches(".".join(parts[:i])):
                return
        path = ".".join(parts)
        hint = f"trust it with SafePolicy().extended(callables=('{path}',)) if you know it is harmless"
        self.problem(node, f"'{path}' is not an allowed callable or value in safe mode", hint)

    # calls

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "setattr" and not self.is_local("setattr"):
            self.check_setattr(node)
            return
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            refused = REFUSED_KEYWORDS.get(kw.arg or "")
            if refused is not None and isinstance(kw.value, ast.Constant) and bool(kw.value.value) is refused:
                self.problem(kw, f"'{kw.arg}={kw.value.value!r}' is refused: it loads pickles or remote code")
            self.visit(kw.value)

    def check_setattr(self, node: ast.Call) -> None:
        if self.setattr_path(node) not in SAFE_SETTABLE_ATTRIBUTES:
            allowed = ", ".join(sorted(SAFE_SETTABLE_ATTRIBUTES))
            self.problem(node, "setattr is refused in safe mode", f"safe mode may only set: {allowed}")
            return
        self.visit(node.args[2])

    def setattr_path(self, node: ast.Call) -> str | None:
        """The dotted path ``setattr(module.attr..., "name", value)`` sets, or None for any other form."""
        args = node.args
        if len(args) != 3 or node.keywords or not isinstance(args[1], ast.Constant):
            return None
        root: ast.expr = args[0]
        attrs: list[str] = []
        while isinstance(root, ast.Attribute):
            attrs.insert(0, root.attr)
            root = root.value
        if not (isinstance(root, ast.Name) and self.is_module_root(root.id)):
            return None
        return ".".join([self.roots[root.id], *attrs, str(args[1].value)])

    # scopes

    def bind(self, target: ast.expr, scope: set[str]) -> None:
        if isinstance(target, ast.Name):
            if _is_dunder_name(target.id):
                self.problem(target, f"name '{target.id}' may not be bound in safe mode")
            scope.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind(elt, scope)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, scope)
        else:
            self.problem(target, "a comprehension may only assign to plain names in safe mode")

    def visit_Lambda(self, node: ast.Lambda) -> None:
        a = node.args
        for default in (*a.defaults, *(d for d in a.kw_defaults if d is not None)):
            self.visit(default)
        scope: set[str] = set()
        for arg in (*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg):
            if arg is None:
                continue
            if _is_dunder_name(arg.arg):
                self.problem(arg, f"name '{arg.arg}' may not be bound in safe mode")
            scope.add(arg.arg)
        self.scopes.append(scope)
        self.visit(node.body)
        self.scopes.pop()

    def visit_comprehension_node(self, node: ast.expr, results: list[ast.expr]) -> None:
        gens = node.generators  # type: ignore[attr-defined]
        self.visit(gens[0].iter)  # the first iterable is evaluated in the enclosing scope
        scope: set[str] = set()
        self.scopes.append(scope)
        for i, gen in enumerate(gens):
            if gen.is_async:
                self.problem(node, "'async for' is not allowed in a safe expression")
            if i:
                self.visit(gen.iter)
            self.bind(gen.target, scope)
            for cond in gen.ifs:
                self.visit(cond)
        for result in results:
            self.visit(result)
        self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self.visit_comprehension_node(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self.visit_comprehension_node(node, [node.key, node.value])


class _Guarder(ast.NodeTransformer):
    """Routes attribute reads, calls, lambda results and the final value through the guard."""

    @staticmethod
    def guard(name: str, node: ast.expr, args: list[ast.expr], keywords: Sequence[ast.keyword] = ()) -> ast.Call:
        call = ast.Call(ast.Name(name, ast.Load()), args, list(keywords))
        return ast.copy_location(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        return self.guard(GUARD_GETATTR, node, [node.value, ast.Constant(node.attr)])

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        return self.guard(GUARD_CALL, node, [node.func, *node.args], node.keywords)

    def visit_Lambda(self, node: ast.Lambda) -> ast.expr:
        self.generic_visit(node)
        node.body = self.checked(node.body)
        return node

    # the items a display or comprehension puts in a new container are checked one by one
    def checked(self, node: ast.expr) -> ast.expr:
        return node if isinstance(node, ast.Starred) else self.guard(GUARD_VALUE, node, [node])

    def visit_List(self, node: ast.List | ast.Tuple | ast.Set) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return node  # a comprehension target
        node.elts = [self.checked(e) for e in node.elts]
        return node

    visit_Tuple = visit_Set = visit_List

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        self.generic_visit(node)
        node.values = [v if k is None else self.checked(v) for k, v in zip(node.keys, node.values)]
        return node

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> ast.expr:
        self.generic_visit(node)
        node.elt = self.checked(node.elt)
        return node

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> ast.expr:
        self.generic_visit(node)
        node.value = self.checked(node.value)
        return node


def compile_safe(
    source: str,
    *,
    ref_names: Collection[str],
    policy: SafePolicy,
    filename: str = "<expression>",
    bindings: Mapping[str, str] | None = None,
) -> CodeType:
    """Check an expression against the safe subset and compile it with the runtime guard built in.

    Args:
        source: one Python expression, references already replaced by placeholder names.
        ref_names: the placeholder names; they may be used freely.
        policy: what may be reached.
        filename: for the code object.
        bindings: names ``$import`` bound, name -> dotted module or object (see ``import_bindings``),
            on top of ``DEFAULT_MODULE_ROOTS`` and the modules in ``policy.imports``.

    Returns:
        Code to ``eval`` with ``safe_globals(policy)`` plus the references.

    Raises:
        UnsafeConfigError: listing every problem, each with its text and column
            (``err.problems`` holds them as ``SafetyProblem``).
        SyntaxError: ``source`` is not a Python expression.

    Example:
        >>> code = compile_safe("_ref0 * 2", ref_names={"_ref0"}, policy=SafePolicy())
        >>> eval(code, {**safe_globals(SafePolicy()), "_ref0": 21})
        42
    """
    clash = GUARD_NAMES.intersection(ref_names)
    if clash:
        raise ValueError(f"reference placeholders may not be named {sorted(clash)}")
    tree = ast.parse(source, filename=filename, mode="eval")
    checker = _Checker(source, frozenset(ref_names), _roots(policy, bindings), policy)
    checker.visit(tree)
    if checker.problems:
        raise _refuse("expression", source, checker.problems)
    tree = _Guarder().visit(tree)
    tree.body = _Guarder.guard(GUARD_VALUE, tree.body, [tree.body])
    return compile(ast.fix_missing_locations(tree), filename, "eval")


def _roots(policy: SafePolicy, bindings: Mapping[str, str] | None) -> dict[str, str]:
    roots = dict(DEFAULT_MODULE_ROOTS)
    for entry in policy.imports:  # `import a.b` binds `a`; `from a import b` binds `b`
        roots.setdefault(entry.split(".")[0], entry.split(".")[0])
        roots.setdefault(entry.rsplit(".", 1)[-1], entry)
    roots.update(bindings or {})
    return roots


# --- imports ----------------------------------------------------------------------------------------


def import_bindings(source: str) -> dict[str, str]:
    """The names an import statement binds: name -> the dotted module or object it stands for.

    Example:
        >>> import_bindings("import torch.distributed as dist; from os import path")
        {'dist': 'torch.distributed', 'path': 'os.path'}
    """
    names: dict[str, str] = {}
    for stmt in ast.parse(source, mode="exec").body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(stmt, ast.ImportFrom) and not stmt.level:
            for alias in stmt.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
    return names


def check_import(source: str, policy: SafePolicy) -> None:
    """Refuse an ``import``/``from ... import`` unless every module it imports is allowed.

    A module is allowed when it is in ``policy.imports`` (a listed package covers its modules) or
    when it only leads to names expressions may use anyway (``import torch.distributed as dist``,
    ``import numpy as np``, ``from monai.networks import trt_compile``): binding such a name grants
    nothing, since every use of it is still checked against the policy. ``from a import b`` passes
    when ``a`` or ``a.b`` is allowed.

    Raises:
        UnsafeConfigError: listing every module refused.
        SyntaxError: ``source`` is not Python.
    """
    tree = ast.parse(source, filename="<import>", mode="exec")
    problems: list[SafetyProblem] = []

    def refuse(node: ast.AST, reason: str, module: str = "") -> None:
        hint = f"trust the module with SafePolicy().extended(imports=('{module}',)) if you know it"
        problems.append(_problem_at(source, node, reason, hint if module else ""))

    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if not (is_within(alias.name, policy.imports) or policy.passes_through(alias.name)):
                    refuse(alias, f"module '{alias.name}' is not in the policy's imports", alias.name)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or not stmt.module:
                refuse(stmt, "relative imports are refused in safe mode")
                continue
            for alias in stmt.names:
                full = f"{stmt.module}.{alias.name}"
                if alias.name == "*":
                    refuse(alias, "'import *' is refused in safe mode")
                elif not (is_within(stmt.module, policy.imports) or policy.trusts(full) or policy.passes_through(full)):
                    refuse(alias, f"module '{stmt.module}' is not in the policy's imports", stmt.module)
        else:
            refuse(stmt, "only import statements are accepted here")
    if problems:
        raise _refuse("import", source, problems)
