"""Every config error: its class, message and attributes, and where it points (file:line:col, id).

Each error that comes from a file is checked for a JSON and a YAML source; errors raised from a
nested-id key of a second file, from a macro copy and from an override point where the offending
text is written.
"""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path

import pytest

from bundle import ConfigParser
from bundle.config.engine import Config
from bundle.config.loader import duplicate_keys
from bundle.errors import (
    BundleError,
    CircularReferenceError,
    ConfigSyntaxError,
    DuplicateKeyError,
    ExpressionError,
    ExpressionSyntaxError,
    InstantiationError,
    InvalidConfigError,
    MacroError,
    MissingIdError,
    MissingReferenceError,
    UnknownTargetError,
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def at(err: BundleError) -> tuple[str, int, int]:
    """(file name, line, column) of an error's location."""
    assert err.location is not None, f"{type(err).__name__} has no location: {err}"
    return Path(err.location.file).name, err.location.line, err.location.col


def assert_where(err: BundleError, name: str, line: int, col: int) -> None:
    assert at(err) == (name, line, col)
    assert str(err).startswith(f"{err.location}: ")  # the message leads with file:line:col


def load_and_resolve(path: Path, id: str):
    return Config.load(path).resolve(id)


# --- reading files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, message, line, col",
    [
        pytest.param("a.json", '{\n  "a": 1,\n  "b": ,\n}', "invalid JSON: Expecting value", 3, 8, id="json-missing-value"),
        pytest.param("a.json", '{\n  "a": 1,\n}', "invalid JSON: Expecting property name", 3, 1, id="json-trailing-comma"),
        pytest.param("a.json", "", "invalid JSON: Expecting value", 1, 1, id="json-empty"),
        pytest.param("a.yaml", "a: 1\nb: [1, 2\nc: 3\n", "invalid YAML: did not find expected ',' or ']'", 3, 2,
                     id="yaml-unclosed-list"),
        pytest.param("a.yaml", "a: 1\n  b: 2\n", "invalid YAML: mapping values are not allowed here", 2, 4,
                     id="yaml-bad-indent"),
    ],
)
def test_malformed_file(tmp_path, name, text, message, line, col):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigSyntaxError) as info:
        Config.load(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.message.startswith(message.split(" here")[0])
    assert_where(err, name, line, col)
    assert err.config_id is None
    with pytest.raises(ConfigSyntaxError):
        ConfigParser().read_config(path)


@pytest.mark.parametrize(
    "name, text, first, second",
    [
        pytest.param("d.json", '{\n  "a": 1,\n  "x": {"k": 1,\n    "k": 2}\n}', "d.json:3:9", (4, 5), id="json-nested"),
        pytest.param("d.json", '{\n  "a": 1,\n  "a": 2\n}', "d.json:2:3", (3, 3), id="json-top-level"),
        pytest.param("d.yaml", "a: 1\nx:\n  k: 1\n  k: 2\n", "d.yaml:3:3", (4, 3), id="yaml-nested"),
        pytest.param("d.yaml", "a: 1\nb: 2\na: 3\n", "d.yaml:1:1", (3, 1), id="yaml-top-level"),
    ],
)
def test_duplicate_key(tmp_path, name, text, first, second):
    path = write(tmp_path, name, text)
    with pytest.raises(DuplicateKeyError) as info, duplicate_keys("error"):
        Config.load(path)
    err = info.value
    key = "k" if "k: 2" in text or '"k": 2' in text else "a"
    assert err.key == key
    assert str(err.first).endswith(first)
    assert err.message == f"duplicate key '{key}' (first written at {err.first})"
    assert_where(err, name, *second)
    assert "remove one of them" in err.hint


def test_unsupported_suffix(tmp_path):
    path = write(tmp_path, "c.toml", "a = 1\n")
    for load in (Config.load, ConfigParser.load_config_file, ConfigParser().read_config):
        with pytest.raises(ConfigSyntaxError, match=r"'.*c\.toml' is not a config file: the suffix must be one of "
                                                     r"\.json, \.yaml, \.yml") as info:
            load(path)
        assert isinstance(info.value, ValueError)


def test_missing_file_is_also_a_file_not_found_error(tmp_path):
    path = tmp_path / "nope.json"
    for load in (Config.load, ConfigParser.load_config_file, ConfigParser().read_config):
        with pytest.raises(FileNotFoundError) as info:
            load(path)
        err = info.value
        assert isinstance(err, BundleError)
        assert err.message == f"config file '{path}' does not exist"
        assert "check the path" in err.hint


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "l.yaml", "- 1\n- 2\n")
    with pytest.raises(InvalidConfigError, match="a config file must hold a mapping at the top, not a list") as info:
        Config.load(path)
    assert_where(info.value, "l.yaml", 1, 1)


