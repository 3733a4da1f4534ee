"""Packaging detail pyproject.toml cannot express: the top-level ``schemas/`` folder ships inside the
package as ``bundle/schemas/`` (``bundle.format.schemas`` finds it there in a wheel, and at the
repository's top level in a source checkout or an editable install)."""

from pathlib import Path

from setuptools import find_packages, setup

# schemas/ and each of its subfolders (schemas/monai/, ...) are data-only packages under bundle.schemas
SCHEMA_PACKAGES = ["bundle.schemas"] + [
    f"bundle.schemas.{d.name}" for d in sorted(Path(__file__).parent.joinpath("schemas").iterdir()) if d.is_dir()
]

setup(
    packages=find_packages(include=["bundle", "bundle.*"]) + SCHEMA_PACKAGES,
    package_dir={"bundle.schemas": "schemas"},
    package_data={"bundle": ["py.typed"], **{name: ["*.json"] for name in SCHEMA_PACKAGES}},
)
