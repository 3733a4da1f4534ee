"""``download`` (a bundle into the verified cache, optionally copied to a folder) and
``download_large_files`` (MONAI's: the files a bundle's large_files.yml lists)."""

from __future__ import annotations

import os


def download(
    name: str | None = None,
    version: str | None = None,
    *,
    source: str | None = None,
    dir: str | None = None,
    bundle_dir: str | None = None,
    repo: str | None = None,
    url: str | None = None,
    sha256: str | None = None,
    index: str | None = None,
    args_file: str | None = None,
    progress: bool | None = None,
    remove_prefix: str | None = None,
) -> int:
    """Download a bundle, verified, into the cache (and to --dir/NAME), and print its folder.

    Args:
        name: NAME or NAME@SPEC (e.g. spleen@1.2.0, spleen@^1.2); MONAI's --name works too.
        version: a version or range instead of @SPEC (default: the latest).
        source: index (default), url, github, hf or monai (MONAI's monaihosting and huggingface_hub too).
        dir: also copy the bundle to DIR/NAME (MONAI's --bundle_dir works too).
        repo: OWNER/REPO/TAG for --source github, OWNER/NAME for --source hf.
        url: the archive's URL for --source url.
        sha256: the expected sha256 of the archive (url, github).
        index: index paths or URLs (several separated by commas) instead of BUNDLE_INDEX.
        args_file: a JSON/YAML file with these arguments.
        progress: show progress bars (default: on a terminal).
        remove_prefix: MONAI's NGC option; NGC is not a source here, so it has no effect.
    """
    from bundle.registry.download import download as fetch_bundle

    folder = fetch_bundle(name, version, source=source, dir=dir, bundle_dir=bundle_dir, repo=repo, url=url,
                          sha256=sha256, index=index, progress=progress, args_file=args_file)
    print(folder)
    return 0


def download_large_files(bundle_path: str = ".", large_file_name: str | None = None, *, path: str | None = None,
                         force: bool = False, progress: bool | None = None) -> int:
    """Fetch the files a bundle's large_files.yml|yaml|json lists, each checked against its hash.

    Args:
        bundle_path: the bundle folder.
        large_file_name: the manifest's file name, as in MONAI (checked to be the bundle's; default: the one it
            has). A bundle without a manifest is an error, as in MONAI.
        path: only the entry with this path, e.g. models/model.pt (default: all).
        force: download files that are already there and match.
        progress: show progress bars (default: on a terminal).
    """
    from bundle.registry.large_files import fetch_large_files, require_manifest

    root = os.path.expanduser(bundle_path)
    require_manifest(root, large_file_name)
    fetched = fetch_large_files(root, names=[path] if path else None, force=force, progress=progress)
    for file in fetched:
        print(file)
    if not fetched:
        print("every large file is there and matches its hash")
    return 0

