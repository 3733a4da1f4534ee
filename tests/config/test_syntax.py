"""Every element of the config syntax, through ``ConfigParser`` (MONAI's API) and ``Config`` (ours).

Semantics follow MONAI 1.6.1 (``../shared/reference/monai-bundle-notes.md`` sections 1.1-1.5)
except where ``docs/config.md`` lists a deliberate difference; those tests say so.
"""

from __future__ import annotations

import collections
import copy
import fractions
import functools
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bundle import ConfigComponent, ConfigExpression, ConfigItem, ConfigParser, ReferenceResolver
from bundle.config.engine import Config
from bundle.config.loader import duplicate_keys
from bundle.config.overrides import parse_value, split_overrides
from bundle.errors import (
    BundleError,
    ConfigError,
    DuplicateKeyError,
    DuplicateKeyWarning,
    ExpressionError,
    InvalidConfigError,
    MacroError,
    MissingIdError,
)

REPO = Path(__file__).resolve().parents[2]
HERE = __name__  # targets below are written as f"{HERE}.record"

CALLS: list[str] = []


def record(name: str, **kwargs):
    """A component target that logs its calls, so tests can see order and count."""
    CALLS.append(name)
    return {"name": name, **kwargs}


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def rec(name: str, **kwargs) -> dict:
    return {"_target_": f"{HERE}.record", "name": name, **kwargs}


@pytest.fixture(params=["ConfigParser", "Config"])
def resolve(request):
    """``resolve(config, id)`` through either API; checks the caller's dict is not changed."""

    def run(config: dict, id: str = "", **kwargs):
        before = copy.deepcopy(config)
        if request.param == "ConfigParser":
            value = ConfigParser(config, **kwargs).get_parsed_content(id)
        else:
            value = Config(config, **kwargs).resolve(id)
        assert config == before, "the caller's config was changed"
        return value

    return run


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --- _target_ ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "component, check",
    [
        pytest.param(
            {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3},
            lambda v: type(v).__name__ == "Linear" and (v.in_features, v.out_features) == (2, 3),
            id="class-torch.nn.Linear",
        ),
        pytest.param(
            {"_target_": "collections.OrderedDict", "a": 1},
            lambda v: type(v) is collections.OrderedDict and v == {"a": 1},
            id="class-collections.OrderedDict",
        ),
        pytest.param(
            {"_target_": "fractions.Fraction", "numerator": 1, "denominator": 3},
            lambda v: v == fractions.Fraction(1, 3),
            id="class-fractions.Fraction",
        ),
        pytest.param(
            {"_target_": "textwrap.dedent", "text": "  x"}, lambda v: v == "x", id="function-textwrap.dedent"
        ),
        pytest.param(
            {"_target_": "os.path.join", "a": "x"}, lambda v: v == "x", id="function-in-submodule-os.path.join"
        ),
        pytest.param(
            {"_target_": "$collections.OrderedDict", "b": 2},
            lambda v: type(v) is collections.OrderedDict and v == {"b": 2},
            id="expression-target",
        ),
    ],
)
def test_target_dotted_path_is_called_with_the_other_keys(resolve, component, check):
    config = {"imports": ["$import collections"], "c": component}
    assert check(resolve(config, "c"))


def test_target_reference_to_a_callable(resolve):
    config = {"factory": "$collections.OrderedDict", "imp": "$import collections", "c": {"_target_": "@factory", "k": 1}}
    assert resolve(config, "c") == collections.OrderedDict(k=1)


# --- _requires_ ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requires, expected",
    [
        pytest.param("@a", ["a", "kwarg", "c"], id="one-reference"),
        pytest.param(["@b", "@a"], ["b", "a", "kwarg", "c"], id="list-in-written-order"),
        pytest.param(["@a", rec("inline")], ["a", "inline", "kwarg", "c"], id="inline-component"),
        pytest.param(["$@a['name'] + '!'", "@b"], ["a", "b", "kwarg", "c"], id="expression-then-reference"),
    ],
)
def test_requires_runs_before_the_component_and_is_not_an_argument(resolve, requires, expected):
    config = {"a": rec("a"), "b": rec("b"), "c": rec("c", _requires_=requires, x=rec("kwarg"))}
    value = resolve(config, "c")
    assert CALLS == expected
    assert "_requires_" not in value


# --- _disabled_ ----------------------------------------------------------------------------------

DISABLED = [
    pytest.param(True, id="bool-true"),
    pytest.param("true", id="str-true"),
    pytest.param(" TRUE ", id="str-TRUE-padded"),
    pytest.param("$1 == 1", id="expression-true"),
    pytest.param("$@flag", id="expression-reference-true"),
    pytest.param(1, id="int-1"),
]
ENABLED = [
    pytest.param(False, id="bool-false"),
    pytest.param("false", id="str-false"),
    pytest.param("yes", id="str-other-than-true"),
    pytest.param("$1 == 2", id="expression-false"),
    pytest.param(0, id="int-0"),
]


@pytest.mark.parametrize("flag", DISABLED)
def test_disabled_component_gives_none_and_is_dropped_from_containers(resolve, flag):
    off = rec("off", _disabled_=flag)
    config = {
        "flag": True,
        "off": off,
        "ref": "@off",
        "in_list": [copy.deepcopy(off), 3, rec("on")],
        "in_kwargs": rec("outer", sub=copy.deepcopy(off), k=1),
        "in_dict": {"sub": copy.deepcopy(off), "k": 2},
    }
    assert resolve(config, "off") is None
    assert resolve(config, "ref") is None
    assert resolve(config, "in_list") == [3, {"name": "on"}]
    assert resolve(config, "in_kwargs") == {"name": "outer", "k": 1}
    assert resolve(config, "in_dict") == {"k": 2}
    assert "off" not in CALLS