# --- targets -------------------------------------------------------------------------------------

TARGET_TYPO = {
    "json": ("t.json", '{\n  "a": 1,\n  "net": {"_target_": "torch.nn.Linearr", "in_features": 1}\n}', (3, 11)),
    "yaml": ("t.yaml", "a: 1\nnet:\n  _target_: torch.nn.Linearr\n  in_features: 1\n", (3, 3)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_unknown_target(tmp_path, fmt):
    name, text, pos = TARGET_TYPO[fmt]
    with pytest.raises(UnknownTargetError) as info:
        load_and_resolve(write(tmp_path, name, text), "net")
    err = info.value
    assert err.target == "torch.nn.Linearr"
    assert err.message == "unknown _target_ 'torch.nn.Linearr'"
    assert err.candidates[0] == "torch.nn.Linear"
    assert err.hint.startswith("did you mean 'torch.nn.Linear'")
    assert err.config_id == "net::_target_"
    assert_where(err, name, *pos)


INSTANTIATION = {
    "json": ("i.json", '{\n  "n": 1,\n  "net": {"_target_": "torch.nn.Linear",\n    "in_featurs": 2, "out_features": 3}\n}',
             (3, 3)),
    "yaml": ("i.yaml", "n: 1\nnet:\n  _target_: torch.nn.Linear\n  in_featurs: 2\n  out_features: 3\n", (2, 1)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_instantiation_error_names_id_and_target_and_chains_the_cause(tmp_path, fmt):
    name, text, pos = INSTANTIATION[fmt]
    with pytest.raises(InstantiationError) as info:
        load_and_resolve(write(tmp_path, name, text), "net")
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.target == "torch.nn.Linear"
    assert err.config_id == "net"
    assert err.message.startswith("calling torch.nn.Linear(in_featurs, out_features) raised TypeError: ")
    assert "unexpected keyword argument 'in_featurs'" in err.message
    assert isinstance(err.__cause__, TypeError)
    assert err.hint.startswith("'in_featurs' is not an argument of the target; did you mean 'in_features'")
    assert_where(err, name, *pos)


def test_instantiation_error_other_than_keyword_hints_debug_mode():
    with pytest.raises(InstantiationError, match=r"calling fractions\.Fraction\(numerator, denominator\) "
                                                 r"raised ZeroDivisionError") as info:
        Config({"f": {"_target_": "fractions.Fraction", "numerator": 1, "denominator": 0}}).resolve("f")
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert '"_mode_": "debug"' in info.value.hint


def test_target_that_is_not_callable():
    with pytest.raises(InvalidConfigError, match=r"_target_ 'math\.pi' is a float, which cannot be called") as info:
        Config({"c": {"_target_": "math.pi"}}).resolve("c")
    assert info.value.config_id == "c"


# --- references ----------------------------------------------------------------------------------

MISSING_REF = {
    "json": ("m.json", '{\n  "network": 1,\n  "x": "@netwrk"\n}', (3, 3)),
    "yaml": ("m.yaml", "network: 1\nx: '@netwrk'\n", (2, 1)),
    "json-expression": ("m.json", '{\n  "network": 1,\n  "x": {"y": "$@netwrk + 1"}\n}', (3, 9)),
    "yaml-expression": ("m.yaml", "network: 1\nx:\n  y: $@netwrk + 1\n", (3, 3)),
}


@pytest.mark.parametrize("case", list(MISSING_REF))
def test_missing_reference(tmp_path, case):
    name, text, pos = MISSING_REF[case]
    id = "x::y" if "expression" in case else "x"
    with pytest.raises(MissingReferenceError) as info:
        load_and_resolve(write(tmp_path, name, text), "x")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.reference == "netwrk"
    assert err.message == "reference '@netwrk' names no id in the config"
    assert "network" in err.candidates
    assert err.hint == "did you mean 'network'?"
    assert err.config_id == id
    assert_where(err, name, *pos)


def test_missing_reference_without_close_match():
    with pytest.raises(MissingReferenceError) as info:
        Config({"x": "@zzzzzz"}).resolve("x")
    assert info.value.hint == "check the spelling, or define the id"


CYCLE = {
    "json": ("c.json", '{\n  "a": "@b",\n  "b": "$@c + 1",\n  "c": "@a"\n}', [(2, 3), (3, 3), (4, 3)]),
    "yaml": ("c.yaml", "a: '@b'\nb: $@c + 1\nc: '@a'\n", [(1, 1), (2, 1), (3, 1)]),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_circular_reference_gives_the_full_path_and_each_link(tmp_path, fmt):
    name, text, positions = CYCLE[fmt]
    with pytest.raises(CircularReferenceError) as info:
        load_and_resolve(write(tmp_path, name, text), "a")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.cycle == ["a", "b", "c", "a"]
    assert err.message.startswith("circular reference: a -> b -> c -> a\n")
    for id, (line, col), written in zip("abc", positions, ["'@b'", "'$@c + 1'", "'@a'"]):
        assert f"{id}  ({err.location.file.rsplit(name, 1)[0]}{name}:{line}:{col}): {written}" in err.message
    assert len(err.links) == 3
    assert err.config_id == "a"
    assert_where(err, name, *positions[0])


def test_circular_reference_found_from_the_middle():
    with pytest.raises(CircularReferenceError) as info:
        Config({"a": "@b", "b": "@c", "c": "@a", "d": "@b"}).resolve("d")
    assert info.value.cycle == ["b", "c", "a", "b"]


@pytest.mark.parametrize(
    "config, cycle",
    [
        pytest.param({"x": "@x"}, ["x", "x"], id="reference"),
        pytest.param({"x": "$@x + 1"}, ["x", "x"], id="expression"),
        pytest.param({"x": {"_target_": "builtins.dict", "k": "@x"}}, ["x", "x::k", "x"], id="component-argument"),
    ],
)
def test_self_reference(config, cycle):
    with pytest.raises(CircularReferenceError) as info:
        Config(config).resolve("x")
    assert info.value.cycle == cycle
    assert info.value.message.startswith("circular reference: " + " -> ".join(cycle))


@pytest.mark.parametrize(
    "config, relative",
    [
        pytest.param({"a": {"b": "@::::::x"}}, "::::::x", id="reference"),
        pytest.param({"a": {"b": "$@###x + 1"}}, "###x", id="expression"),
        pytest.param({"a": {"b": "%::::::x"}}, "::::::x", id="macro"),
    ],
)
def test_relative_id_above_the_root(tmp_path, config, relative):
    path = write(tmp_path, "r.json", "{\n  \"a\": {\n    \"b\": " + repr(config["a"]["b"]).replace("'", '"') + "\n  }\n}")
    with pytest.raises(InvalidConfigError) as info:
        Config.load(path).resolve("a")
    err = info.value
    assert err.message == f"relative id '{relative}' goes 3 level(s) up from 'a::b', above the root of the config"
    assert err.config_id == "a::b"
    assert "fewer separators" in err.hint
    assert_where(err, "r.json", 3, 5)
    with pytest.raises(InvalidConfigError, match="above the root"):
        ConfigParser.resolve_relative_ids("a::b", config["a"]["b"])


# --- expressions ---------------------------------------------------------------------------------

SYNTAX = {
    "json": ("x.json", '{\n  "a": 1,\n  "x": "$1 +* 2"\n}', (3, 3)),
    "yaml": ("x.yaml", "a: 1\nx: $1 +* 2\n", (2, 1)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_expression_syntax_error_has_a_caret(tmp_path, fmt):
    name, text, pos = SYNTAX[fmt]
    with pytest.raises(ExpressionSyntaxError) as info:
        load_and_resolve(write(tmp_path, name, text), "x")
    err = info.value
    assert isinstance(err, SyntaxError) and isinstance(err, ExpressionError)
    assert err.expression == "1 +* 2"
    assert err.message == "expression is not valid Python: invalid syntax\n    $1 +* 2\n        ^"
    assert err.config_id == "x"
    assert_where(err, name, *pos)


def test_expression_that_is_a_statement():
    with pytest.raises(ExpressionSyntaxError, match="expression is not valid Python") as info:
        Config({"x": "$y = 1"}).resolve("x")
    assert "one Python expression" in info.value.hint


RAISING = {
    "json": ("r.json", '{\n  "d": 0,\n  "x": "$1 / @d"\n}', (3, 3)),
    "yaml": ("r.yaml", "d: 0\nx: $1 / @d\n", (2, 1)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_expression_raising_chains_the_original(tmp_path, fmt):
    name, text, pos = RAISING[fmt]
    with pytest.raises(ExpressionError) as info:
        load_and_resolve(write(tmp_path, name, text), "x")
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.message == "expression '$1 / @d' raised ZeroDivisionError: division by zero"
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert err.config_id == "x"
    assert_where(err, name, *pos)


@pytest.mark.parametrize(
    "expression, name, hint",
    [
        pytest.param("$glob.glob('*')", "glob", "'glob' is a module that is not imported: add \"$import glob\"",
                     id="module-not-imported"),
        pytest.param("$lenn([1])", "lenn", "did you mean 'len'?", id="typo-of-a-builtin"),
        pytest.param("$zzqqx + 1", "zzqqx", "if 'zzqqx' is a module, add an import", id="unknown"),
    ],
)
def test_unknown_name_in_an_expression(tmp_path, expression, name, hint):
    path = write(tmp_path, "n.yaml", f"a: 1\nx: {expression}\n")
    with pytest.raises(ExpressionError) as info:
        load_and_resolve(path, "x")
    err = info.value
    assert err.message == f"expression '{expression}' uses the unknown name '{name}'"
    assert err.hint.startswith(hint)
    assert isinstance(err.__cause__, NameError)
    assert_where(err, "n.yaml", 2, 1)


def test_import_of_a_missing_package_fails_where_it_is_used():
    """As in MONAI, importing a package that is not installed fails only when it is used."""
    from bundle.errors import MissingDependencyError

    cfg = Config({"i": "$import no_such_module_xyz", "x": "$no_such_module_xyz.f()"})
    assert "missing module" in repr(cfg.resolve("i"))
    with pytest.raises(MissingDependencyError, match="no_such_module_xyz.*import no_such_module_xyz") as info:
        cfg.resolve("x")
    assert info.value.config_id == "x"
    assert isinstance(info.value, ImportError)


def test_import_of_a_broken_module_is_an_error_at_the_import(tmp_path, monkeypatch):
    (tmp_path / "broken_mod_xyz.py").write_text("import no_such_dependency_abc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExpressionError, match="'import broken_mod_xyz' failed") as info:
        Config({"i": "$import broken_mod_xyz", "x": "$broken_mod_xyz.f()"}).resolve("x")
    assert info.value.config_id == "i"
    assert isinstance(info.value.__cause__, ImportError)


# --- macros --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, pos",
    [
        pytest.param("mf.json", '{\n  "a": 1,\n  "x": "%nope.json::net"\n}', (3, 3), id="json"),
        pytest.param("mf.yaml", "a: 1\nx: '%nope.json::net'\n", (2, 1), id="yaml"),
    ],
)
def test_macro_to_a_missing_file(tmp_path, monkeypatch, name, text, pos):
    monkeypatch.chdir(tmp_path)  # the bundle folder and the current folder are tried: here the same
    with pytest.raises(MacroError) as info:
        load_and_resolve(write(tmp_path, name, text), "x")
    err = info.value
    assert err.message == f"macro file 'nope.json' does not exist (looked for '{tmp_path / 'nope.json'}')"
    assert err.config_id == "x"
    assert "relative to the bundle folder" in err.hint
    assert_where(err, name, *pos)


@pytest.mark.parametrize(
    "name, text, pos",
    [
        pytest.param("mi.json", '{\n  "net": 1,\n  "x": "%nett"\n}', (3, 3), id="json"),
        pytest.param("mi.yaml", "net: 1\nx: '%nett'\n", (2, 1), id="yaml"),
    ],
)
def test_macro_to_a_missing_id(tmp_path, name, text, pos):
    with pytest.raises(MacroError) as info:
        load_and_resolve(write(tmp_path, name, text), "x")
    err = info.value
    assert err.message == "macro '%nett' names id 'nett', which is not in the config"
    assert err.hint == "did you mean 'net'?"
    assert err.config_id == "x"
    assert_where(err, name, *pos)


def test_macro_to_a_missing_id_in_another_file(tmp_path):
    other = write(tmp_path, "other.yaml", "network: 1\n")
    path = write(tmp_path, "m.json", '{\n  "x": "%other.yaml::netwrk"\n}')
    with pytest.raises(MacroError) as info:
        load_and_resolve(path, "x")
    err = info.value
    assert err.message == f"macro '%other.yaml::netwrk' names id 'netwrk', which is not in '{other}'"
    assert err.hint == "did you mean 'network'?"
    assert_where(err, "m.json", 2, 3)


# --- components ----------------------------------------------------------------------------------

BAD_MODE = {
    "json": ("mo.json", '{\n  "n": {"_target_": "builtins.dict",\n    "_mode_": "partial"}\n}', (3, 5)),
    "yaml": ("mo.yaml", "n:\n  _target_: builtins.dict\n  _mode_: partial\n", (3, 3)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_bad_mode(tmp_path, fmt):
    name, text, pos = BAD_MODE[fmt]
    with pytest.raises(InvalidConfigError) as info:
        load_and_resolve(write(tmp_path, name, text), "n")
    err = info.value
    assert err.message == "_mode_ is 'partial'; it must be one of default, callable, debug"
    assert err.config_id == "n"
    assert "'callable' returns a partial" in err.hint
    assert_where(err, name, *pos)


def test_bad_mode_close_match_hint():
    with pytest.raises(InvalidConfigError) as info:
        Config({"n": {"_target_": "builtins.dict", "_mode_": "callabel"}}).resolve("n")
    assert info.value.hint == "did you mean 'callable'?"


BAD_REQUIRES = {
    "json": ("rq.json", '{\n  "a": 1,\n  "n": {"_target_": "builtins.dict",\n    "_requires_": ["@a", 3]}\n}', (4, 26)),
    "yaml": ("rq.yaml", "a: 1\nn:\n  _target_: builtins.dict\n  _requires_:\n    - '@a'\n    - 3\n", (6, 7)),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_bad_requires(tmp_path, fmt):
    name, text, pos = BAD_REQUIRES[fmt]
    with pytest.raises(InvalidConfigError) as info:
        load_and_resolve(write(tmp_path, name, text), "n")
    err = info.value
    assert err.message == "_requires_ holds 3; it must be '@id', '$expression', a component, or a list of them"
    assert err.config_id == "n"
    assert "_requires_" in err.hint
    assert_where(err, name, *pos)


def test_bad_requires_single_value():
    with pytest.raises(InvalidConfigError, match="_requires_ holds 'initialize'"):
        Config({"n": {"_target_": "builtins.dict", "_requires_": "initialize"}}).resolve("n")


# --- overrides and the API -----------------------------------------------------------------------


def test_override_of_a_missing_id(tmp_path):
    path = write(tmp_path, "o.json", '{\n  "network": {"channels": [8]}\n}')
    overrides = {"network::chanels": [16]}
    with pytest.raises(MissingIdError) as info:
        Config.load(path, overrides=overrides)
    err = info.value
    assert isinstance(err, KeyError)
    assert err.missing_id == "network::chanels"
    assert err.candidates[0] == "network::channels"
    assert err.hint.startswith("did you mean 'network::channels'")
    assert "'+network::chanels'" in err.hint
    assert err.location.file == "<overrides>"
    assert str(err).startswith("<overrides>: ")
    assert overrides == {"network::chanels": [16]}


def test_missing_id_through_the_api():
    parser = ConfigParser({"network": 1})
    with pytest.raises(MissingIdError) as info:
        parser["netwrk"]  # noqa: B018
    assert info.value.candidates == ["network"]
    assert info.value.hint == "did you mean 'network'?"
    with pytest.raises(MissingIdError, match="id 'netwrk' is not in the config"):
        Config({"network": 1}).resolve("netwrk")


# --- errors point where the offending text is written ---------------------------------------------


@pytest.fixture
def base_file(tmp_path):
    return write(tmp_path, "base.json", '{\n  "train": {\n    "trainer": {"max_epochs": 1, "lr": 0.1}\n  }\n}\n')


@pytest.mark.parametrize(
    "name, text, pos",
    [
        pytest.param("second.json", '{\n  "a": 1,\n  "train::trainer::max_epochs": "$1 / 0"\n}', (3, 3),
                     id="json-::-key"),
        pytest.param("second.json", '{\n  "a": 1,\n  "train#trainer#max_epochs": "$1 / 0"\n}', (3, 3),
                     id="json-#-key"),
        pytest.param("second.yaml", "a: 1\nb: 2\ntrain::trainer::max_epochs: $1 / 0\n", (3, 1), id="yaml-::-key"),
        pytest.param("second.yaml", "a: 1\n+train::trainer: {x: $1 / 0}\n", (2, 19), id="yaml-+key"),
    ],
)
def test_error_from_a_nested_id_key_in_a_second_file(tmp_path, base_file, name, text, pos):
    second = write(tmp_path, name, text)
    for resolve in (lambda: Config.load(base_file, second).resolve("train"),
                    lambda: _parsed(base_file, second).get_parsed_content("train")):
        with pytest.raises(ExpressionError) as info:
            resolve()
        assert info.value.config_id.startswith("train::trainer::")
        assert_where(info.value, name, *pos)


def _parsed(*files) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(list(files))
    return parser


def test_error_in_a_second_file_whose_parent_is_missing(tmp_path, base_file):
    second = write(tmp_path, "second.yaml", "a: 1\ntrain::trainr::max_epochs: 3\n")
    with pytest.raises(MissingIdError) as info:
        Config.load(base_file, second)
    err = info.value
    assert err.missing_id == "train::trainr"
    assert "train::trainer" in err.candidates
    assert "did you mean 'train::trainer'" in err.hint and "'+train::trainr::max_epochs'" in err.hint
    assert err.config_id == "train::trainr::max_epochs"
    assert_where(err, "second.yaml", 2, 1)


def test_error_in_a_macro_copy_points_at_the_macro_source(tmp_path):
    source = write(tmp_path, "src.yaml", "a: 1\nnet:\n  _target_: torch.nn.Linear\n  in_features: $1 / 0\n")
    path = write(tmp_path, "m.json", '{\n  "b": 1,\n  "net": "%src.yaml::net",\n  "local": "%net"\n}')
    for id in ("net", "local"):
        with pytest.raises(ExpressionError) as info:
            Config.load(path).resolve(id)
        assert info.value.config_id == f"{id}::in_features"
        assert_where(info.value, source.name, 4, 3)


def test_error_in_a_local_macro_copy_points_at_the_copied_text(tmp_path):
    path = write(tmp_path, "m.yaml", "base:\n  k: $1 / 0\ncopy: '%base'\n")
    with pytest.raises(ExpressionError) as info:
        Config.load(path).resolve("copy")
    assert info.value.config_id == "copy::k"
    assert_where(info.value, "m.yaml", 2, 3)


@pytest.mark.parametrize(
    "value, error",
    [
        pytest.param("$1 / 0", ExpressionError, id="expression"),
        pytest.param("@nope", MissingReferenceError, id="reference"),
        pytest.param({"_target_": "torch.nn.Linearr"}, UnknownTargetError, id="target"),
    ],
)
def test_error_from_an_override_points_at_overrides(base_file, value, error):
    with pytest.raises(error) as info:
        Config.load(base_file, overrides={"train::trainer::lr": value}).resolve("train")
    assert info.value.location.file == "<overrides>"
    assert info.value.config_id.startswith("train::trainer::lr")


def test_error_from_a_value_set_through_the_api(base_file):
    parser = _parsed(base_file)
    parser["train::trainer::lr"] = "$1 / 0"
    with pytest.raises(ExpressionError) as info:
        parser.get_parsed_content("train")
    assert info.value.location.file == "<python: parser[...] = value>"
    assert info.value.config_id == "train::trainer::lr"


# --- errors as objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, id, error",
    [
        pytest.param({"x": "@x"}, "x", CircularReferenceError, id="circular"),
        pytest.param({"x": "@nope"}, "x", MissingReferenceError, id="missing-reference"),
        pytest.param({"x": "$1 +"}, "x", ExpressionSyntaxError, id="syntax"),
    ],
)
def test_errors_survive_pickle_with_their_attributes(config, id, error):
    with pytest.raises(error) as info:
        Config(copy.deepcopy(config)).resolve(id)
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is error
    assert str(clone) == str(info.value)
    assert clone.__dict__.keys() >= {"message", "location", "config_id", "hint"}
