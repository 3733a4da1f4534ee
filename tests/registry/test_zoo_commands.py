"""The index commands: list, search, info, versions (their output, errors, and that they stay light)."""

from __future__ import annotations

import json
import subprocess
import sys

from bundle.cli import main
from tests.conftest import REPO


def test_list_shows_latest_by_version_order(zoo_index, capsys):
    assert main(["list", "--index", str(zoo_index)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "LATEST", "SUMMARY"]
    rows = {line.split()[0]: line.split()[1] for line in out[1:]}
    assert rows == {"brats_mri_segmentation": "0.3.0", "spleen_ct_segmentation": "0.10.0",
                    "spleen_deepedit_annotation": "0.1.0"}


def test_list_json(zoo_index, capsys):
    assert main(["list", "--index", str(zoo_index), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["brats_mri_segmentation", "spleen_ct_segmentation", "spleen_deepedit_annotation"]
    assert rows[1]["tags"] == ["ct", "segmentation"]


def test_search(zoo_index, capsys):
    assert main(["search", "deepedit", "--index", str(zoo_index)]) == 0
    out = capsys.readouterr().out
    assert "spleen_deepedit_annotation" in out and "spleen_ct_segmentation" not in out


def test_info_of_a_range(zoo_index, capsys):
    assert main(["info", "spleen_ct_segmentation@~0.9", "--index", str(zoo_index)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("spleen_ct_segmentation 0.9.0")
    assert "sha256:" in out and "versions:  1.0.0rc1, 0.10.0, 0.9.0, 0.2.0" in out


def test_info_unknown_version_lists_the_versions(zoo_index, capsys):
    assert main(["info", "spleen_ct_segmentation@3.0.0", "--index", str(zoo_index)]) == 1
    err = capsys.readouterr().err
    assert "no version matching '3.0.0'" in err and "versions there: 1.0.0rc1, 0.10.0" in err


def test_info_unknown_name_suggests(zoo_index, capsys):
    assert main(["info", "brats_mri_segmentaion", "--index", str(zoo_index)]) == 1
    assert "did you mean 'brats_mri_segmentation'" in capsys.readouterr().err


def test_versions_newest_first_with_yanked_marked(zoo_index, capsys):
    assert main(["versions", "brats_mri_segmentation", "--index", str(zoo_index)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("0.4.0") and "yanked: wrong weights" in lines[0]
    assert lines[1].startswith("0.3.0")


def test_default_index_is_the_zoo(capsys, monkeypatch):
    monkeypatch.delenv("BUNDLE_INDEX", raising=False)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for folder in (REPO / "zoo").glob("*/configs"):
        assert folder.parent.name in out


def test_index_commands_import_no_torch_jsonschema_or_requests(zoo_index):
    code = (
        "import sys\nfrom bundle.cli import main\n"
        f"main(['list', '--index', {str(zoo_index)!r}]); main(['info', 'spleen_ct_segmentation', '--index', {str(zoo_index)!r}])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'jsonschema', 'requests', 'huggingface_hub'}))"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert first.stdout.splitlines()[-1] == "['jsonschema']"  # the first read checks the schema
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert again.stdout.splitlines()[-1] == "[]"  # then the check is remembered by the content's sha256