@pytest.mark.parametrize("flag", ENABLED)
def test_enabled_component_is_instantiated(resolve, flag):
    config = {"on": rec("on", _disabled_=flag), "in_list": [rec("x", _disabled_=flag)]}
    assert resolve(config, "on") == {"name": "on"}
    assert resolve(config, "in_list") == [{"name": "x"}]


def test_disabled_component_arguments_and_requires_are_not_evaluated(resolve):
    config = {"off": rec("off", _disabled_=True, boom="$1 / 0", _requires_="$1 / 0", other=rec("inner"))}
    assert resolve(config, "off") is None
    assert CALLS == []


# --- _desc_ and _mode_ ---------------------------------------------------------------------------


def test_desc_is_ignored(resolve):
    assert resolve({"c": rec("c", _desc_="free text, not an argument")}, "c") == {"name": "c"}


def test_mode_default_calls_the_target(resolve):
    assert resolve({"c": rec("c", _mode_="default")}, "c") == {"name": "c"}
    assert CALLS == ["c"]


def test_mode_callable_gives_a_partial(resolve):
    value = resolve({"c": rec("c", _mode_="callable", k=1)}, "c")
    assert isinstance(value, functools.partial)
    assert CALLS == []
    assert value(j=2) == {"name": "c", "k": 1, "j": 2}


def test_mode_callable_without_arguments_gives_the_target_itself(resolve):
    assert resolve({"c": {"_target_": "collections.OrderedDict", "_mode_": "callable"}}, "c") is collections.OrderedDict


def test_mode_debug_runs_the_target_under_pdb(resolve, monkeypatch):
    import pdb

    seen = []

    def runcall(func, *args, **kwargs):
        seen.append((func, kwargs))
        return func(*args, **kwargs)

    monkeypatch.setattr(pdb, "runcall", runcall)
    assert resolve({"c": rec("c", _mode_="debug", k=1)}, "c") == {"name": "c", "k": 1}
    assert seen == [(record, {"name": "c", "k": 1})]


# --- references and ids --------------------------------------------------------------------------

NESTED = {
    "top": 0,
    "lst": [10, 20, 30],
    "a": {
        "x": "a::x",
        "y": 1,
        "b": {
            "x": "a::b::x",
            "y": [5, 6],
            "rel_1": "@::x",
            "rel_2": "@::::x",
            "rel_1_legacy": "@#x",
            "rel_2_legacy": "@##x",
            "rel_index": "@::y::1",
            "rel_expr": "$@::y[0] + @::::y",
            "rel_macro": "%::y",
        },
    },
}


@pytest.mark.parametrize(
    "id, expected",
    [
        pytest.param("a::b::x", "a::b::x", id="nested-id-::"),
        pytest.param("a#b#x", "a::b::x", id="nested-id-#"),
        pytest.param("lst::1", 20, id="list-index"),
        pytest.param("a::b::y::0", 5, id="list-index-in-nested"),
        pytest.param("a::b::rel_1", "a::b::x", id="@::x-is-a-sibling"),
        pytest.param("a::b::rel_2", "a::x", id="@::::x-is-one-level-up"),
        pytest.param("a::b::rel_1_legacy", "a::b::x", id="@#x"),
        pytest.param("a::b::rel_2_legacy", "a::x", id="@##x"),
        pytest.param("a::b::rel_index", 6, id="relative-with-index"),
        pytest.param("a::b::rel_expr", 6, id="relative-in-expression"),
        pytest.param("a::b::rel_macro", [5, 6], id="relative-macro-%::y"),
    ],
)
def test_ids_and_relative_ids(resolve, id, expected):
    assert resolve(NESTED, id) == expected


@pytest.mark.parametrize(
    "ref, expected",
    [
        pytest.param("@a::b::x", "a::b::x", id="::"),
        pytest.param("@a#b#x", "a::b::x", id="#"),
        pytest.param("@lst::2", 30, id="index"),
        pytest.param("@lst#0", 10, id="index-#"),
        pytest.param("@lst::-1", 30, id="negative-index"),
        pytest.param("@a::b::y", [5, 6], id="list-value"),
    ],
)
def test_references(resolve, ref, expected):
    assert resolve({**NESTED, "r": ref}, "r") == expected


def test_reference_shares_identity(resolve):
    config = {"net": {"_target_": "torch.nn.Identity"}, "r1": "@net", "r2": ["@net"]}
    parser = ConfigParser(config)
    assert parser.get_parsed_content("r1") is parser.get_parsed_content("net")
    assert parser.get_parsed_content("r2")[0] is parser.get_parsed_content("net")


def test_parse_rewrites_relative_ids_in_the_parser_not_in_the_callers_dict():
    config = copy.deepcopy(NESTED)
    parser = ConfigParser(config)
    parser.parse()
    assert parser["a::b::rel_1"] == "@a::b::x"
    assert parser["a::b::rel_2_legacy"] == "@a::x"
    assert parser["a::b::rel_expr"] == "$@a::b::y[0] + @a::y"
    assert config == NESTED


