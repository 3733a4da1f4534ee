"""Running git for publishing and the zoo's CI: one place that calls the ``git`` program, turns its
failures into ``ZooError`` with git's own message, and hands an HTTP token to git without putting it in
a URL or on a command line.

Example:
    >>> env = token_env("https://github.com/bundle-zoo/zoo.git", os.environ["GITHUB_TOKEN"])
    >>> run_git(["push", "origin", "HEAD:refs/heads/publish/x-v1.0.0"], cwd=clone, env=env)
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from bundle.errors import ZooError

__all__ = ["run_git", "token_env", "git_show"]

log = logging.getLogger(__name__)


def run_git(args: Sequence[str], *, cwd: str | os.PathLike, env: Mapping[str, str] | None = None,
            check: bool = True, hint: str = "") -> str:
    """Run ``git ARGS`` in ``cwd`` and return its standard output (text, stripped of the last newline).

    Git never prompts for a password here (``GIT_TERMINAL_PROMPT=0``): a missing credential is an error.

    Args:
        args: the arguments after ``git``.
        cwd: the folder to run in.
        env: variables added to the environment (e.g. ``token_env``'s).
        check: raise when git fails; False returns the output of a failed command too.
        hint: the hint of the error raised when git fails.

    Raises:
        ZooError: git is not installed, or failed (the message holds the command and git's error output).
    """
    if shutil.which("git") is None:
        raise ZooError("the 'git' program is not installed (publishing and the zoo's CI scripts run it)",
                       hint="install git: https://git-scm.com/downloads")
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    log.debug("git %s (in %s)", " ".join(args), cwd)
    done = subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise ZooError(f"'git {' '.join(args)}' failed: {said or f'exit status {done.returncode}'}", hint=hint)
    return done.stdout[:-1] if done.stdout.endswith("\n") else done.stdout


def git_show(repo: str | os.PathLike, revision: str, path: str) -> str | None:
    """The text of ``path`` at ``revision`` in the repository ``repo``, or None when it has no such file.

    Raises:
        ZooError: ``revision`` is not a commit of the repository.
    """
    run_git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=repo,
            hint=f"fetch '{revision}' first (in CI: actions/checkout with fetch-depth: 0)")
    exists = subprocess.run(["git", "cat-file", "-e", f"{revision}:{path}"], cwd=repo, capture_output=True)
    if exists.returncode != 0:
        return None
    return run_git(["show", f"{revision}:{path}"], cwd=repo) + "\n"


def token_env(remote: str, token: str | None) -> dict[str, str]:
    """Environment variables that make git send ``token`` to ``remote``'s host, and only there.

    The token travels as an ``http.<scheme>://<host>/.extraheader`` given through ``GIT_CONFIG_COUNT``
    (what actions/checkout does), so it is in no URL, no argument list and no file. Remotes that are not
    http(s) (a path, ssh) get no variables.

    Args:
        remote: the remote's URL or path.
        token: a GitHub token (None: no variables).
    """
    parts = urlsplit(str(remote))
    if not token or parts.scheme not in ("http", "https") or not parts.netloc:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }

