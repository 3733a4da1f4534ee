"""MONAI's switches and error types, each call made under ``monai.bundle`` and under ours and compared
(issue 11, item 4): duplicate keys warn (``MONAI_FAIL_ON_DUPLICATE_CONFIG=1`` raises), a missing reference
raises a ``ValueError`` unless ``ReferenceResolver.allow_missing_reference`` (or
``MONAI_ALLOW_MISSING_REFERENCE``) lets it stay text, and a failing expression raises ``RuntimeError``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

import bundle

monai_bundle = pytest.importorskip("monai.bundle")

pytestmark = pytest.mark.monai

ENGINES = {"monai": monai_bundle, "ours": bundle}

DUPLICATES = {
    "d.json": '{\n  "a": 1,\n  "net": {"k": 1, "k": 2},\n  "a": 3\n}\n',
    "d.yaml": "a: 1\nnet:\n  k: 1\n  k: 2\na: 3\n",
}


def _read(engine, path):
    parser = engine.ConfigParser()
    parser.read_config(str(path))
    return parser.get("")


@pytest.mark.parametrize("name", sorted(DUPLICATES))
def test_duplicate_keys_warn_and_keep_the_later_value(tmp_path, monkeypatch, name):
    monkeypatch.delenv("MONAI_FAIL_ON_DUPLICATE_CONFIG", raising=False)
    path = tmp_path / name
    path.write_text(DUPLICATES[name])
    seen = {}
    for label, engine in ENGINES.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            seen[label] = _read(engine, path)
        messages = [str(w.message) for w in caught if "Duplicate key" in str(w.message)]
        assert sorted(m.split(" at ")[0].split(";")[0] for m in messages) == ["Duplicate key: `a`", "Duplicate key: `k`"]
        if label == "ours":  # where: both positions
            assert all(f" at {path}:" in m and f"(first written at {path}:" in m for m in messages), messages
    assert seen["ours"] == seen["monai"] == {"_meta_": {}, "a": 3, "net": {"k": 2}}


@pytest.mark.parametrize("name", sorted(DUPLICATES))
def test_monai_fail_on_duplicate_config_raises_value_error(tmp_path, monkeypatch, name):
    monkeypatch.setenv("MONAI_FAIL_ON_DUPLICATE_CONFIG", "1")
    path = tmp_path / name
    path.write_text(DUPLICATES[name])
    for engine in ENGINES.values():
        with pytest.raises(ValueError, match=r"(?i)duplicate key"):
            _read(engine, path)


CONFIG = {"a": "@D", "b": ["@D", 1], "c": {"k": "@D::x"}, "d": "$'t' + '@F'", "e": "$str(len([@a]))", "f": "$@a + '!'"}


@pytest.fixture
def allow_missing(monkeypatch):
    for engine in ENGINES.values():
        monkeypatch.setattr(engine.ReferenceResolver, "allow_missing_reference", True)


def test_allow_missing_reference_leaves_the_text(allow_missing):
    results = {}
    for label, engine in ENGINES.items():
        parser = engine.ConfigParser(dict(CONFIG))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results[label] = {k: parser.get_parsed_content(k) for k in CONFIG}
        assert any("the referring item `@D` is not defined" in str(w.message) for w in caught)
    assert results["ours"] == results["monai"]
    assert results["ours"]["f"] == "@D!"


def test_missing_reference_is_a_value_error():
    for engine in ENGINES.values():
        parser = engine.ConfigParser({"net": {"k": 1}, "x": "@nett"})
        with pytest.raises(ValueError, match="nett"):
            parser.get_parsed_content("x")


def test_missing_reference_says_where_and_suggests():
    parser = bundle.ConfigParser({"net": {"k": 1}, "x": "@nett"})
    with pytest.raises(bundle.BundleError) as info:
        parser.get_parsed_content("x")
    assert info.value.config_id == "x" and "'net'" in str(info.value)


def test_failing_expression_is_a_runtime_error_naming_it():
    for label, engine in ENGINES.items():
        parser = engine.ConfigParser({"n": 0, "x": "$1 / @n"})
        with pytest.raises(RuntimeError) as info:
            parser.get_parsed_content("x")
        if label == "ours":
            assert "'$1 / @n'" in str(info.value) and "ZeroDivisionError" in str(info.value)
            assert info.value.config_id == "x"


def test_monai_allow_missing_reference_environment_variable(tmp_path):
    script = textwrap.dedent("""
        import sys, warnings
        warnings.simplefilter("ignore")
        engine = __import__(sys.argv[1], fromlist=["ConfigParser"])
        print(repr(engine.ConfigParser({"a": "@D"}).get_parsed_content("a")))
    """)
    env = {"MONAI_ALLOW_MISSING_REFERENCE": "1", "PATH": "/usr/bin:/bin"}
    outputs = [
        subprocess.run([sys.executable, "-c", script, module], capture_output=True, text=True, env=env, timeout=120,
                       cwd=tmp_path).stdout
        for module in ("monai.bundle", "bundle")
    ]
    assert outputs[0] == outputs[1] == "'@D'\n"