# --- expressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, expected",
    [
        pytest.param("$@rank + 1", 2, id="reference"),
        pytest.param("$(lambda v: v + @rank)(3)", 4, id="lambda-using-a-reference"),
        pytest.param("$[v * @rank for v in @lst]", [1, 2, 3], id="list-comprehension"),
        pytest.param("${k: v + @rank for k, v in @d.items()}", {"a": 2}, id="dict-comprehension"),
        pytest.param("$sum(v for v in @lst if v > @rank)", 5, id="generator"),
        pytest.param('$f"cuda:{@rank}"', "cuda:1", id="f-string-with-reference"),
        pytest.param("$f'{@lst[0]}-{@d[\"a\"]}'", "1-1", id="f-string-two-fields"),
        pytest.param("$'admin@x.org'", "admin@x.org", id="at-inside-string-literal"),
        pytest.param('$"@rank" + str(@rank)', "@rank1", id="reference-beside-string"),
        pytest.param("$(@m @ @m).tolist()", [[1.0, 0.0], [0.0, 1.0]], id="matmul-operator"),
        pytest.param("$@d['a']", 1, id="subscript"),
        pytest.param("$@lst[-1]", 3, id="negative-subscript"),
    ],
)
def test_expressions(resolve, expression, expected):
    config = {"rank": 1, "lst": [1, 2, 3], "d": {"a": 1}, "m": "$np.eye(2)", "e": expression}
    assert resolve(config, "e") == expected


def test_lambda_reads_references_when_called(resolve):
    fn = resolve({"k": 10, "f": "$lambda v: [v + i for i in range(@k) if i < 2]"}, "f")
    assert fn(1) == [1, 2]


@pytest.mark.parametrize(
    "imports, expression, expected",
    [
        pytest.param(["$import math"], "$math.floor(2.5)", 2, id="import-x"),
        pytest.param(["$import os.path as osp"], "$osp.basename('/a/b')", "b", id="import-a.b-as-c"),
        pytest.param(["$import xml.etree.ElementTree"], "$xml.etree.ElementTree.fromstring('<a/>').tag", "a",
                     id="import-a.b.c-binds-a"),
        pytest.param(["$from os.path import join, basename"], "$basename(join('a', 'b'))", "b",
                     id="from-x-import-y-z-binds-both"),
        pytest.param(["$from os.path import join as j"], "$j('a', 'b')", os.path.join("a", "b"),
                     id="from-x-import-y-as-z"),
    ],
)
def test_imports_bind_names_for_every_expression(resolve, imports, expression, expected):
    # as in MONAI bundles: the imports list is never referenced, yet its names are usable elsewhere
    config = {"imports": imports, "deep": {"inner": [{"value": expression}]}}
    assert resolve(config, "deep::inner::0::value") == expected


def test_import_inside_a_nested_list_is_usable_elsewhere(resolve):
    config = {"initialize": ["$import glob", "$print"], "g": "$glob.escape('[x]')"}
    assert resolve(config, "g") == "[[]x]"


def test_import_expression_resolves_to_the_module(resolve):
    import math

    assert resolve({"m": "$import math"}, "m") is math


def test_default_globals_are_imported_only_when_used(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from bundle.config.engine import Config
        c = Config({"a": "$1 + 1", "n": "$int(np.int64(3))"})
        assert c.resolve("a") == 2
        assert "numpy" not in sys.modules and "torch" not in sys.modules, "imported too early"
        assert c.resolve("n") == 3
        assert "numpy" in sys.modules and "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "name, expression, expected",
    [
        pytest.param("torch", "$torch.zeros(2).shape[0]", 2, id="torch"),
        pytest.param("np", "$np.arange(3).tolist()", [0, 1, 2], id="np"),
        pytest.param("numpy", "$numpy.float32(1).item()", 1.0, id="numpy"),
    ],
)
def test_default_globals(resolve, name, expression, expected):
    assert resolve({"e": expression}, "e") == expected


def test_globals_false_disables_the_defaults(resolve):
    with pytest.raises(ExpressionError, match="unknown name 'np'") as info:
        resolve({"e": "$np.zeros(1)"}, "e", globals=False)
    assert info.value.config_id == "e"


def test_globals_dict_adds_to_the_defaults(resolve):
    config = {"e": "$m.floor(2.5) + double(1) + int(np.int64(1))"}
    assert resolve(config, "e", globals={"m": "math", "double": lambda v: 2 * v}) == 5


# --- macros --------------------------------------------------------------------------------------


def test_macro_within_a_config_is_an_independent_copy(resolve):
    config = {"net": {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3}, "copy": "%net"}
    parser = ConfigParser(config)
    assert parser.get_parsed_content("copy") is not parser.get_parsed_content("net")
    assert parser["copy"] == config["net"]
    assert resolve(config, "copy").in_features == 2


def test_relative_macro(resolve):
    assert resolve({"a": {"x": {"k": 1}, "b": {"y": "%::::x"}}}, "a::b::y") == {"k": 1}


@pytest.fixture
def bundle_dir(tmp_path):
    configs = tmp_path / "configs"
    write(
        configs,
        "other.json",
        """
        {
            "net": {"_target_": "torch.nn.Linear", "in_features": "@features", "out_features": 1},
            "lst": [1, 2]
        }
        """,
    )
    write(configs, "common.yaml", "imports:\n  - $import glob\nsize: 4\n")
    write(
        configs,
        "train.json",
        """
        {
            "features": 5,
            "net": "%configs/other.json::net",
            "first": "%configs/other.json#lst#0",
            "common": "%configs/common.yaml",
            "imports": "%configs/common.yaml::imports",
            "g": "$glob.escape('[')"
        }
        """,
    )
    write(configs, "metadata.json", '{"version": "0.1.2", "network_data_format": {"inputs": {"image": {"num_channels": 1}}}}')
    return tmp_path


def test_macros_across_files(bundle_dir, monkeypatch):
    monkeypatch.chdir(bundle_dir)
    for cfg in (Config.load(bundle_dir / "configs" / "train.json"), _parser(bundle_dir / "configs" / "train.json")):
        get = cfg.resolve if isinstance(cfg, Config) else cfg.get_parsed_content
        assert get("g") == "[[]"  # an import copied from another file binds its name, as a written one does
        assert get("net").in_features == 5  # the @features inside the copy names this config's id
        assert get("first") == 1
        assert get("common") == {"imports": [__import__("glob")], "size": 4}


