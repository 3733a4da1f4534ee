"""``verify_bundle``: check a bundle folder completely and report every problem, each with where it
is written and how to fix it (pip's ``HashErrors`` style: nothing stops at the first problem).

Checks, in order: ``layout``, ``metadata`` (against the schema its URL names, offline),
``changelog``, ``license``, ``large_files``, ``configs``, ``files``, ``network`` and ``weights``
(``docs/format.md`` describes each). The last two import torch and can be skipped.

Example:
    >>> report = verify_bundle("zoo/ellipsoid_segmentation", net=False, weights=False)
    >>> report.ok, report.skipped["network"]
    (True, 'not requested')
    >>> print(report.summary())  # doctest: +ELLIPSIS
    verified: 0 errors, ... (skipped: network: not requested, weights: not requested)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bundle.config.loader import duplicate_keys, load_file_and_text
from bundle.errors import BundleError, FormatError, Location
from bundle.format import check_configs as configs_checks
from bundle.format import check_network as network_checks
from bundle.format.apps import run_app_checks
from bundle.format.bundle import METADATA, Bundle
from bundle.format.context import Context
from bundle.format.large_files import FETCH_HINT, read_large_files
from bundle.format.report import CHECKS, WARNING, Problem, VerifyReport
from bundle.format.schemas import iter_described, schema_for_url, validation_errors

__all__ = ["verify_bundle"]

# An SPDX license expression: identifiers (or LicenseRef-...) joined by AND / OR / WITH, in parentheses or not.
_SPDX_ID = r"[A-Za-z0-9][A-Za-z0-9.+-]*"
_SPDX = re.compile(rf"^\(?\s*{_SPDX_ID}(\s+(AND|OR|WITH)\s+\(?\s*{_SPDX_ID}\s*\)?)*\s*\)?$")


def verify_bundle(
    path: str | os.PathLike,
    *,
    net: bool = True,
    weights: bool = True,
    net_id: str = "network_def",
    config: str | None = None,
    weights_name: str = "model.pt",
    device: str = "cpu",
    p: int = 1,
    n: int = 1,
    any: int = 32,
    trusted: bool | None = None,
    apps: Any = (),
) -> VerifyReport:
    """Check a bundle folder and gather every problem.

    Nothing is trained, evaluated or run: configs are parsed and their targets located, the
    network (``net_id``) is built and run once on a random input, the weights are loaded into it.
    Locating targets imports their modules (the bundle's ``scripts/`` among them) and building the
    network runs its code: verify a bundle you do not trust in a sandbox.

    Args:
        path: the bundle folder.
        net: build the network and check it against ``network_data_format`` (imports torch).
        weights: load ``models/{weights_name}`` and check it fits the network (imports torch).
        net_id: the config id of the network.
        config: the config that defines the network (default: ``inference``, else ``train``,
            else the first config that has ``net_id``).
        weights_name: the weights file under ``models/``.
        device: where the network runs (``cpu``, ``cuda``, ``cuda:1``).
        p, n: values of ``p`` and ``n`` in ``spatial_shape`` expressions (``"2**p*n"``).
        any: the size a ``"*"`` dimension gets.
        trusted: False builds the network in safe mode; None follows the trust rule (a downloaded
            bundle is untrusted, a folder of yours trusted; see ``bundle.trust``).
        apps: apps whose needs are checked too (``bundle.format.apps.APPS``: triton, monai-deploy, monai-fl, monai-label, monai),
            each as the check ``app:NAME``; an unknown name raises ``FormatError``.

    Returns:
        The report; ``report.ok`` is False when there is any error. It never raises for a problem
        of the bundle (``report.raise_for_problems()`` does). A duplicate key in a config file is an
        error here (elsewhere it warns, as in MONAI).
    """
    with duplicate_keys("error"):
        return _verify(Path(path).expanduser().resolve(), net=net, weights=weights, net_id=net_id, config=config,
                       weights_name=weights_name, device=device, p=p, n=n, any=any, trusted=trusted, apps=apps)


def _verify(root: Path, *, net: bool, weights: bool, net_id: str, config: str | None, weights_name: str,
            device: str, p: int, n: int, any: int, trusted: bool | None, apps: Any) -> VerifyReport:
    report = VerifyReport(root)
    try:
        bundle = Bundle(root, trusted=trusted)
    except FormatError as err:
        report.checked.append("layout")
        report.add(Problem.from_error("layout", err, root=root))
        _check_layout(root, report)
        for check in CHECKS[1:]:
            report.skipped[check] = f"{METADATA} is missing" if root.is_dir() else "no bundle folder"
        return report

    ctx = Context(bundle, report)
    plain_checks = {
        "layout": lambda: _check_layout(root, report, ctx),
        "metadata": lambda: _check_metadata(ctx),
        "changelog": lambda: _check_changelog(ctx),
        "license": lambda: _check_license(ctx),
        "large_files": lambda: _check_large_files(ctx),
        "configs": lambda: configs_checks.check_configs(ctx),
        "files": lambda: configs_checks.check_files(ctx),
    }
    for check, run in plain_checks.items():
        report.checked.append(check)
        run()
    if not net:
        report.skipped["network"] = "not requested"
    if not weights:
        report.skipped["weights"] = "not requested"
    if net or weights:
        report.checked += [c for c, on in (("network", net), ("weights", weights)) if on]
        if net:  # builds the network once for both checks
            network_checks.check_network(ctx, net_id=net_id, config=config, device=device, p=p, n=n, any=any,
                                         weights=weights, weights_name=weights_name)
        else:
            network_checks.check_weights_alone(ctx, weights_name=weights_name)
    if apps:
        run_app_checks(ctx, apps)
    return report


def _check_layout(root: Path, report: VerifyReport, ctx: Context | None = None) -> None:
    """The layout: the folders and files every bundle has."""
    if not root.is_dir():
        return
    listed = set()
    if ctx is not None:
        try:
            listed = {f.path for f in ctx.bundle.large_files()}
        except BundleError:
            pass  # reported by the large_files check
    needs = [
        ("LICENSE", "license", "add a LICENSE file with the license text of the configs and weights"),
        ("docs/README.md", "layout", "add a model card: what the model does, its data, performance and limits"),
    ]
    for rel, check, hint in needs:
        if not (root / rel).is_file():
            report.add(Problem(check, f"{rel} is missing", None, None, hint))
    if not (root / "models").is_dir() and not any(p.startswith("models/") for p in listed):
        report.add(Problem("layout", "models/ is missing", None, None,
                           "put the weights in models/ (models/model.pt, a state dict), or list them in "
                           "large_files.yml"))


def _check_metadata(ctx: Context) -> None:
    path = ctx.bundle.metadata_path
    try:
        data, text = load_file_and_text(path)
    except BundleError as err:
        ctx.error("metadata", err)
        return
    ctx.metadata_text = text
    if not isinstance(data, dict):
        ctx.problem("metadata", f"configs/metadata.json holds {type(data).__name__}, not a JSON object",
                    location=Location(str(path), 1, 1), hint="write an object: {\"version\": \"0.1.0\", ...}")
        return
    ctx.metadata = data
    url = data.get("schema")
    schema, known = schema_for_url(url)
    if url is not None and not known:
        ctx.problem("metadata", f"the schema URL {url!r} is not one of the bundled schemas; the metadata was "
                    "checked against this project's own schema (nothing is downloaded)",
                    location=ctx.metadata_location("schema"), config_id="schema", severity=WARNING,
                    hint="name a known schema (see docs/format.md#metadata), or remove \"schema\"")
    for location, key, message, hint in iter_described(validation_errors(data, schema), str(path), text):
        ctx.problem("metadata", message, location=location, config_id=key or None,
                    hint=hint or "see docs/format.md#metadata for the fields and their types")


def _check_changelog(ctx: Context) -> None:
    data = ctx.metadata
    if data is None:
        return
    version, changelog = data.get("version"), data.get("changelog")
    if not isinstance(version, str):
        return  # the metadata check reports it
    if changelog is None:
        ctx.problem("changelog", "the metadata has no \"changelog\"", location=ctx.metadata_location(),
                    hint=f'add "changelog": {{"{version}": "what changed in this version"}}')
    elif isinstance(changelog, dict) and version not in changelog:
        ctx.problem("changelog", f"the changelog has no entry for version '{version}'",
                    location=ctx.metadata_location("changelog"), config_id="changelog",
                    hint=f'add "{version}": "what changed" to "changelog" (every released version has an entry)')


def _check_license(ctx: Context) -> None:
    license_file = ctx.bundle.license_path
    if license_file.is_file() and not license_file.read_text(encoding="utf-8", errors="replace").strip():
        ctx.problem("license", "LICENSE is empty", location=Location(str(license_file)),
                    hint="put the license text of the configs and weights in it")
    if ctx.metadata is None:
        return
    value = ctx.metadata.get("license")
    if value is None:
        ctx.problem("license", "the metadata has no \"license\" identifier", location=ctx.metadata_location(),
                    severity=WARNING, hint='add "license": "<SPDX identifier>", e.g. "Apache-2.0", matching LICENSE')
    elif isinstance(value, str) and not _SPDX.match(value.strip()):
        ctx.problem("license", f"\"license\" is {value!r}, not an SPDX license identifier or expression",
                    location=ctx.metadata_location("license"), config_id="license", severity=WARNING,
                    hint='write an SPDX identifier such as "Apache-2.0", "MIT", or "LicenseRef-<name>" for a '
                         "custom license")


def _check_large_files(ctx: Context) -> None:
    errors: list[BundleError] = []
    ctx.large_files = read_large_files(ctx.bundle.root, collect=errors)
    for err in errors:
        ctx.error("large_files", err)
    for entry in ctx.large_files:
        target = entry.target(ctx.bundle.root)
        if not target.is_file():
            ctx.problem("large_files", f"'{entry.path}' is listed in the large-files manifest but not fetched yet",
                        location=Location(entry.path), severity=WARNING,
                        hint=FETCH_HINT.format(root=ctx.bundle.root, url=entry.url))
            continue
        try:
            matches = entry.matches(ctx.bundle.root)
        except OSError as err:
            ctx.problem("large_files", f"'{entry.path}' cannot be read: {err}", location=Location(entry.path))
            continue
        if matches is False:
            ctx.problem("large_files", f"'{entry.path}' does not match its {entry.hash_type} digest {entry.hash_val}",
                        location=Location(entry.path), hint="fetch the file again; it is damaged or a different version")
