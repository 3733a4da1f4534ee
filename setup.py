"""Packaging detail pyproject.toml cannot express: the top-level ``schemas/`` folder ships inside the
package as ``bundle/schemas/`` (``bundle.format.schemas`` finds it there in a wheel, and at the
repository's top level in a source checkout or an editable install); the bundle templates of
``bundle init`` (``bundle/format/templates/<name>/``, every file of them) ship as package data; the zoo
(``zoo/index.json`` and the bundle folders beside it) ships as ``bundle/_zoo/``: the default index of
``bundle list``, and the bundles it names, usable by name with no network."""

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

# the zoo's bundles ship too, as bundle/_zoo/<name>/ beside the index: a name resolves offline from them
# (bundle/registry/shipped.py) when they are byte for byte the published archives. What running a bundle
# writes into its folder (eval/, logs/) and caches stay out.
ZOO = Path(__file__).parent / "zoo"
ZOO_PACKAGES = [
    ".".join(("bundle", "_zoo", *d.relative_to(ZOO).parts))
    for d in sorted(ZOO.rglob("*"))
    if d.is_dir() and d.relative_to(ZOO).parts[1:2] not in (("eval",), ("logs",))
    and not any(p == "__pycache__" or p.startswith(".") for p in d.relative_to(ZOO).parts)
]

setup(
    packages=sorted(set(find_packages(include=["bundle", "bundle.*"])) | set(TEMPLATE_PACKAGES)) + SCHEMA_PACKAGES
    + ["bundle._zoo"] + ZOO_PACKAGES,
    package_dir={"bundle.schemas": "schemas", "bundle._zoo": "zoo"},
    package_data={
        "bundle": ["py.typed"],
        **{name: ["*"] for name in TEMPLATE_PACKAGES},
        **{name: ["*.json"] for name in SCHEMA_PACKAGES},
        "bundle._zoo": ["index.json"],
        **{name: ["*"] for name in ZOO_PACKAGES},
    },
)
