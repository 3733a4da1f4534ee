"""A bundle's logging file: INI in trusted mode only, dictConfig files (checked in safe mode), defaults."""

from __future__ import annotations

import logging

import pytest

from bundle.errors import FormatError, UnsafeConfigError
from bundle.workflows import ConfigWorkflow
from bundle.workflows.base import BundleFileNotFoundError
from bundle.workflows.logs import apply_logging_file

pytestmark = pytest.mark.usefixtures("restore_logging")

CONF = """
[loggers]
keys=root,wftest

[handlers]
keys=console

[formatters]
keys=plain

[logger_root]
level=WARNING
handlers=console

[logger_wftest]
level=DEBUG
handlers=console
qualname=wftest
propagate=0

[handler_console]
class=StreamHandler
level=INFO
formatter=plain
args=(sys.stdout,)

[formatter_plain]
format=%(name)s %(message)s
"""

# fileConfig evaluates args=: this one would create a file if it were ever read in safe mode
EVIL_CONF = CONF.replace("args=(sys.stdout,)", "args=(open({marker!r}, 'w'),)")

DICT_YAML = """
version: 1
handlers:
  console: {class: logging.StreamHandler, stream: ext://sys.stderr}
loggers:
  wftest: {level: DEBUG, handlers: [console], propagate: false}
"""


def _run_config():
    return {"train": {"run": "$1"}}


def test_conf_file_applies_in_trusted_mode(make_bundle):
    root = make_bundle(_run_config(), files={"configs/logging.conf": CONF})
    ConfigWorkflow(str(root / "configs" / "train.json"))  # default: logging.conf next to the configs
    assert logging.getLogger("wftest").level == logging.DEBUG


def test_conf_file_is_refused_in_safe_mode_and_never_read(make_bundle, tmp_path):
    marker = tmp_path / "pwned"
    root = make_bundle(_run_config(), files={"configs/logging.conf": EVIL_CONF.format(marker=str(marker))})
    with pytest.raises(UnsafeConfigError, match="fileConfig evaluates") as info:
        ConfigWorkflow(str(root / "configs" / "train.json"), logging_file=str(root / "configs" / "logging.conf"),
                       trusted=False)
    assert "GHSA-wvpx-5qmp-46g3" in str(info.value)
    assert "dictConfig" in info.value.hint
    assert not marker.exists()


def test_default_conf_is_skipped_in_safe_mode(make_bundle, tmp_path, caplog):
    marker = tmp_path / "pwned"
    root = make_bundle(_run_config(), files={"configs/logging.conf": EVIL_CONF.format(marker=str(marker))})
    with caplog.at_level(logging.WARNING, logger="bundle"):
        wf = ConfigWorkflow(str(root / "configs" / "train.json"), trusted=False)
    wf.initialize()
    assert not marker.exists()
    assert "safe mode" in caplog.text and "logging.conf" in caplog.text


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "safe"])
def test_dict_config_yaml_applies_in_both_modes(make_bundle, trusted):
    root = make_bundle(_run_config(), files={"configs/logging.yaml": DICT_YAML})
    ConfigWorkflow(str(root / "configs" / "train.json"), trusted=trusted)  # found by default
    logger = logging.getLogger("wftest")
    assert logger.level == logging.DEBUG and logger.propagate is False


def test_dict_config_json(tmp_path):
    path = tmp_path / "log.json"
    path.write_text('{"version": 1, "loggers": {"wftest": {"level": "ERROR"}}}')
    logging.getLogger("wftest.child").setLevel(logging.INFO)  # existing loggers stay enabled
    apply_logging_file(path, trusted=False)
    assert logging.getLogger("wftest").level == logging.ERROR
    assert logging.getLogger("wftest.child").disabled is False


@pytest.mark.parametrize(
    "text, what",
    [
        ('{"version": 1, "handlers": {"h": {"()": "os.system", "command": "true"}}}', "factory"),
        ('{"version": 1, "handlers": {"h": {"class": "subprocess.Popen"}}}', "subprocess.Popen"),
        ('{"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://os.environ"}}}',
         "ext://os.environ"),
        ('{"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", ".": {"x": 1}}}}', "sets attributes"),
    ],
    ids=["factory", "class", "ext", "attributes"],
)
def test_dict_config_naming_code_is_refused_in_safe_mode(tmp_path, text, what):
    path = tmp_path / "log.json"
    path.write_text(text)
    with pytest.raises(UnsafeConfigError, match="safe mode refuses the logging file") as info:
        apply_logging_file(path, trusted=False)
    assert what in str(info.value)


def test_bad_logging_files_are_format_errors(tmp_path):
    path = tmp_path / "log.yaml"
    path.write_text("handlers: {}\n")
    with pytest.raises(FormatError, match="version: 1"):
        apply_logging_file(path)
    conf = tmp_path / "logging.conf"
    conf.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(FormatError, match="not a valid fileConfig INI file"):
        apply_logging_file(conf)


def test_missing_logging_file_is_an_error(make_bundle):
    root = make_bundle(_run_config())
    with pytest.raises(BundleFileNotFoundError, match="logging file '.*log.conf' does not exist"):
        ConfigWorkflow(str(root / "configs" / "train.json"), logging_file=str(root / "configs" / "log.conf"))


def test_logging_file_false_leaves_logging_alone(make_bundle):
    root = make_bundle(_run_config(), files={"configs/logging.conf": CONF})
    ConfigWorkflow(str(root / "configs" / "train.json"), logging_file=False)
    assert logging.getLogger("wftest").level == logging.NOTSET
