"""The Hugging Face Hub side of publishing: a bundle as a Hub pull request (``publish_to_hub``), and a
zoo's release archives mirrored to the Hub (``upload_release``), through ``huggingface_hub``.

The Hub is ``HF_ENDPOINT`` (default https://huggingface.co); the token is ``HF_TOKEN`` unless given.
A version is published on the Hub as the tag ``vVERSION``.

Example:
    >>> publish_to_hub("my_bundle", "my-org/my_bundle").url
    'https://huggingface.co/my-org/my_bundle/discussions/3'
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from bundle import settings
from bundle.errors import MissingDependencyError, ZooError
from bundle.format.bundle import Bundle
from bundle.registry.archive import bundle_files
from bundle.registry.submission import CI_CHECKS, PublishResult, prepare_submission

__all__ = ["publish_to_hub", "upload_release"]

log = logging.getLogger(__name__)


def _api(token: str | None, *, purpose: str):
    token = token or settings.hf_token()
    if not token:
        raise ZooError(f"{purpose} needs a Hugging Face token, and HF_TOKEN is not set",
                       hint="export HF_TOKEN=<a token with write access> (https://huggingface.co/settings/tokens)")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise MissingDependencyError("huggingface_hub", purpose="publishing to the Hugging Face Hub") from None
    return HfApi(endpoint=settings.hf_endpoint(), token=token)


@contextlib.contextmanager
def _hub_errors(repo_id: str, doing: str):
    """Turn huggingface_hub's HTTP errors into ZooError naming the repository and what was being done."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        yield
    except RepositoryNotFoundError:
        raise ZooError(f"the Hub has no repository {repo_id} that this token can see ({doing})",
                       hint="check the name and that HF_TOKEN may write to it") from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else "?"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = "check HF_TOKEN: it must be a token with write access" if status in (401, 403) else ""
        raise ZooError(f"the Hub refused {doing} in {repo_id} ({first})", hint=hint) from None
    except OSError as err:  # connection errors of the HTTP client are OSError subclasses or wrap one
        raise ZooError(f"cannot reach the Hub at {settings.hf_endpoint() or 'https://huggingface.co'} "
                       f"({doing}): {err}") from None


def _tags(api, repo_id: str) -> set[str]:
    """The tags of ``repo_id`` (empty when it does not exist yet)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return {ref.name for ref in api.list_repo_refs(repo_id).tags}
    except RepositoryNotFoundError:
        return set()


def publish_to_hub(bundle_dir: str | os.PathLike, repo_id: str, *, token: str | None = None, dry_run: bool = False,
                   net: bool = True, weights: bool = True):
    """Open a Hub pull request on ``repo_id`` with the bundle's files and its archive ``NAME_vVERSION.zip``.

    The bundle must pass ``check_submission`` and its version must not be a tag of the repository yet.
    Files of the repository's ``main`` that the bundle no longer has are deleted in the same commit.

    Args:
        bundle_dir: the bundle folder.
        repo_id: ``OWNER/NAME`` on the Hub (created when missing).
        token: the token (default ``HF_TOKEN``).
        dry_run: check and pack, but upload nothing.
        net, weights: as for ``check_submission``.

    Returns:
        A ``PublishResult``: ``url`` is the pull request's page, ``branch`` its revision (``refs/pr/N``).

    Raises:
        VerificationError: the bundle fails a check (every problem listed); nothing was uploaded.
        ZooError: no token, or the Hub refused.
    """
    bundle = Bundle(bundle_dir)
    name, version = bundle.name, bundle.version
    api = _api(token, purpose="publishing to the Hub") if not dry_run or token or settings.hf_token() else None
    published: dict[str, dict] = {}
    if api is not None:
        with _hub_errors(repo_id, "listing its tags"):
            published = {t[1:]: {} for t in _tags(api, repo_id) if t.startswith("v")}
    with tempfile.TemporaryDirectory(prefix="bundle-publish-") as scratch:
        copy = Path(scratch) / name
        archive = prepare_submission(bundle, copy, Path(scratch) / "dist", {"bundles": {name: {"versions": published}}},
                                     target=f"hf:{repo_id}", net=net, weights=weights)
        files = bundle_files(copy)
        paths = tuple(sorted([rel for rel, _ in files] + [archive.path.name]))
        if dry_run or api is None:
            log.info("dry run: %s %s would be uploaded to hf:%s (%d files)", name, version, repo_id, len(paths))
            return PublishResult(f"hf:{repo_id}", name, version, archive.sha256, archive.size, "", None, paths, True)
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        operations: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in files
        ]
        operations.append(CommitOperationAdd(path_in_repo=archive.path.name, path_or_fileobj=str(archive.path)))
        changelog = bundle.metadata.get("changelog", {}).get(version, "")
        description = "\n\n".join(part for part in (
            f"Publishes {name} {version}." + (f" Changelog: {changelog}" if changelog else ""),
            f"Archive `{archive.path.name}`: sha256 `{archive.sha256}`, {archive.size} bytes.",
            f"Checked before upload by `bundle publish`: {CI_CHECKS}.",
            f"After merging, tag the merged commit `v{version}`: the zoo index names that revision.",
        ) if part)
        with _hub_errors(repo_id, "creating the repository"):
            api.create_repo(repo_id, exist_ok=True)
        with _hub_errors(repo_id, "listing its files"):
            stale = sorted(set(api.list_repo_files(repo_id)) - set(paths) - {".gitattributes"})
        operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
        with _hub_errors(repo_id, "opening the pull request"):
            info = api.create_commit(repo_id, operations, commit_message=f"Publish {name} {version}",
                                     commit_description=description, create_pr=True)
    log.info("opened %s (%s %s, %d files, %d deleted)", info.pr_url, name, version, len(paths), len(stale))
    return PublishResult(f"hf:{repo_id}", name, version, archive.sha256, archive.size, info.pr_revision or "",
                         info.pr_url, paths, False)


def upload_release(archive: str | os.PathLike, repo_id: str, revision: str, *, token: str | None = None) -> bool:
    """Mirror a release archive to the Hub: commit it to ``repo_id``'s main branch and tag that commit
    ``revision``. A tag that exists already is left alone (the archive was mirrored before).

    Args:
        archive: the archive file (``NAME_vVERSION.zip``).
        repo_id: the Hub repository (``ORG/NAME``; created when missing).
        revision: the tag (``vVERSION``).
        token: the token (default ``HF_TOKEN``).

    Returns:
        True when it was uploaded, False when the tag existed.

    Raises:
        ZooError: no token, or the Hub refused.
    """
    archive = Path(archive)
    api = _api(token, purpose="mirroring release archives to the Hub")
    with _hub_errors(repo_id, "listing its tags"):
        if revision in _tags(api, repo_id):
            log.info("hf:%s already has %s; skipped", repo_id, revision)
            return False
    with _hub_errors(repo_id, f"uploading {archive.name}"):
        api.create_repo(repo_id, exist_ok=True)
        info = api.upload_file(path_or_fileobj=str(archive), path_in_repo=archive.name, repo_id=repo_id,
                               commit_message=f"Release {archive.name}")
        api.create_tag(repo_id, tag=revision, revision=info.oid)
    return True
