"""Mirror the release archives of dist/release.json to the Hugging Face Hub when zoo/zoo.json names an "hf"
organisation: each archive goes to repo ORG/NAME, tagged vVERSION (tags that exist are skipped). Token: HF_TOKEN.

Usage: python ci/upload_hf.py [--dist dist] [--repo .]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default="dist", help="the folder ci/release.py wrote (default dist/)")
    parser.add_argument("--repo", default=".", help="the zoo repository (default: the current folder)")
    args = parser.parse_args(argv)

    from bundle.errors import BundleError
    from bundle.registry.hub import upload_release
    from bundle.registry.release import read_zoo_config

    try:
        config = read_zoo_config(args.repo)
        if not config.hf:
            print("zoo/zoo.json names no \"hf\" organisation: nothing to mirror")
            return 0
        for release in json.loads(Path(args.dist, "release.json").read_text(encoding="utf-8")):
            repo_id = f"{config.hf}/{release['name']}"
            archive = Path(args.dist, release["asset"])
            done = upload_release(archive, repo_id, f"v{release['version']}")
            print(f"hf:{repo_id} v{release['version']}: {'uploaded' if done else 'already there'}")
    except (BundleError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
