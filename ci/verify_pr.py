"""Check a zoo pull request: verify every bundle it changes and check zoo/index.json; exit 1 listing every
problem of every bundle when anything fails.

Each changed bundle is checked as publishing checks it (schema, layout, configs resolve, network inputs and
outputs, weights load, a new version with a changelog entry, LICENSE). The index must follow its schema, keep
the base branch's published entries, and every bundle version it lists must pack to the recorded sha256 and
size.

Usage: python ci/verify_pr.py --base origin/main [--head HEAD] [--repo .] [--no-net] [--no-weights] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the base branch or commit (e.g. origin/main)")
    parser.add_argument("--head", default="HEAD", help="the commit under review, checked out in --repo (default HEAD)")
    parser.add_argument("--repo", default=".", help="the zoo repository (default: the current folder)")
    parser.add_argument("--no-net", action="store_true", help="do not build and run the networks")
    parser.add_argument("--no-weights", action="store_true", help="do not load the weights")
    parser.add_argument("--json", action="store_true", help="print the problems as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    from bundle.errors import BundleError
    from bundle.registry.review import review_changes

    try:
        review = review_changes(args.repo, args.base, head=args.head, net=not args.no_net, weights=not args.no_weights)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        problems = {k: [p.as_dict() for p in v] for k, v in review.problems().items()}
        print(json.dumps({"ok": review.ok, "base": args.base, "changed": review.changed, "problems": problems}, indent=2))
    else:
        print(review.format())
    return 0 if review.ok else 1


if __name__ == "__main__":
    sys.exit(main())