def _parser(*files) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(list(files))
    return parser


def test_macro_cycle_is_an_error(resolve):
    with pytest.raises(MacroError, match=r"macros form a cycle: %b -> %a -> %b") as info:
        resolve({"a": "%b", "b": {"k": "%a"}}, "a")
    assert info.value.config_id == "a"


# --- _meta_ --------------------------------------------------------------------------------------


def test_meta_through_read_meta_and_references(bundle_dir):
    meta = bundle_dir / "configs" / "metadata.json"
    parser = ConfigParser({"ch": "@_meta_::network_data_format::inputs::image::num_channels", "v": "@_meta_#version"})
    parser.read_meta(meta)
    assert parser.get_parsed_content("ch") == 1
    assert parser.get_parsed_content("v") == "0.1.2"
    assert parser["_meta_::version"] == "0.1.2"
    cfg = Config.load(write(bundle_dir, "c.json", '{"v": "@_meta_::version"}'), meta=meta)
    assert cfg.resolve("v") == "0.1.2"


def test_read_config_keeps_meta_and_replaces_the_rest(bundle_dir):
    parser = ConfigParser({"old": 1})
    parser.read_meta({"version": "1"})
    parser.read_config({"new": 2})
    assert parser.config == {"_meta_": {"version": "1"}, "new": 2}


def test_meta_renames_optional_packages_version():
    parser = ConfigParser()
    parser.read_meta({"optional_packages_version": {"nibabel": "5"}})
    assert parser["_meta_"] == {"required_packages_version": {"nibabel": "5"}}


# --- merging several files -----------------------------------------------------------------------


@pytest.fixture
def two_files(tmp_path):
    first = write(
        tmp_path,
        "train.json",
        """
        {
            "lr": 0.1,
            "train": {"trainer": {"max_epochs": 1, "seed": 0}},
            "imports": ["$import os"],
            "handlers": {"a": 1},
            "keep": "k"
        }
        """,
    )
    second = write(
        tmp_path,
        "evaluate.yaml",
        """
        lr: 0.01
        train::trainer::max_epochs: 5
        train#trainer#seed: 7
        +imports: [$import glob]
        +handlers: {b: 2}
        +added: [1]
        """,
    )
    return first, second


@pytest.mark.parametrize(
    "id, expected",
    [
        pytest.param("lr", 0.01, id="later-file-overrides"),
        pytest.param("train::trainer::max_epochs", 5, id="nested-id-key-::"),
        pytest.param("train::trainer::seed", 7, id="nested-id-key-#"),
        pytest.param("imports", ["$import os", "$import glob"], id="+key-extends-a-list"),
        pytest.param("handlers", {"a": 1, "b": 2}, id="+key-updates-a-dict"),
        pytest.param("added", [1], id="+key-adds-a-missing-key"),
        pytest.param("keep", "k", id="untouched-key-kept"),
    ],
)
def test_merging_files(two_files, id, expected):
    assert Config.load(*two_files).get(id) == expected
    assert _parser(*two_files)[id] == expected
    assert ConfigParser(ConfigParser.load_config_files(list(two_files)))[id] == expected


def test_merge_plus_type_mismatch_is_an_error(tmp_path):
    first = write(tmp_path, "a.json", '{\n  "imports": ["$import os"]\n}\n')
    second = write(tmp_path, "b.yaml", "x: 1\n+imports: {k: 1}\n")
    with pytest.raises(InvalidConfigError, match=r"'\+imports' merges a dict into a list") as info:
        Config.load(first, second)
    err = info.value
    assert (err.location.file, err.location.line, err.location.col) == (str(second), 2, 1)
    assert err.config_id == "imports"
    assert "drop the '+'" in err.hint


def test_nested_plus_key_is_kept_literally_as_in_monai(tmp_path):
    first = write(tmp_path, "a.json", '{"base": {"x": 1}}')
    second = write(tmp_path, "b.json", '{"base": {"+x": 5}}')
    assert Config.load(first, second).get("base") == {"+x": 5}


# --- YAML ----------------------------------------------------------------------------------------

ANCHORS = """
base: &b
  x: 1
  y: [1, 2]
alias: *b
derived:
  <<: *b
  z: 3
"""


def test_yaml_aliases_are_not_shared(tmp_path):
    path = write(tmp_path, "a.yaml", ANCHORS)
    parser = _parser(path)
    assert parser["alias"] == parser["base"] and parser["alias"] is not parser["base"]
    parser["alias::y"] = [9]
    parser["derived::y"].append(3)
    assert parser["base"] == {"x": 1, "y": [1, 2]}
    cfg = Config.load(path, overrides={"alias::x": 5})
    assert cfg.get("base::x") == 1


def test_yaml_merge_key(tmp_path):
    path = write(tmp_path, "a.yaml", ANCHORS)
    assert Config.load(path).resolve("derived") == {"x": 1, "y": [1, 2], "z": 3}
    assert ConfigParser.load_config_file(path)["derived"] == {"x": 1, "y": [1, 2], "z": 3}


