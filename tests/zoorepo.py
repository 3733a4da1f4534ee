"""Zoo repositories for tests: small bundles (copies of zoo/digits_classification under other names),
a git zoo (``zoo/zoo.json``, bundles, ``zoo/index.json`` made by ``release_zoo``) and git commands run
with a fixed identity (the tests' HOME has no git config)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "zoo" / "digits_classification"
GITHUB = "bundle-zoo/zoo"
DATE = "2026-01-02"


def git(cwd: Path, *args: str) -> str:
    """``git ARGS`` in ``cwd`` with a test identity; its output (stripped). Fails the test when git fails."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout.strip()


def make_bundle(folder: Path, version: str = "0.1.0", changelog: str | None = "a version") -> Path:
    """A small bundle at ``folder`` (its name is the bundle's name) at ``version``; ``changelog`` None
    leaves the version without a changelog entry."""
    shutil.copytree(DIGITS, folder, ignore=shutil.ignore_patterns("eval", "logs", "__pycache__"))
    return set_version(folder, version, changelog)


def set_version(folder: Path, version: str, changelog: str | None = "a version") -> Path:
    """Set the bundle's version (and, unless ``changelog`` is None, its changelog entry)."""
    meta_file = folder / "configs" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["version"] = version
    if changelog is not None:
        meta["changelog"] = {version: changelog, **{k: v for k, v in meta["changelog"].items() if k != version}}
    meta_file.write_text(json.dumps(meta, indent=4) + "\n")
    return folder


def init_zoo(root: Path, bundles: dict[str, str], *, release: bool = True) -> Path:
    """A git repository at ``root`` (branch main, one commit) holding a zoo: ``zoo/zoo.json`` naming
    ``bundle-zoo/zoo``, a bundle per ``name: version``, and (``release``) the index ``release_zoo`` makes."""
    from bundle.registry.release import release_zoo

    root.mkdir(parents=True)
    git(root, "init", "--quiet", "-b", "main")
    (root / "zoo").mkdir()
    (root / "zoo" / "zoo.json").write_text(json.dumps({"github": GITHUB}) + "\n")
    (root / ".gitignore").write_text("dist/\nzoo/*/eval/\n")
    for name, version in bundles.items():
        make_bundle(root / "zoo" / name, version)
    if release:
        release_zoo(root, root / "dist", published=DATE)
    commit_all(root, "a zoo")
    return root


def commit_all(repo: Path, message: str) -> str:
    """Stage everything and commit; the new commit's sha."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def read_index(repo: Path) -> dict:
    return json.loads((repo / "zoo" / "index.json").read_text())


def script_env(**extra: str) -> dict:
    """The environment for ``python ci/...`` and ``python -m bundle`` subprocesses: this checkout importable."""
    env = {k: v for k, v in os.environ.items() if k != "BUNDLE_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python ci/NAME ARGS`` (this checkout's ci/) in ``cwd``."""
    return subprocess.run([sys.executable, str(REPO / "ci" / name), *args], cwd=cwd, env=script_env(),
                          capture_output=True, text=True, timeout=300)


def feature_branch(repo: Path, delete: tuple[str, ...] = ()) -> Path:
    """Branch 'feature' of a zoo made by ``init_zoo`` with alpha, beta, gamma: it adds delta, bumps alpha,
    changes beta without a bump, breaks gamma (a new version with no changelog entry, LICENSE removed) and
    deletes the bundles named in ``delete``."""
    import shutil

    git(repo, "checkout", "--quiet", "-b", "feature")
    make_bundle(repo / "zoo" / "delta", "0.1.0")
    set_version(repo / "zoo" / "alpha", "0.2.0", "better")
    (repo / "zoo" / "beta" / "docs" / "README.md").write_text("edited, same version\n")
    set_version(repo / "zoo" / "gamma", "0.2.0", changelog=None)
    (repo / "zoo" / "gamma" / "LICENSE").unlink()
    for name in delete:
        shutil.rmtree(repo / "zoo" / name)
    commit_all(repo, "feature")
    return repo
