"""Publishing a bundle by pull request: ``publish`` checks the target and hands the bundle to GitHub's flow
(``bundle.registry.github_pr``) or the Hugging Face Hub's (``bundle.registry.hub``); the step both share
(copy, check as the zoo's CI does, pack) is ``bundle.registry.submission``.

Nothing is pushed unless the bundle passes the same checks as the zoo's CI (``check_submission``).

Example:
    >>> result = publish("my_bundle", "github:bundle-zoo/zoo")
    >>> result.url
    'https://github.com/bundle-zoo/zoo/pull/12'
"""

from __future__ import annotations

import os
import re

from bundle.errors import ZooError
from bundle.registry.github_pr import open_pull_request, publish_to_github
from bundle.registry.hub import publish_to_hub
from bundle.registry.submission import PublishResult, copy_published_files
from bundle.settings import github_api

# copy_published_files, open_pull_request and github_api were defined here; they stay importable from here
__all__ = ["publish", "PublishResult", "parse_target", "copy_published_files", "open_pull_request", "github_api"]

_TARGET = re.compile(r"^(github|hf):([A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+)$")


def parse_target(to: str) -> tuple[str, str]:
    """Split ``github:OWNER/REPO`` or ``hf:OWNER/NAME`` into the kind and the repository.

    Raises:
        ZooError: ``to`` has another form.
    """
    found = _TARGET.match(str(to).strip())
    if not found:
        raise ZooError(f"'{to}' is not a place to publish to",
                       hint="write github:OWNER/REPO (a zoo repository) or hf:OWNER/NAME (a Hugging Face repository)")
    return found.group(1), found.group(2)


def publish(bundle_dir: str | os.PathLike, to: str, *, base: str = "main", remote: str | None = None,
            token: str | None = None, dry_run: bool = False, net: bool = True, weights: bool = True) -> PublishResult:
    """Publish a bundle folder as a pull request.

    ``github:OWNER/REPO``: clone the zoo (``remote``, default ``$BUNDLE_GITHUB_URL/OWNER/REPO.git`` with
    ``https://github.com`` as the default URL), check the bundle against its index, copy it to
    ``zoo/NAME`` (the files its archive holds: no ``eval/``, ``logs/``, caches or ``.git*``), pack it, add its
    index entry, commit on branch
    ``publish/NAME-vVERSION``, push, and open a pull request against ``base`` through the REST API at
    ``$BUNDLE_GITHUB_API`` (or ``$GITHUB_API_URL``, default ``https://api.github.com``) with the token
    ``token`` or ``$GITHUB_TOKEN`` / ``$GH_TOKEN``.

    ``hf:OWNER/NAME``: upload the bundle's files and its archive to that Hub repository (created when
    missing) as a Hub pull request, with ``token`` or ``$HF_TOKEN``; ``HF_ENDPOINT`` names the Hub.

    Args:
        bundle_dir: the bundle folder; its name is the bundle's name in the zoo.
        to: ``github:OWNER/REPO`` or ``hf:OWNER/NAME``.
        base: the branch the pull request targets (GitHub).
        remote: the git remote to clone and push to instead of the GitHub URL (a path or URL).
        token: the token (default: from the environment); it is never put in a URL or a command line.
        dry_run: do everything but push and open the pull request.
        net: build and run the network while checking.
        weights: load the weights while checking.

    Returns:
        What was published and where the pull request is.

    Raises:
        VerificationError: the bundle fails a check (every problem is listed); nothing was pushed.
        ZooError: no token, the version is already published, git or the API failed (the message says
            whether the branch was pushed).
    """
    kind, repo_id = parse_target(to)
    if kind == "hf":
        return publish_to_hub(bundle_dir, repo_id, token=token, dry_run=dry_run, net=net, weights=weights)
    return publish_to_github(bundle_dir, repo_id, base=base, remote=remote, token=token, dry_run=dry_run, net=net,
                             weights=weights)
