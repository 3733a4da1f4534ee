"""The settings from environment variables: one boolean rule, a clear error for a bad value, the defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bundle import settings
from bundle.errors import FormatError, SettingError, ZooError

FLAGS = {
    "BUNDLE_OFFLINE": settings.offline,
    "BUNDLE_DEBUG": settings.debug,
    "BUNDLE_NO_PROGRESS": settings.no_progress,
    "HF_HUB_OFFLINE": settings.hf_hub_offline,
}
VARIABLES = [
    "BUNDLE_CACHE_DIR", "BUNDLE_HTTP_TIMEOUT", "BUNDLE_MAX_EXTRACT_BYTES", "BUNDLE_INDEX", "BUNDLE_INDEX_TTL",
    "BUNDLE_MONAI_INDEX", "BUNDLE_DOWNLOAD_SOURCE", "BUNDLE_DOWNLOAD_SRC", "BUNDLE_OUTPUT_DIR", "BUNDLE_LOG_RANKS",
    "BUNDLE_GITHUB_URL", "BUNDLE_GITHUB_API", "GITHUB_API_URL", "GITHUB_TOKEN", "GH_TOKEN", "HF_ENDPOINT", "HF_TOKEN",
    *FLAGS,
]  # fmt: skip


@pytest.fixture
def clean(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return monkeypatch


@pytest.mark.parametrize("variable", FLAGS)
@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True), (" On ", True),
    ("0", False), ("false", False), ("False", False), ("no", False), ("off", False), ("", False), ("  ", False),
], ids=repr)  # fmt: skip
def test_one_rule_for_every_boolean(clean, variable, value, expected):
    clean.setenv(variable, value)
    assert FLAGS[variable]() is expected


@pytest.mark.parametrize("variable", FLAGS)
def test_an_unset_boolean_is_false(clean, variable):
    assert FLAGS[variable]() is False


@pytest.mark.parametrize("variable", FLAGS)
@pytest.mark.parametrize("value", ["2", "maybe", "enabled", "y"])
def test_a_nonsense_boolean_is_an_error_naming_the_variable(clean, variable, value):
    clean.setenv(variable, value)
    with pytest.raises(SettingError, match=f"{variable}='{value}' is not a boolean") as info:
        FLAGS[variable]()
    assert (info.value.variable, info.value.value, info.value.expected) == (variable, value, "a boolean")
    assert "1/true/yes/on" in info.value.hint
    assert isinstance(info.value, ValueError)


def test_defaults(clean, tmp_path):
    assert settings.cache_root() == tmp_path / "cache" / "bundle"
    assert settings.output_root() == tmp_path / "data" / "bundle" / "outputs"
    assert settings.http_timeout() == (10.0, 60.0)
    assert settings.max_extract_bytes() == 20 * 1024**3
    assert settings.index() == ""
    assert settings.index_ttl() == 600.0
    assert settings.monai_index().endswith("/model-zoo/dev/models/model_info.json")
    assert settings.download_source() == "index"
    assert settings.log_ranks() == frozenset({0})
    assert settings.github_url() == "https://github.com"
    assert settings.github_api() == "https://api.github.com"
    assert settings.github_token() is None
    assert settings.hf_endpoint() is None
    assert settings.hf_token() is None


def test_an_empty_value_is_the_default(clean, tmp_path):
    for name in VARIABLES:
        clean.setenv(name, "")
    assert settings.cache_root() == tmp_path / "cache" / "bundle"
    assert settings.github_url() == "https://github.com"
    assert settings.download_source() == "index"
    assert settings.github_token() is None


def test_values_are_read_on_every_call(clean, tmp_path):
    clean.setenv("BUNDLE_CACHE_DIR", str(tmp_path / "a"))
    assert settings.cache_root() == tmp_path / "a"
    clean.setenv("BUNDLE_CACHE_DIR", "~/b")
    assert settings.cache_root() == Path("~/b").expanduser()


@pytest.mark.parametrize("variable, value, call, expected", [
    ("BUNDLE_HTTP_TIMEOUT", "120", settings.http_timeout, (120.0, 120.0)),
    ("BUNDLE_HTTP_TIMEOUT", "5,300", settings.http_timeout, (5.0, 300.0)),
    ("BUNDLE_MAX_EXTRACT_BYTES", "50G", settings.max_extract_bytes, 50 << 30),
    ("BUNDLE_MAX_EXTRACT_BYTES", "1.5MiB", settings.max_extract_bytes, 3 << 19),
    ("BUNDLE_INDEX_TTL", "0", settings.index_ttl, 0.0),
    ("BUNDLE_LOG_RANKS", "0,2", settings.log_ranks, frozenset({0, 2})),
    ("BUNDLE_LOG_RANKS", "ALL", settings.log_ranks, None),
    ("BUNDLE_DOWNLOAD_SRC", "github", settings.download_source, "github"),
    ("BUNDLE_GITHUB_URL", "https://git.example.org/", settings.github_url, "https://git.example.org"),
    ("GITHUB_API_URL", "https://git.example.org/api/v3/", settings.github_api, "https://git.example.org/api/v3"),
    ("GH_TOKEN", "ghp_x", settings.github_token, "ghp_x"),
], ids=lambda v: v if isinstance(v, str) else None)  # fmt: skip
def test_values(clean, variable, value, call, expected):
    clean.setenv(variable, value)
    assert call() == expected


def test_the_package_variable_comes_before_the_one_it_stands_in_for(clean):
    clean.setenv("BUNDLE_DOWNLOAD_SRC", "monai")
    clean.setenv("BUNDLE_DOWNLOAD_SOURCE", "hf")
    clean.setenv("GITHUB_API_URL", "https://b.example")
    clean.setenv("BUNDLE_GITHUB_API", "https://a.example")
    clean.setenv("GH_TOKEN", "second")
    clean.setenv("GITHUB_TOKEN", "first")
    assert (settings.download_source(), settings.github_api(), settings.github_token()) == (
        "hf", "https://a.example", "first")


@pytest.mark.parametrize("variable, value, call, error", [
    ("BUNDLE_INDEX_TTL", "soon", settings.index_ttl, SettingError),
    ("BUNDLE_HTTP_TIMEOUT", "fast", settings.http_timeout, ZooError),
    ("BUNDLE_HTTP_TIMEOUT", "0", settings.http_timeout, ZooError),
    ("BUNDLE_MAX_EXTRACT_BYTES", "lots", settings.max_extract_bytes, FormatError),
    ("BUNDLE_LOG_RANKS", "first", settings.log_ranks, FormatError),
], ids=lambda v: v if isinstance(v, str) else None)  # fmt: skip
def test_a_bad_value_is_an_error_naming_the_variable(clean, variable, value, call, error):
    clean.setenv(variable, value)
    with pytest.raises(error, match=f"{variable}='{value}' is not ") as info:
        call()
    assert info.value.hint


def test_log_ranks_reads_a_given_environment(clean):
    assert settings.log_ranks({"BUNDLE_LOG_RANKS": "3"}) == frozenset({3})


def test_a_nonsense_bundle_debug_fails_the_command_with_a_message(tmp_path):
    env = {"PATH": "", "HOME": str(tmp_path), "BUNDLE_DEBUG": "verbose"}
    done = subprocess.run([sys.executable, "-m", "bundle", "cache", "dir"], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "error: BUNDLE_DEBUG='verbose' is not a boolean" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_settings_imports_nothing_heavy():
    code = "import sys, bundle.settings; print(sorted(m for m in ('torch', 'platformdirs', 'bundle.errors') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_docs_table_names_every_setting():
    from tests.conftest import REPO

    table = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in settings.__all__:
        assert f"`{name}()`" in table, f"docs/settings.md does not list bundle.settings.{name}"