@pytest.mark.parametrize(
    "name, text, first, second",
    [
        pytest.param("d.json", '{\n  "a": {"k": 1,\n        "k": 2}\n}', (2, 9), (3, 9), id="json"),
        pytest.param("d.yaml", "a:\n  k: 1\n  k: 2\n", (2, 3), (3, 3), id="yaml"),
    ],
)
@pytest.mark.parametrize("switch", ["context", "BUNDLE_DUPLICATE_KEYS", "MONAI_FAIL_ON_DUPLICATE_CONFIG"])
def test_duplicate_keys_are_errors_when_asked_with_both_positions(tmp_path, monkeypatch, name, text, first, second,
                                                                  switch):
    path = write(tmp_path, name, text)
    if switch == "BUNDLE_DUPLICATE_KEYS":
        monkeypatch.setenv(switch, "error")
    elif switch == "MONAI_FAIL_ON_DUPLICATE_CONFIG":
        monkeypatch.setenv(switch, "1")
    with pytest.raises(DuplicateKeyError) as info:
        if switch == "context":
            with duplicate_keys("error"):
                ConfigParser.load_config_file(path)
        else:
            ConfigParser.load_config_file(path)
    err = info.value
    assert err.key == "k"
    assert (err.first.line, err.first.col) == first
    assert (err.location.file, err.location.line, err.location.col) == (str(path), *second)


@pytest.mark.parametrize(
    "name, text, first, second",
    [
        pytest.param("d.json", '{\n  "a": {"k": 1,\n        "k": 2}\n}', (2, 9), (3, 9), id="json"),
        pytest.param("d.yaml", "a:\n  k: 1\n  k: 2\n", (2, 3), (3, 3), id="yaml"),
    ],
)
def test_duplicate_keys_warn_and_keep_the_later_value_by_default(tmp_path, name, text, first, second):
    path = write(tmp_path, name, text)
    for _ in range(2):  # a YAML text with duplicates is not cached: it warns every time it is read
        with pytest.warns(DuplicateKeyWarning) as caught:
            assert ConfigParser.load_config_file(path) == {"a": {"k": 2}}
        warning = caught[0].message
        assert str(warning).startswith("Duplicate key: `k` at ")
        assert (warning.first.line, warning.first.col) == first
        assert (warning.location.file, warning.location.line, warning.location.col) == (str(path), *second)


def test_duplicate_keys_setting_takes_warn_or_error(monkeypatch, tmp_path):
    path = write(tmp_path, "d.json", '{"a": 1, "a": 2}')
    monkeypatch.setenv("MONAI_FAIL_ON_DUPLICATE_CONFIG", "1")
    monkeypatch.setenv("BUNDLE_DUPLICATE_KEYS", "warn")  # ours wins over MONAI's
    with pytest.warns(DuplicateKeyWarning):
        assert Config.load(path).get("a") == 2
    monkeypatch.setenv("BUNDLE_DUPLICATE_KEYS", "sometimes")
    with pytest.raises(ConfigError, match="BUNDLE_DUPLICATE_KEYS='sometimes' is not warn or error"):
        Config.load(path)
    with pytest.raises(ValueError, match="duplicate_keys must be one of"):
        with duplicate_keys("ignore"):
            pass


def test_verify_reports_duplicate_keys_as_errors(tmp_path):
    import shutil

    from bundle import verify_bundle

    root = tmp_path / "digits"
    shutil.copytree(REPO / "zoo" / "digits_classification", root)
    path = root / "configs" / "inference.json"
    text = path.read_text()
    path.write_text(text.replace("{", '{\n    "bundle_root": ".",', 1))
    report = verify_bundle(root, net=False, weights=False)
    problems = [p for p in report.problems if "duplicate key 'bundle_root'" in p.message]
    assert problems and problems[0].severity == "error"
    assert str(problems[0].location).startswith("configs/inference.json:3:")  # the later of the two


@pytest.mark.parametrize(
    "name, text",
    [
        pytest.param("s.json", '{"a": [{"k": 1}, {"k": 2}], "b": {"k": 3}}', id="json"),
        pytest.param("s.yaml", "a:\n  - k: 1\n  - k: 2\nb:\n  k: 3\n", id="yaml"),
    ],
)
def test_same_key_in_different_mappings_is_fine(tmp_path, name, text):
    assert Config.load(write(tmp_path, name, text)).get("a::1::k") == 2


# --- ConfigParser API ----------------------------------------------------------------------------


def test_read_config_accepts_a_list_a_comma_string_and_a_dict(two_files):
    first, second = two_files
    as_list, as_text = ConfigParser(), ConfigParser()
    as_list.read_config([first, second])
    as_text.read_config(f"{first},{second}")
    assert as_list.config == as_text.config
    assert as_list["lr"] == 0.01
    data = {"a": {"b": 1}}
    as_dict = ConfigParser()
    as_dict.read_config(data)
    as_dict["a::b"] = 2
    assert data == {"a": {"b": 1}}
    assert as_dict["a::b"] == 2


def test_get_parsed_content_options():
    config = {"net": {"_target_": "torch.nn.Linear", "in_features": "@n", "out_features": 1}, "n": 2, "e": "$@n * 2"}
    parser = ConfigParser(config)
    net = parser.get_parsed_content("net")
    assert parser.get_parsed_content("net") is net  # lazy (the default) reuses
    assert parser.get_parsed_content("net", lazy=False) is not net  # parses and instantiates again

    component = parser.get_parsed_content("net", instantiate=False)
    assert isinstance(component, ConfigComponent)
    assert component.get_config()["in_features"] == 2  # references substituted
    assert component.instantiate().in_features == 2

    expression = parser.get_parsed_content("e", eval_expr=False)
    assert isinstance(expression, ConfigExpression)
    assert expression.evaluate() == 4

    assert parser.get_parsed_content("nope", default=5) == 5
    assert parser.get_parsed_content("nope", default=ConfigItem({"k": 1})) == {"k": 1}
    assert parser.get_parsed_content("")["e"] == 4
    with pytest.raises(MissingIdError, match="id 'nett' is not in the config") as info:
        parser.get_parsed_content("nett")
    assert "net" in info.value.candidates
    assert isinstance(info.value, KeyError)


