"""Print the bundles a branch changes in zoo/ against its base, one name a line (deleted bundles left out).

Usage: python ci/changed_bundles.py --base origin/main [--head HEAD] [--repo .]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the base branch or commit (e.g. origin/main)")
    parser.add_argument("--head", default="HEAD", help="the branch or commit under review (default HEAD)")
    parser.add_argument("--repo", default=".", help="the zoo repository (default: the current folder)")
    args = parser.parse_args(argv)

    from bundle.errors import BundleError
    from bundle.registry.review import changed_bundles

    try:
        names = changed_bundles(args.repo, args.base, args.head)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in names:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
