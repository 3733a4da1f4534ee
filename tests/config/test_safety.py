"""Safe mode: the static check, the runtime guard, imports and targets."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import types

import numpy
import pytest
import torch

from bundle.config.guard import check_target, safe_globals
from bundle.config.safety import (
    DEFAULT_SAFE_CALLABLES,
    DEFAULT_SAFE_TARGETS,
    GUARD_GETATTR,
    SAFE_BUILTINS,
    SafePolicy,
    SafetyProblem,
    check_import,
    compile_safe,
    import_bindings,
)
from bundle.errors import UnsafeConfigError

MODULES = {"torch": torch, "np": numpy, "numpy": numpy}


def run(source, policy=None, bindings=None, modules=None, **refs):
    """Compile ``source`` in safe mode and evaluate it with ``refs`` bound, as the engine does."""
    policy = policy or SafePolicy()
    code = compile_safe(source, ref_names=set(refs), policy=policy, bindings=bindings)
    env = safe_globals(policy, {**MODULES, **(modules or {})})
    env.update(refs)
    return eval(code, env)  # noqa: S307 - what safe mode is for


# --- what real configs write keeps working ---------------------------------------------------------


def test_network_to_device_moves_the_module():
    net = torch.nn.Linear(2, 2)
    out = run("_ref0.to(_ref1)", _ref0=net, _ref1=torch.device("cpu"))
    assert out is net
    assert net.weight.device.type == "cpu"


def test_device_expression_picks_cpu_without_cuda():
    out = run("torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')")
    assert out == torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def test_fstring_device_expression():
    out = run('torch.device(f"cuda:{_ref0}" if torch.cuda.is_available() else "cpu")', _ref0=1)
    assert out == torch.device("cuda:1" if torch.cuda.is_available() else "cpu")


def test_datalist_comprehension_zips_slices():
    images, labels = [f"i{k}" for k in range(11)], [f"l{k}" for k in range(11)]
    out = run("[{'image': i, 'label': l} for i, l in zip(_ref0[:-9], _ref1[:-9])]", _ref0=images, _ref1=labels)
    assert out == [{"image": "i0", "label": "l0"}, {"image": "i1", "label": "l1"}]
    assert images == [f"i{k}" for k in range(11)]  # the referenced value is not mutated


def test_calling_a_reference():
    net = torch.nn.Linear(3, 1)
    x = torch.ones(2, 3)
    assert torch.equal(run("_ref0(_ref1)", _ref0=net, _ref1=x), net(x))


def test_engine_placeholder_names_are_references():
    # the engine names its placeholders `__ref_N`; they are references, not refused dunder names
    assert run("__ref_0 + __ref_1", __ref_0=1, __ref_1=2) == 3
    with pytest.raises(UnsafeConfigError, match="'__ref_1'"):
        run("__ref_0 + __ref_1", __ref_0=1)


def test_refusal_names_the_callable():
    with pytest.raises(UnsafeConfigError, match="calling 'system'"):
        run("_ref0.table['sh']('true')", _ref0=Holder())
    with pytest.raises(UnsafeConfigError, match="to 'Linear'"):
        run("_ref0(_ref1.table['sh'])", _ref0=torch.nn.Linear(1, 1), _ref1=Holder())


def test_lambda_is_returned_and_guarded_when_called_later():
    double = run("lambda x: x * 2")
    assert double(21) == 42


@pytest.mark.parametrize(
    ("source", "refs", "expected"),
    [
        pytest.param("torch.float32", {}, torch.float32, id="dtype"),
        pytest.param("(np.float32, np.int32)", {}, (numpy.float32, numpy.int32), id="numpy-dtypes"),
        pytest.param("np.pi / 2", {}, numpy.pi / 2, id="numpy-constant"),
        pytest.param("_ref0 + '/models/model.pt'", {"_ref0": "/b"}, "/b/models/model.pt", id="path-concat"),
        pytest.param("[1,] * _ref0", {"_ref0": 3}, [1, 1, 1], id="list-repeat"),
        pytest.param("len(_ref0) + 1", {"_ref0": "abc"}, 4, id="builtin-len"),
        pytest.param("int(3) if _ref0 else int(2)", {"_ref0": False}, 2, id="ifexp"),
        pytest.param("not _ref0", {"_ref0": True}, False, id="not"),
        pytest.param("{**_ref0, 'b': 2}", {"_ref0": {"a": 1}}, {"a": 1, "b": 2}, id="dict-unpack"),
        pytest.param("sorted({k: v for k, v in _ref0.items()})", {"_ref0": {"b": 1}}, ["b"], id="dictcomp"),
        pytest.param("sum(x for x in range(4) if x % 2)", {}, 4, id="genexp"),
        pytest.param("_ref0['x'][1:]", {"_ref0": {"x": [1, 2, 3]}}, [2, 3], id="subscript-slice"),
        pytest.param("torch.ones(len(_ref0)).shape[0]", {"_ref0": [1, 2]}, 2, id="tensor-shape"),
        pytest.param("(lambda x, *_, **__: x)(5, 6, k=7)", {}, 5, id="underscore-params"),
        pytest.param("[_k * 2 for _k in range(2)]", {}, [0, 2], id="underscore-comprehension-name"),
        pytest.param("(lambda x: torch.where(x > 0, 4, 0))(_ref0).tolist()", {"_ref0": torch.tensor([1, -1])},
                     [4, 0], id="torch-where-in-lambda"),  # fmt: skip
        pytest.param("print is not None", {}, True, id="print-is-safe"),
    ],
)
def test_corpus_style_expressions_evaluate(source, refs, expected):
    assert run(source, **refs) == expected


def test_setattr_of_cudnn_benchmark_is_allowed(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    run("setattr(torch.backends.cudnn, 'benchmark', True)")
    assert torch.backends.cudnn.benchmark is True


def test_distributed_alias_binding():
    import torch.distributed as dist

    out = run("dist.get_rank() if dist.is_initialized() else 0", bindings={"dist": "torch.distributed"},
              modules={"dist": dist})  # fmt: skip
    assert out == 0


@pytest.mark.monai
def test_monai_names_used_by_bundles():
    monai = pytest.importorskip("monai")
    mods = {"monai": monai}
    from_engine = run("monai.handlers.from_engine(['pred', 'label'])", modules=mods)
    assert from_engine([{"pred": 1, "label": 2}]) == ([1], [2])
    assert run("monai.utils.InterpolateMode.BICUBIC", modules=mods) == "bicubic"
    assert run("monai.inferers.SimpleInferer()", modules=mods).__class__.__name__ == "SimpleInferer"


# --- the escape catalogue --------------------------------------------------------------------------


class Holder:
    """Stands for a referenced component whose attributes lead somewhere dangerous."""

    def __init__(self):
        self.os = os
        self.run = os.system
        self.later = functools.partial(os.system, "true")
        self.table = {"sh": os.system}
        self.sub = subprocess


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        pytest.param("__import__('os').system('x')", "'__import__'", id="dunder-import"),
        pytest.param("().__class__.__bases__[0].__subclasses__()", "'__class__'", id="subclasses-walk"),
        pytest.param("_ref0.__class__", "'__class__'", id="ref-class"),
        pytest.param("getattr(_ref0, '__cl' + 'ass__')", "'getattr'", id="getattr"),
        pytest.param("eval('1')", "'eval'", id="eval"),
        pytest.param("exec('x')", "'exec'", id="exec"),
        pytest.param("open('/etc/passwd')", "'open'", id="open"),
        pytest.param("'{0.__class__}'.format(_ref0)", "'format'", id="str-format"),
        pytest.param("'{x}'.format_map(_ref0)", "'format_map'", id="str-format-map"),
        pytest.param("type(_ref0)", "'type'", id="type"),
        pytest.param("globals()", "'globals'", id="globals"),
        pytest.param("vars(_ref0)", "'vars'", id="vars"),
        pytest.param("hasattr(_ref0, '__class__')", "'hasattr'", id="hasattr"),
        pytest.param("lambda: __builtins__", "'__builtins__'", id="builtins-in-lambda"),
        pytest.param("torch.load('x')", "'torch.load'", id="torch-load"),
        pytest.param("torch.hub.load('a', 'b')", "'torch.hub.load'", id="torch-hub"),
        pytest.param("torch.jit.load('x')", "'torch.jit.load'", id="torch-jit-load"),
        pytest.param("np.load('x', allow_pickle=True)", "'numpy.load'", id="numpy-load"),
        pytest.param("np.save('x', 1)", "'numpy.save'", id="numpy-save"),
        pytest.param("os.system('x')", "'os'", id="os-system"),
        pytest.param("(x := 1)", "':='", id="walrus"),
        pytest.param("[c for c in ().__class__.__mro__]", "'__mro__'", id="mro-in-comprehension"),
        pytest.param("_ref0.gi_frame.f_globals", "'gi_frame'", id="generator-frame"),
        pytest.param("_ref0.mro()", "'mro'", id="mro-method"),
        pytest.param("_ref0.numpy().tofile('x')", "'tofile'", id="tofile"),
        pytest.param("torch.cuda", "'torch.cuda'", id="module-as-value"),
        pytest.param("torch", "'torch'", id="root-as-value"),
        pytest.param("torch.distributed.init_process_group('nccl')", "init_process_group", id="init-process-group"),
        pytest.param("setattr(_ref0, 'weight', None)", "setattr", id="setattr-other"),
        pytest.param("setattr(torch, 'load', _ref0)", "setattr", id="setattr-torch"),
        pytest.param("[1 for _ref0.weight in [None]]", "plain names", id="assign-attribute-in-comprehension"),
        pytest.param("lambda __bundle_getattr__: 1", "'__bundle_getattr__'", id="rebind-guard"),
        pytest.param(f"{GUARD_GETATTR}(_ref0, 'x')", f"'{GUARD_GETATTR}'", id="call-guard-directly"),
        pytest.param("torch.nn.functional.torch.load('x')", "'torch.load'", id="reexported-load"),
        pytest.param("_ref0(allow_pickle=True)", "allow_pickle", id="allow-pickle-keyword"),
    ],
)
def test_escape_is_refused(source, fragment):
    with pytest.raises(UnsafeConfigError) as info:
        run(source, _ref0=torch.nn.Linear(1, 1))
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        pytest.param("_ref0.os", "module 'os'", id="attribute-is-os-module"),
        pytest.param("_ref0.os.getcwd()", "module 'os'", id="os-module-then-call"),
        pytest.param("_ref0.run('true')", "'os.system'", id="attribute-is-os-system"),
        pytest.param("_ref0.later()", "'os.system'", id="partial-of-os-system"),
        pytest.param("_ref0.table['sh']('true')", "'os.system'", id="called-from-a-dict"),
        pytest.param("list(map(_ref0.table['sh'], ['true']))", "'os.system'", id="passed-to-map"),
        pytest.param("_ref0.table['sh']", "'os.system'", id="returned-as-value"),
        pytest.param("[_ref0.table['sh']]", "'os.system'", id="put-in-a-list"),
        pytest.param("_ref0.sub", "module 'subprocess'", id="attribute-is-subprocess"),
    ],
)
def test_runtime_guard_refuses_what_a_reference_leads_to(source, fragment):
    code = compile_safe(source, ref_names={"_ref0"}, policy=SafePolicy())  # passes the static check
    env = {**safe_globals(SafePolicy(), MODULES), "_ref0": Holder()}
    with pytest.raises(UnsafeConfigError) as info:
        eval(code, env)  # noqa: S307
    assert fragment in str(info.value)


def test_runtime_guard_checks_modules_by_their_real_name():
    # a lambda parameter is not a module root, so only the runtime guard sees `torch` here
    code = compile_safe("(lambda t: t.load)(_ref0)", ref_names={"_ref0"}, policy=SafePolicy())
    env = {**safe_globals(SafePolicy(), MODULES), "_ref0": types.SimpleNamespace(load=torch.load)}
    with pytest.raises(UnsafeConfigError, match="torch.load"):
        eval(code, env)  # noqa: S307
    with pytest.raises(UnsafeConfigError, match="module 'torch'"):
        run("(lambda t: t.load)(_ref0)", _ref0=torch)


def test_runtime_guard_holds_modules_to_the_policy():
    # `torch` reached through a reference: only names the policy lists may be read from it
    holder = types.SimpleNamespace(torch=torch)
    assert run("_ref0.torch.cuda.is_available()", _ref0=holder) == torch.cuda.is_available()
    with pytest.raises(UnsafeConfigError, match="'torch.manual_seed'"):
        run("_ref0.torch.manual_seed(0)", _ref0=holder)


def test_runtime_guard_checks_attribute_names_again():
    read = safe_globals(SafePolicy())[GUARD_GETATTR]
    assert read("abc", "upper")() == "ABC"
    for name in ("__class__", "_private", "format", "gi_frame", "system"):
        with pytest.raises(UnsafeConfigError, match=name):
            read("abc", name)


def test_trusted_import_does_not_extend_to_modules_it_imported():
    import glob

    policy = SafePolicy().extended(imports=("glob",))
    assert run("glob.escape('a*')", policy=policy, modules={"glob": glob}) == "a[*]"
    with pytest.raises(UnsafeConfigError, match="module 'os'"):
        run("glob.os.getcwd()", policy=policy, modules={"glob": glob})


def test_restricted_setattr_refuses_at_run_time_too():
    env = safe_globals(SafePolicy(), MODULES)
    with pytest.raises(UnsafeConfigError, match="setattr"):
        env["__builtins__"]["setattr"](torch, "load", None)
    assert torch.load.__module__ == "torch.serialization"


# --- how problems are reported ---------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_columns():
    with pytest.raises(UnsafeConfigError) as info:
        compile_safe("eval('1') + open('x')", ref_names=(), policy=SafePolicy())
    err = info.value
    assert [(p.text, p.col) for p in err.problems] == [("eval", 1), ("open", 13)]
    assert "2 problems" in str(err)
    assert "'eval'" in str(err) and "'open'" in str(err)
    assert err.location is None and err.config_id is None  # the caller adds those


def test_attribute_problem_points_at_the_attribute_name():
    with pytest.raises(UnsafeConfigError) as info:
        compile_safe("_ref0.__class__", ref_names={"_ref0"}, policy=SafePolicy())
    (problem,) = info.value.problems
    assert problem == SafetyProblem(problem.reason, "_ref0.__class__", 1, 7, problem.hint)
    assert "private" in problem.reason


def test_chain_problem_points_at_the_chain():
    with pytest.raises(UnsafeConfigError) as info:
        compile_safe("1 + np.load('x')", ref_names=(), policy=SafePolicy())
    (problem,) = info.value.problems
    assert (problem.text, problem.col) == ("np.load", 5)
    assert "'numpy.load'" in problem.reason


def test_error_survives_pickling():
    with pytest.raises(UnsafeConfigError) as info:
        compile_safe("eval('1')", ref_names=(), policy=SafePolicy())
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, PermissionError)
    assert copy.problems == info.value.problems


def test_invalid_python_is_a_syntax_error_for_the_caller():
    with pytest.raises(SyntaxError):
        compile_safe("_ref0 +", ref_names={"_ref0"}, policy=SafePolicy())


def test_unknown_name_gets_a_suggestion():
    with pytest.raises(UnsafeConfigError) as info:
        compile_safe("lenn(_ref0)", ref_names={"_ref0"}, policy=SafePolicy())
    assert "did you mean 'len'" in info.value.hint


def test_ref_names_are_not_mutated():
    refs = {"_ref0"}
    compile_safe("_ref0 + 1", ref_names=refs, policy=SafePolicy())
    assert refs == {"_ref0"}


# --- the compiled code goes through the guard --------------------------------------------------------


def test_attribute_reads_and_calls_are_routed_through_the_guard():
    code = compile_safe("_ref0.upper()", ref_names={"_ref0"}, policy=SafePolicy())
    env = safe_globals(SafePolicy())
    seen = []
    real = env[GUARD_GETATTR]
    env[GUARD_GETATTR] = lambda obj, name: seen.append(name) or real(obj, name)
    env["_ref0"] = "abc"
    assert eval(code, env) == "ABC"  # noqa: S307
    assert seen == ["upper"]


def test_safe_globals_hold_only_the_safe_builtins():
    env = safe_globals(SafePolicy(), {"np": numpy})
    names = set(env["__builtins__"])
    assert names == SAFE_BUILTINS | {"__import__"}
    for refused in ("open", "eval", "exec", "getattr", "type", "globals", "compile", "input"):
        assert refused not in names
    assert env["np"] is numpy
    assert env["__builtins__"]["setattr"] is not setattr


def test_safe_globals_refuse_a_module_named_like_the_guard():
    with pytest.raises(ValueError):
        safe_globals(SafePolicy(), {GUARD_GETATTR: os})


def test_internal_import_refuses_unknown_modules():
    importer = safe_globals(SafePolicy())["__builtins__"]["__import__"]
    assert importer("torch") is torch
    with pytest.raises(UnsafeConfigError, match="importing"):
        importer("antigravity")


# --- imports -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import os", id="os"),
        pytest.param("import glob", id="glob"),
        pytest.param("from os import path", id="from-os"),
        pytest.param("import torch.hub", id="torch-hub"),
        pytest.param("from torch import load", id="torch-load"),
        pytest.param("from . import scripts", id="relative"),
        pytest.param("x = 1", id="not-an-import"),
    ],
)
def test_imports_are_refused_by_default(source):
    with pytest.raises(UnsafeConfigError):
        check_import(source, SafePolicy())


def test_import_lists_every_refused_module():
    with pytest.raises(UnsafeConfigError) as info:
        check_import("import os, glob", SafePolicy())
    assert [(p.text, p.col) for p in info.value.problems] == [("os", 8), ("glob", 12)]
    assert "imports=('os',)" in info.value.problems[0].hint


@pytest.mark.parametrize(
    ("source", "listed"),
    [
        pytest.param("import glob", "glob", id="module"),
        pytest.param("from os import path", "os", id="from-module"),
        pytest.param("from os.path import join as j", "os", id="package-covers-submodule"),
        pytest.param("from json import decoder", "json.decoder", id="from-names-a-listed-module"),
    ],
)
def test_imports_listed_in_the_policy_are_allowed(source, listed):
    check_import(source, SafePolicy().extended(imports=(listed,)))
    with pytest.raises(UnsafeConfigError):
        check_import(source, SafePolicy())


@pytest.mark.parametrize("source", ["import torch", "import numpy as np", "import torch.distributed as dist"])
def test_imports_that_grant_nothing_new_are_allowed(source):
    check_import(source, SafePolicy())


def test_star_import_is_refused_even_from_a_listed_module():
    with pytest.raises(UnsafeConfigError, match=r"import \*"):
        check_import("from glob import *", SafePolicy().extended(imports=("glob",)))


def test_import_bindings():
    assert import_bindings("import torch.distributed as dist") == {"dist": "torch.distributed"}
    assert import_bindings("import os.path") == {"os": "os"}
    assert import_bindings("from os import path as p, sep") == {"p": "os.path", "sep": "os.sep"}


def test_listed_import_is_usable_in_expressions():
    policy = SafePolicy().extended(imports=("os",))
    assert run("os.path.join('a', 'b')", policy=policy, modules={"os": os}) == os.path.join("a", "b")
    with pytest.raises(UnsafeConfigError):
        run("os.path.join('a', 'b')", modules={"os": os})


# --- targets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        pytest.param("torch.nn.Linear", True, id="torch.nn.Linear"),
        pytest.param("torch.optim.Adam", True, id="torch.optim.Adam"),
        pytest.param("torch.utils.data.DataLoader", True, id="DataLoader"),
        pytest.param("torch.nnx.Foo", False, id="prefix-not-at-dot"),
        pytest.param("torch.nn", True, id="the-prefix-itself"),
        pytest.param("torch", False, id="shorter-than-prefix"),
        pytest.param("os.system", False, id="os.system"),
        pytest.param("builtins.eval", False, id="builtins.eval"),
        pytest.param("torch.nn.Module.__subclasses__", False, id="dunder-after-prefix"),
        pytest.param("torch.utils.data.dataloader.os.system", False, id="os-inside-allowed-module"),
        pytest.param("monai.bundle.download", False, id="monai.bundle"),
        pytest.param("monai.utils.optional_import", False, id="monai.utils"),
        pytest.param("torch.nn.Linear; import os", False, id="not-a-dotted-name"),
    ],
)
def test_allows_target(path, allowed):
    assert SafePolicy().allows_target(path) is allowed


def test_check_target_accepts_a_real_component():
    check_target("torch.nn.Linear", torch.nn.Linear, SafePolicy(), {"in_features": 1, "out_features": 1})


@pytest.mark.parametrize(
    ("path", "target", "arguments", "fragment"),
    [
        pytest.param("torch.nn.functional.torch.load", torch.load, None, "torch.load", id="reexported-load"),
        pytest.param("torch.nn.modules.module.functools.partial", functools.partial, None, "functools",
                     id="reexported-stdlib"),  # fmt: skip
        pytest.param("torch.nn", torch.nn, None, "module", id="module"),
        pytest.param("torch.nn.Linear", torch.nn.Linear, {"x": os.system}, "os.system", id="dangerous-argument"),
        pytest.param("torch.nn.Linear", torch.nn.Linear, {"weights_only": False}, "weights_only", id="weights-only"),
        pytest.param("torch.nn.Linear", torch.nn.Linear, {"reader": "subprocess.Popen"}, "subprocess.Popen",
                     id="locating-argument"),  # fmt: skip
        pytest.param("os.system", os.system, None, "not under", id="outside-targets"),
    ],
)
def test_check_target_refuses(path, target, arguments, fragment):
    with pytest.raises(UnsafeConfigError) as info:
        check_target(path, target, SafePolicy(), arguments)
    assert fragment in str(info.value)


@pytest.mark.monai
def test_monai_reader_named_by_dotted_path_is_checked_in_expressions():
    monai = pytest.importorskip("monai")
    with pytest.raises(UnsafeConfigError, match="subprocess.Popen"):
        run("monai.transforms.LoadImage('subprocess.Popen')", modules={"monai": monai})


# --- the policy ----------------------------------------------------------------------------------------


def test_extended_returns_a_new_policy_and_leaves_the_old_one():
    base = SafePolicy()
    more = base.extended(targets=("mypkg",), callables=("torch.load",), imports=("glob",))
    assert base == SafePolicy() and base.imports == ()
    assert more.allows_target("mypkg.Net") and not base.allows_target("mypkg.Net")
    assert more.callables[-1] == "torch.load" and more.imports == ("glob",)
    assert run("torch.load", policy=more) is torch.load


def test_defaults_leave_out_code_loading():
    for name in ("torch.load", "torch.save", "torch.jit.load", "numpy.load", "numpy.save"):
        assert name not in DEFAULT_SAFE_CALLABLES
    for prefix in ("monai.utils", "monai.bundle", "monai.apps"):
        assert prefix not in DEFAULT_SAFE_TARGETS


def test_every_default_callable_exists():
    for name in DEFAULT_SAFE_CALLABLES:
        module, _, attr = name.partition(".")
        if module == "monai":
            continue
        obj = {"torch": torch, "numpy": numpy}[module]
        for part in attr.split("."):
            obj = getattr(obj, part)


@pytest.mark.parametrize("bad", [("torch.nn; os",), ("",), (1,)])
def test_policy_refuses_entries_that_are_not_dotted_names(bad):
    with pytest.raises(ValueError):
        SafePolicy(targets=bad)


def test_policy_is_hashable_and_lists_become_tuples():
    policy = SafePolicy(imports=["glob"])
    assert policy.imports == ("glob",)
    assert hash(policy) == hash(SafePolicy(imports=("glob",)))