def test_get_set_update_and_items():
    data = {"a": {"b": [1, 2]}}
    parser = ConfigParser(data)
    assert parser.get("a::b::1") == 2
    assert parser.get("a::x", "default") == "default"
    assert parser.get("a::b::9") is None
    parser.set(3, "x::y::z")  # creates the parents
    assert parser["x"] == {"y": {"z": 3}}
    parser.update({"a::b::0": 10, "a#c": "@x::y::z"})
    assert parser["a"] == {"b": [10, 2], "c": "@x::y::z"}
    parser["a::b::1"] = 20
    assert parser.get_parsed_content("a") == {"b": [10, 20], "c": 3}
    assert "a::b::1" in parser and "a#b" in parser and "a::nope" not in parser and "a::b::7" not in parser
    assert data == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(
    "id, missing",
    [
        pytest.param("nope::x", "nope", id="missing-parent"),
        pytest.param("a::nope::x", "a::nope", id="missing-nested-parent"),
        pytest.param("a::b::5", "a::b::5", id="list-index-out-of-range"),
    ],
)
def test_setitem_needs_the_parent(id, missing):
    parser = ConfigParser({"a": {"b": [1]}})
    with pytest.raises(MissingIdError) as info:
        parser[id] = 1
    assert isinstance(info.value, KeyError)
    assert info.value.missing_id == missing
    assert "parser.set" in info.value.hint
    with pytest.raises(KeyError):
        parser.update({id: 1})


def test_setting_a_value_resets_what_is_resolved():
    parser = ConfigParser({"n": 1, "e": "$@n + 1"})
    assert parser.get_parsed_content("e") == 2
    parser["n"] = 5
    assert parser.get_parsed_content("e") == 6


def test_attribute_access():
    parser = ConfigParser({"net": {"_target_": "torch.nn.Identity"}, "n": 3})
    assert parser.n == 3
    assert type(parser.net).__name__ == "Identity"
    assert not hasattr(parser, "nope")  # MONAI raises KeyError here
    assert not hasattr(parser, "_private")
    with pytest.raises(AttributeError, match="nope"):
        parser.nope  # noqa: B018


def test_deepcopy_and_pickle_keep_the_config_and_resolve_anew():
    parser = ConfigParser({"imp": "$import glob", "g": "$glob.escape('[')", "net": {"_target_": "torch.nn.Identity"}})
    net = parser.get_parsed_content("net")
    assert parser.get_parsed_content("g") == "[[]"  # a module is now bound: it cannot be pickled
    for clone in (copy.deepcopy(parser), pickle.loads(pickle.dumps(parser))):
        assert clone.config == parser.config and clone.config is not parser.config
        assert clone.get_parsed_content("g") == "[[]"
        assert clone.get_parsed_content("net") is not net
    assert parser.get_parsed_content("net") is net


def test_load_and_export_config_files(tmp_path, two_files):
    first, _ = two_files
    assert ConfigParser.load_config_file(first)["lr"] == 0.1
    assert ConfigParser.load_config_file("") == {}
    assert ConfigParser.load_config_files({"a": 1}) == {"a": 1}
    data = {"a": [1, {"b": None}], "s": "x"}
    for name, fmt in (("out.json", "json"), ("out.yaml", "yaml")):
        path = tmp_path / "export" / name
        ConfigParser.export_config_file(data, path, fmt=fmt)
        assert ConfigParser.load_config_file(path) == data
    assert json.loads((tmp_path / "export" / "out.json").read_text()) == data
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["out.json", "out.yaml"]  # no temp file left
    with pytest.raises(ValueError, match="unknown format"):
        ConfigParser.export_config_file(data, tmp_path / "x.toml", fmt="toml")


@pytest.mark.parametrize(
    "src, expected",
    [
        pytest.param("configs/a.json::net::0", ("configs/a.json", "net::0"), id="json-::"),
        pytest.param("configs/a.YAML#net#0", ("configs/a.YAML", "net::0"), id="yaml-#"),
        pytest.param("C:/dir/f.yml#k", ("C:/dir/f.yml", "k"), id="windows-path"),
        pytest.param("a.json", ("a.json", ""), id="whole-file"),
        pytest.param("net::0", ("", "net::0"), id="id-only"),
    ],
)
def test_split_path_id(src, expected):
    assert ConfigParser.split_path_id(src) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("@::x", "@a::b::x", id="@::x"),
        pytest.param("@::::x", "@a::x", id="@::::x"),
        pytest.param("@#x", "@a::b::x", id="@#x"),
        pytest.param("@##x", "@a::x", id="@##x"),
        pytest.param("%::::x", "%a::x", id="%::::x"),
        pytest.param("$@::x + @##y", "$@a::b::x + @a::y", id="expression"),
        pytest.param("@x", "@x", id="absolute-unchanged"),
        pytest.param("plain ::x", "plain ::x", id="plain-string-unchanged"),
    ],
)
def test_resolve_relative_ids(value, expected):
    assert ConfigParser.resolve_relative_ids("a::b::c", value) == expected


# --- MONAI's items and ReferenceResolver used directly --------------------------------------------


