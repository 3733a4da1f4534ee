"""The ``publish`` command: a bundle folder as a pull request to a zoo on GitHub or a Hugging Face repository."""

from __future__ import annotations


def publish(bundle_dir: str, to: str, *, base: str = "main", remote: str | None = None, dry_run: bool = False,
            no_net: bool = False, no_weights: bool = False) -> int:
    """Check a bundle and open a pull request that publishes it.

    --to github:OWNER/REPO: the bundle goes to zoo/NAME of that zoo repository with its index entry, on
    branch publish/NAME-vVERSION, and a pull request is opened against --base (token: GITHUB_TOKEN or
    GH_TOKEN). --to hf:OWNER/NAME: its files and archive go to that Hub repository as a Hub pull request
    (token: HF_TOKEN; Hub: HF_ENDPOINT). Nothing is pushed when a check fails: the bundle must verify,
    its version must be new and have a changelog entry, and LICENSE must be there.

    Args:
        bundle_dir: the bundle folder (its name is the bundle's name in the zoo).
        to: github:OWNER/REPO or hf:OWNER/NAME.
        base: the branch the pull request targets (GitHub).
        remote: a git remote (URL or path) to clone and push instead of the GitHub repository.
        dry_run: check, pack and commit locally, push nothing.
        no_net: do not build and run the network while checking.
        no_weights: do not load the weights while checking.
    """
    from bundle.registry.publish import publish as run

    result = run(bundle_dir, to, base=base, remote=remote, dry_run=dry_run, net=not no_net, weights=not no_weights)
    what = f"{result.name} {result.version} (sha256 {result.sha256}, {result.size} bytes)"
    if result.dry_run:
        print(f"dry run: {what} passed every check; {len(result.files)} files would go to {result.target}"
              + (f" on branch {result.branch}" if result.branch else ""))
        for path in result.files:
            print(f"  {path}")
        return 0
    print(f"published {what} to {result.target} as a pull request: {result.url}")
    return 0
