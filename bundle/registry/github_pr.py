"""Publishing a bundle to a zoo on GitHub: a branch with the bundle under ``zoo/NAME`` and its index entry,
pushed with git, and a pull request opened through GitHub's REST API.

Example:
    >>> publish_to_github("my_bundle", "bundle-zoo/zoo").url
    'https://github.com/bundle-zoo/zoo/pull/12'
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from bundle import settings
from bundle.errors import ZooError
from bundle.format.bundle import Bundle
from bundle.registry.git import run_git, token_env
from bundle.registry.index import write_index
from bundle.registry.release import INDEX, index_entry, read_index_data, read_zoo_config
from bundle.registry.submission import CI_CHECKS, PublishResult, prepare_submission

__all__ = ["publish_to_github", "open_pull_request"]

log = logging.getLogger(__name__)


def publish_to_github(bundle_dir: str | os.PathLike, repo_id: str, *, base: str = "main", remote: str | None = None,
                      token: str | None = None, dry_run: bool = False, net: bool = True,
                      weights: bool = True) -> PublishResult:
    """Open a pull request on the zoo ``repo_id`` that publishes a bundle folder.

    Clone the zoo (``remote``, default ``settings.github_url()/OWNER/REPO.git``), check the bundle against
    its index, copy it to ``zoo/NAME`` (the files its archive holds), pack it, add its index entry, commit
    on branch ``publish/NAME-vVERSION``, push, and open a pull request against ``base``.

    Args:
        bundle_dir: the bundle folder; its name is the bundle's name in the zoo.
        repo_id: ``OWNER/REPO`` of the zoo.
        base: the branch the pull request targets.
        remote: the git remote to clone and push to instead of the GitHub URL (a path or URL).
        token: the token (default ``settings.github_token()``); it is never put in a URL or a command line.
        dry_run: do everything but push and open the pull request.
        net, weights: as for ``check_submission``.

    Returns:
        A ``PublishResult``: ``branch`` is the pushed branch, ``url`` the pull request's page.

    Raises:
        VerificationError: the bundle fails a check (every problem is listed); nothing was pushed.
        ZooError: no token, the version is already published, git or the API failed (the message says
            whether the branch was pushed).
    """
    bundle = Bundle(bundle_dir)
    token = token or settings.github_token()
    if not token and not dry_run:
        raise ZooError("publishing to GitHub needs a token, and GITHUB_TOKEN / GH_TOKEN are not set",
                       hint=f"export GITHUB_TOKEN=<a token that may push to {repo_id} and open pull requests> "
                            "(or run with --dry_run to check without pushing)")
    remote = remote or f"{settings.github_url()}/{repo_id}.git"
    with tempfile.TemporaryDirectory(prefix="bundle-publish-") as scratch:
        return _publish(bundle, repo_id, Path(scratch), base=base, remote=remote, token=token,
                        dry_run=dry_run, net=net, weights=weights)


def _publish(bundle: Bundle, repo_id: str, scratch: Path, *, base: str, remote: str, token: str | None,
             dry_run: bool, net: bool, weights: bool) -> PublishResult:
    env = token_env(remote, token)
    clone = scratch / "zoo"
    run_git(["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", "--branch", base, remote, str(clone)],
            cwd=scratch, env=env, hint=f"check that '{remote}' is a zoo repository with a branch '{base}' you may read")
    name, version = bundle.name, bundle.version
    branch = f"publish/{name}-v{version}"
    if run_git(["ls-remote", "--heads", "origin", f"refs/heads/{branch}"], cwd=clone, env=env):
        raise ZooError(f"the branch '{branch}' already exists in {repo_id}: {name} {version} is being published "
                       "already", hint="see its pull request; to start over, delete the branch first")
    config = read_zoo_config(clone)
    data = read_index_data(clone / INDEX)
    target = clone / "zoo" / name
    archive = prepare_submission(bundle, target, scratch / "dist", data, target=repo_id, net=net, weights=weights)
    entry = index_entry(target, archive, config)
    write_index(clone / INDEX, entry.add_to(data))
    run_git(["checkout", "--quiet", "-b", branch], cwd=clone)
    # --force: the zoo's .gitignore must not drop files the archive holds (CI packs what is committed)
    run_git(["add", "--all", "--force", "--", f"zoo/{name}", INDEX], cwd=clone)
    identity = []
    for key, default in (("user.name", "bundle publish"), ("user.email", "bundle-publish@users.noreply.github.com")):
        if not run_git(["config", key], cwd=clone, check=False):
            identity += ["-c", f"{key}={default}"]
    paragraphs = [f"Publish {name} {version}", entry.release.get("changelog", ""),
                  f"Archive {archive.path.name}: sha256 {archive.sha256}, {archive.size} bytes."]
    run_git([*identity, "commit", "--quiet", "-m", "\n\n".join(p for p in paragraphs if p)], cwd=clone)
    files = tuple(run_git(["diff", "--name-only", "HEAD~1", "HEAD"], cwd=clone).splitlines())
    result = PublishResult(f"github:{repo_id}", name, version, archive.sha256, archive.size, branch, None, files, dry_run)
    if dry_run or not token:  # not token: only in a dry run (publish_to_github refuses a real one)
        log.info("dry run: %s %s would be pushed to %s as %s (%d files)", name, version, repo_id, branch, len(files))
        return result
    run_git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], cwd=clone, env=env,
            hint=f"the token must be allowed to push to {repo_id}")
    title = f"Publish {name} {version}"
    body = _pull_request_body(entry, archive, files)
    url = open_pull_request(repo_id, head=branch, base=base, title=title, body=body, token=token)
    return PublishResult(f"github:{repo_id}", name, version, archive.sha256, archive.size, branch, url, files, False)


def _pull_request_body(entry, archive, files: tuple[str, ...]) -> str:
    changelog = entry.release.get("changelog") or "(no changelog text)"
    bundle_files_count = sum(1 for f in files if f.startswith(f"zoo/{entry.name}/"))
    return "\n".join([
        f"Publishes **{entry.name}** {entry.version}: {entry.summary}",
        "",
        f"Changelog for {entry.version}: {changelog}",
        "",
        "| | |", "|---|---|",
        f"| archive | `{archive.path.name}` |",
        f"| sha256 | `{archive.sha256}` |",
        f"| size | {archive.size} bytes |",
        f"| license | {entry.license} |",
        f"| files | `zoo/{entry.name}/` ({bundle_files_count} files), `zoo/index.json` |",
        "",
        f"The zoo's CI (`ci/verify_pr.py`) checks this branch: {CI_CHECKS}. When it is merged, `ci/release.py` "
        f"uploads the archive as the release asset of tag `{entry.name}-v{entry.version}`.",
        "",
        "Opened by `bundle publish`.",
    ])


def open_pull_request(repo_id: str, *, head: str, base: str, title: str, body: str, token: str) -> str:
    """Open a pull request on GitHub (``POST /repos/OWNER/REPO/pulls`` at ``settings.github_api()``) and
    return its page's URL.

    Raises:
        ZooError: the API cannot be reached or refuses (bad token, unknown repository, a pull request for
            the branch exists); the message says the branch is pushed and where to open it by hand.
    """
    import requests

    api = settings.github_api()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "bundle-publish"}
    pushed = (f"the branch '{head}' is pushed to {repo_id}: open the pull request by hand "
              f"(https://github.com/{repo_id}/compare/{base}...{head}), or delete the branch and run again")
    try:
        response = requests.post(f"{api}/repos/{repo_id}/pulls", json={"title": title, "head": head, "base": base,
                                                                      "body": body}, headers=headers, timeout=60)
    except requests.RequestException as err:
        raise ZooError(f"cannot reach the GitHub API at {api}: {err}", hint=pushed) from None
    if response.status_code == 201:
        return response.json()["html_url"]
    try:
        said = response.json()
    except ValueError:
        said = {}
    details = "; ".join(e.get("message") or str(e) for e in said.get("errors", []) if isinstance(e, dict))
    text = said.get("message") or response.reason or "no message"
    reason = {
        401: "GitHub refused the token (401 {text}): check GITHUB_TOKEN",
        403: "the token may not open pull requests on {repo} (403 {text})",
        404: "GitHub has no repository {repo} that this token can see (404 {text})",
        422: "GitHub did not open the pull request (422 {text}{details})",
    }.get(response.status_code, "the GitHub API answered {status} ({text}{details})")
    raise ZooError(reason.format(text=text, repo=repo_id, status=response.status_code,
                                 details=f": {details}" if details else ""), hint=pushed)