def test_reference_resolver_with_items_added_one_by_one():
    # the flat form of MONAI's own tests: every node is an item, ids written with "#"
    configs = {
        "loader": {"_target_": "collections.OrderedDict", "data": "@data", "fn": "$scale"},
        "loader#_target_": "collections.OrderedDict",
        "loader#data": "@data",
        "loader#fn": "$scale",
        "data": {"_target_": "collections.deque", "iterable": [1, 2]},
        "data#iterable": [1, 2],
        "data#iterable#0": 1,
        "n": 2,
        "e": "$@n + 1",
        "imp": "$import json",
        "dumped": "$json.dumps(@n)",
    }
    resolver = ReferenceResolver()
    for k, v in configs.items():
        if ConfigComponent.is_instantiable(v):
            resolver.add_item(ConfigComponent(config=v, id=k))
        elif ConfigExpression.is_expression(v):
            resolver.add_item(ConfigExpression(config=v, id=k, globals={"scale": abs}))
        else:
            resolver.add_item(ConfigItem(config=v, id=k))
    loader = resolver.get_resolved_content("loader")
    assert loader == collections.OrderedDict(data=collections.deque([1, 2]), fn=abs)
    assert resolver.get_resolved_content("e") == 3
    assert resolver.get_resolved_content("dumped") == "2"
    assert resolver.get_resolved_content("data#iterable#0") == 1
    assert resolver.is_resolved()

    # MONAI's lazy instantiation: the resolved item holds resolved arguments
    item = resolver.get_item("loader", resolve=True)
    config = item.get_config()
    assert config["data"] is loader["data"]
    config["extra"] = 1
    item.update_config(config)
    assert item.instantiate()["extra"] == 1

    resolver.add_item(ConfigItem(5, id="late"))
    assert resolver.get_resolved_content("loader") is loader  # adding an item keeps what is resolved
    assert resolver.get_resolved_content("late") == 5
    assert resolver.remove_resolved_content("e") == 3
    resolver.reset()
    assert resolver.items == {} and not resolver.is_resolved()


def test_reference_resolver_circular_items_raise_value_error():
    resolver = ReferenceResolver()
    for k, v in {"A": "@B", "B": "@C", "C": "@A"}.items():
        resolver.add_item(ConfigComponent(config=v, id=k))
    for k in "ABC":
        with pytest.raises(ValueError, match="circular reference"):
            resolver.get_resolved_content(k)


def test_reference_resolver_class_methods():
    assert ReferenceResolver.normalize_id("a#b#0") == "a::b::0"
    assert ReferenceResolver.split_id("a#b::c") == ["a", "b", "c"]
    assert ReferenceResolver.split_id("a::b::c", last=True) == ["a::b", "c"]
    assert ReferenceResolver.match_refs_pattern("$@a + @b::c + @a + 'x@y'") == {"a": 2, "b::c": 1}
    assert ReferenceResolver.update_refs_pattern("$@a + 1", {"a": 1}) == "$__local_refs['a'] + 1"
    assert ReferenceResolver.update_refs_pattern("@a", {"a": [1]}) == [1]
    config = {"x": "@a", "y": [{"_target_": "t"}, "$@b"]}
    assert ReferenceResolver.find_refs_in_config(config, "r") == {"a": 1, "r::y::0": 1, "r::y::1": 1, "b": 1}


@pytest.mark.parametrize(
    "text, kwargs, expected",
    [
        pytest.param("$__local_refs['a'] + 1", {"globals": {"__local_refs": {"a": 1}}}, 2, id="monai-rewritten-text"),
        pytest.param("$@a + 1", {"globals": {"__local_refs": {"a": 1}}}, 2, id="reference-from-__local_refs"),
        pytest.param("$var * 2", {"globals": {"var": 21}}, 42, id="globals"),
        pytest.param("$var * 2", {"locals": {"var": 4}}, 8, id="locals"),
        pytest.param("$(lambda x: x + var)(1)", {"globals": {"var": 1}}, 2, id="lambda-sees-globals"),
    ],
)
def test_config_expression_evaluate(text, kwargs, expected):
    assert ConfigExpression(config=text, id="e").evaluate(**kwargs) == expected


@pytest.mark.parametrize(
    "statement, names",
    [
        pytest.param("$import json", ["json"], id="import"),
        pytest.param("$import json as j", ["j"], id="import-as"),
        pytest.param("$from json import dump", ["dump"], id="from-import"),
        pytest.param("$from json import dump as jd, dumps as ds", ["jd", "ds"], id="from-import-two-as"),
    ],
)
def test_config_expression_import_binds_into_its_globals(statement, names):
    test_globals: dict = {}
    ConfigExpression(id="", config=statement, globals=test_globals).evaluate()
    assert sorted(test_globals) == sorted(names)
    assert all(test_globals[n] is not None for n in names)
    assert ConfigExpression.is_import_statement(statement)
    assert not ConfigExpression.is_import_statement("import json")


def test_config_component_standalone():
    component = ConfigComponent({"_target_": "torch.nn.Linear", "in_features": 1, "out_features": 2}, id="c")
    assert component.resolve_module_name() == "torch.nn.Linear"
    assert component.resolve_args() == {"in_features": 1, "out_features": 2}
    assert component.instantiate(out_features=4).out_features == 4
    assert ConfigComponent({"_target_": "torch.nn.Linear", "_disabled_": "true"}).instantiate() is None
    assert ConfigComponent("not a component").instantiate() is None
    assert not ConfigComponent.is_instantiable({"a": 1})


