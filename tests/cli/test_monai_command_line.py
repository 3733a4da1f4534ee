"""The same `run` command line under `python -m monai.bundle` and `python -m bundle` gives a bundle the same
values (issue 11, item 2): words are read as MONAI's fire reads them, `--ID None` is ignored as MONAI ignores
it, and an override may add an id that does not exist (`run test --test "$print(1)"`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("monai")

pytestmark = [pytest.mark.monai, pytest.mark.integration]

CONFIG = {
    "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11,
    "show": "$print('VALUES', repr([@a, @b, @c, @d, @e, @f, @g, @h, @i, @j, @k]))",
}


def _both(tmp_path, *args):
    (tmp_path / "c.json").write_text(json.dumps(CONFIG))
    outputs = []
    for module in ("monai.bundle", "bundle"):
        proc = subprocess.run([sys.executable, "-m", module, "run", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, f"{module}: {proc.stderr[-2000:]}"
        outputs.append((proc.stdout, proc.stderr))
    return outputs


def _printed(stdout, marker):
    return [line for line in stdout.splitlines() if line.startswith(marker)]


def test_values_mean_what_they_mean_to_monai(tmp_path):
    words = ["--a", "false", "--b", "None", "--c", "null", "--d", "a,b", "--e", '{"k": null, "n": [1, x]}',
             "--f", "1e3", "--g", "01", "--h=False", "--i", "[1, 2]", "--j", "$@a + '!'", "--k", "'quoted'"]
    (monai_out, _), (ours_out, ours_err) = _both(tmp_path, "show", "--config_file", "c.json", *words)
    assert _printed(ours_out, "VALUES") == _printed(monai_out, "VALUES")
    assert _printed(ours_out, "VALUES") == [
        "VALUES ['false', 2, 'null', ('a', 'b'), {'k': 'null', 'n': [1, 'x']}, 1000.0, '01', False, [1, 2], "
        "'false!', 'quoted']"
    ]
    assert "--b None is ignored, as MONAI ignores it" in ours_err


def test_an_override_adds_a_new_id(tmp_path):
    (monai_out, _), (ours_out, _) = _both(tmp_path, "test", "--test", "$print('NEW', 1)", "--config_file", "c.json")
    assert _printed(ours_out, "NEW") == _printed(monai_out, "NEW") == ["NEW 1"]


def test_args_file_nulls_set_null_and_the_command_line_wins(tmp_path):
    (tmp_path / "args.json").write_text(json.dumps({"a": None, "b": "x", "config_file": "c.json"}))
    (monai_out, _), (ours_out, _) = _both(tmp_path, "show", "--args_file", "args.json", "--b", "True")
    assert _printed(ours_out, "VALUES") == _printed(monai_out, "VALUES")
    assert _printed(ours_out, "VALUES")[0].startswith("VALUES [None, True, 3,")
