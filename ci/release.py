"""Release the zoo after a merge: pack every bundle deterministically into dist/, add the versions not yet
in zoo/index.json (sha256, size, sources from zoo/zoo.json, date), write the index atomically, and print
what to upload. dist/release.json lists every archive with its release tag. Running it twice changes nothing.

Usage: python ci/release.py [--dist dist] [--repo .] [--date YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default="dist", help="where the archives go (default dist/)")
    parser.add_argument("--repo", default=".", help="the zoo repository (default: the current folder)")
    parser.add_argument("--date", default=None, help="the publication date of new versions (default: today, UTC)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from bundle.errors import BundleError
    from bundle.registry.release import read_zoo_config, release_zoo

    try:
        releases = release_zoo(args.repo, args.dist, published=args.date)
        config = read_zoo_config(args.repo)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    new = [r for r in releases if r.new]
    print(f"{len(releases)} bundles packed into {args.dist}/; {len(new)} new in zoo/index.json")
    for r in releases:
        state = "new" if r.new else "in the index"
        print(f"  {r.name} {r.version} ({state}): {r.archive} sha256 {r.sha256} {r.size} bytes")
    print(f"upload each archive as the asset of its release tag in {config.github} (skip tags that exist):")
    for r in releases:
        print(f"  gh release create {r.tag} {r.archive} --repo {config.github} --title '{r.name} {r.version}'")
    if config.hf:
        print(f"and mirror them to the Hub (python ci/upload_hf.py --dist {args.dist}): repos {config.hf}/NAME, tag vVERSION")
    if config.url:
        print(f"and copy them to {config.url}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