# --- overrides -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("[16, 32]", [16, 32], id="list"),
        pytest.param('{"a": 1}', {"a": 1}, id="dict"),
        pytest.param("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}, id="bare-words-in-a-dict"),
        pytest.param("[a, b]", ["a", "b"], id="bare-words-in-a-list"),
        pytest.param("0.5", 0.5, id="float"),
        pytest.param("1e-3", 0.001, id="exponent"),
        pytest.param("-1", -1, id="negative-int"),
        pytest.param("1,2", (1, 2), id="commas-make-a-tuple"),
        pytest.param("True", True, id="True"),
        pytest.param("False", False, id="False"),
        pytest.param("true", "true", id="lower-case-true-is-text"),
        pytest.param("false", "false", id="lower-case-false-is-text"),
        pytest.param("None", None, id="None"),
        pytest.param("null", "null", id="null-is-text"),
        pytest.param('{"a": null}', {"a": "null"}, id="null-in-a-dict-is-text"),
        pytest.param('"12"', "12", id="quoted-number-stays-string"),
        pytest.param("01", "01", id="leading-zero-stays-string"),
        pytest.param("/data/images", "/data/images", id="path-string"),
        pytest.param("hello world", "hello world", id="plain-string"),
        pytest.param("yes", "yes", id="yaml-bool-words-stay-strings"),
        pytest.param("$@a + 1", "$@a + 1", id="expression-kept"),
        pytest.param("@net", "@net", id="reference-kept"),
        pytest.param("%a.json::x", "%a.json::x", id="macro-kept"),
    ],
)
def test_parse_value_reads_as_monai_command_line_does(text, expected):
    """The value MONAI's CLI gives (fire's parser) is the value we give: the same command, the same model."""
    from fire.parser import DefaultParseValue

    assert parse_value(text) == expected == DefaultParseValue(text)
    assert type(parse_value(text)) is type(expected)


def test_parse_value_broken_collection_is_an_error():
    with pytest.raises(InvalidConfigError, match=r"override value '\[1, 2' looks like a list") as info:
        parse_value("[1, 2")
    assert info.value.location.file == "<command line>"


def test_split_overrides(caplog):
    args = ["a.json", "--x=1", "--y", "[1,2]", "--safe", "--id", "net", "--z", "None", "--+new::k", "3", "--n", "-1"]
    rest, overrides = split_overrides(args, known=["safe", "id"])
    assert rest == ["a.json", "--safe", "--id", "net"]
    assert overrides == {"x": 1, "y": [1, 2], "+new::k": 3, "n": -1}  # --z None is dropped, as MONAI drops it
    assert list(overrides) == ["x", "y", "+new::k", "n"]
    assert "--z None is ignored, as MONAI ignores it" in caplog.text and '"z": null' in caplog.text


@pytest.mark.parametrize(
    "args",
    [pytest.param(["--x"], id="at-the-end"), pytest.param(["--x", "--y", "1"], id="followed-by-option")],
)
def test_split_overrides_missing_value(args):
    with pytest.raises(InvalidConfigError, match="override '--x' has no value") as info:
        split_overrides(args)
    assert info.value.location.file == "<command line>"
    assert '"x": null in an --args_file' in info.value.hint


@pytest.fixture
def net_file(tmp_path):
    return write(tmp_path, "net.json", '{\n  "network": {"channels": [8], "act": "relu"},\n  "lr": 0.1\n}\n')


def test_config_load_overrides(net_file):
    overrides = {"network::channels": [16, 32], "lr": None, "+network::norm": "batch", "+extra": {"k": 1}}
    before = copy.deepcopy(overrides)
    cfg = Config.load(net_file, overrides=overrides)
    assert cfg.get("network") == {"channels": [16, 32], "act": "relu", "norm": "batch"}
    assert cfg.get("lr") is None
    assert cfg.get("extra") == {"k": 1}
    assert cfg.where("network::channels").file == "<overrides>"
    assert overrides == before


@pytest.mark.parametrize(
    "key, missing, candidate",
    [
        pytest.param("network::channel", "network::channel", "network::channels", id="nested-typo"),
        pytest.param("netwrk", "netwrk", "network", id="top-level-typo"),
    ],
)
def test_config_load_unknown_override_is_an_error(net_file, key, missing, candidate):
    with pytest.raises(MissingIdError) as info:
        Config.load(net_file, overrides={key: 1})
    err = info.value
    assert isinstance(err, KeyError)
    assert err.missing_id == missing
    assert candidate in err.candidates
    assert f"'{candidate}'" in err.hint and f"'+{missing}'" in err.hint
    assert err.location.file == "<overrides>"
    assert f"id '{missing}' is not in the config" in str(err)


def test_config_load_lenient_overrides_set_like_the_api(net_file):
    cfg = Config.load(net_file, overrides={"network::norm": "batch"}, strict_overrides=False)
    assert cfg.get("network::norm") == "batch"


def test_every_error_is_a_bundle_error():
    assert issubclass(MissingIdError, ConfigError) and issubclass(ConfigError, BundleError)


@pytest.mark.parametrize(
    "meta_text",
    [
        '{"a": 1, "b": "@::a"}',  # a relative reference
        '{"a": 1, "b": "\\u0040::a"}',  # the same, its sigil escaped
        "a: 1\nb: '@::a'\n",  # YAML
    ],
    ids=["json", "json-escaped", "yaml"],
)
def test_metadata_with_something_to_expand_is_expanded(bundle_dir, meta_text):
    suffix = ".yaml" if meta_text.startswith("a:") else ".json"
    meta = write(bundle_dir, "m" + suffix, meta_text)
    assert Config.load(meta=meta).resolve("_meta_::b") == 1
    parser = ConfigParser()
    parser.read_meta(meta)
    parser.read_config({"x": "@_meta_::b"})
    assert parser.get_parsed_content("x") == 1


def test_metadata_changed_after_reading_is_expanded(bundle_dir):
    meta = write(bundle_dir, "m.json", '{"a": 1}')
    parser = ConfigParser()
    parser.read_meta(meta)
    parser["_meta_::b"] = "@::a"
    parser.read_config({"x": "@_meta_::b"})
    assert parser.get_parsed_content("x") == 1
    assert parser.get_parsed_content("_meta_::b") == 1
