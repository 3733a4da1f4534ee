"""Packaging detail pyproject.toml cannot express: the top-level ``schemas/`` folder ships inside the
package as ``bundle/schemas/`` (``bundle.format.schemas`` finds it there in a wheel, and at the
repository's top level in a source checkout or an editable install); the bundle templates of
``bundle init`` (``bundle/format/templates/<name>/``, every file of them) ship as package data; the zoo's
index (``zoo/index.json``) ships as ``bundle/_zoo/index.json``, the default index of ``bundle list``, with
the zoo's bundle folders (``bundle/_zoo/NAME/``: used for a zoo name when they pack to the release's sha256)."""

from pathlib import Path

from setuptools import find_packages, setup

# schemas/ and each of its subfolders (schemas/monai/, ...) are data-only packages under bundle.schemas
SCHEMA_PACKAGES = ["bundle.schemas"] + [
    f"bundle.schemas.{d.name}" for d in sorted(Path(__file__).parent.joinpath("schemas").iterdir()) if d.is_dir()
]

# the templates of `bundle init`: bundle/format/templates/<name>/ and every folder under it are data-only
# packages (setuptools treats every folder in a package as a package), each shipping all its files
TEMPLATES = Path(__file__).parent / "bundle" / "format" / "templates"
TEMPLATE_PACKAGES = [
    ".".join(("bundle", "format", "templates", *d.relative_to(TEMPLATES).parts)).rstrip(".")
    for d in sorted([TEMPLATES, *TEMPLATES.rglob("*")])
    if d.is_dir() and d.name != "__pycache__"
]

setup(
    packages=sorted(set(find_packages(include=["bundle", "bundle.*"])) | set(TEMPLATE_PACKAGES)) + SCHEMA_PACKAGES
    + ["bundle._zoo"],
    package_dir={"bundle.schemas": "schemas", "bundle._zoo": "zoo"},
    package_data={
        "bundle": ["py.typed"],
        **{name: ["*"] for name in TEMPLATE_PACKAGES},
        **{name: ["*.json"] for name in SCHEMA_PACKAGES},
        # the zoo's bundle folders too: a zoo name whose release they are resolves offline (registry/shipped.py)
        "bundle._zoo": ["index.json", "*/LICENSE", "*/configs/*", "*/docs/*", "*/models/*", "*/data/*"],
    },
)
