"""Commands that check bundles: ``verify`` (everything, every problem at once), and MONAI's
``verify_metadata`` and ``verify_net_in_out`` with MONAI's argument names."""

from __future__ import annotations

import json
from typing import Any


def verify(
    bundle_dir: str,
    no_net: bool = False,
    no_weights: bool = False,
    json_output: bool = False,
    net_id: str = "network_def",
    config: str | None = None,
    weights: str = "model.pt",
    device: str = "cpu",
    p: int = 1,
    n: int = 1,
    any: int = 32,
    app: Any = None,
    monai: bool = False,
) -> int:
    """Check a bundle folder and print every problem, grouped by check, each with where and a hint.

    Checks: layout, metadata (against its schema, offline), changelog, license, large_files, configs
    (references, macros, targets, expressions; nothing runs), files the configs name, network (built
    and run once on a random input shaped as network_data_format says) and weights (loaded into it).
    Exits 0 when there is no error (warnings allowed), 1 otherwise.

    Args:
        bundle_dir: the bundle folder.
        no_net: do not build and run the network.
        no_weights: do not load the weights.
        json_output: print the report as JSON.
        net_id: the config id of the network.
        config: the config that defines the network (default: inference, else train).
        weights: the weights file under models/.
        device: where the network runs (cpu, cuda, cuda:1).
        p: value of p in spatial_shape expressions such as "2**p*n".
        n: value of n in spatial_shape expressions such as "16*n".
        any: the size a "*" dimension gets.
        app: also check what an app needs (triton, monai-deploy, monai-fl, monai-label, monai; several comma-separated).
        monai: also read every config with MONAI's own ConfigParser and report what MONAI could not resolve
            (targets it cannot locate, references it cannot follow); the same as --app monai. Needs MONAI.
    """
    from bundle.format.verify import verify_bundle

    apps = [a.strip() for a in app.split(",") if a.strip()] if isinstance(app, str) else list(app or ())
    if monai and "monai" not in apps:
        apps.append("monai")
    report = verify_bundle(
        bundle_dir, net=not no_net, weights=not no_weights, net_id=net_id, config=config, weights_name=weights,
        device=device, p=p, n=n, any=any, apps=apps,
    )
    if json_output:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.format())
    return 0 if report.ok else 1


def verify_metadata(
    meta_file: str | None = None,
    filepath: str | None = None,
    create_dir: bool | None = None,
    hash_val: str | None = None,
    hash_type: str | None = None,
    args_file: str | None = None,
) -> int:
    """Validate a metadata file against the schema its "schema" URL names (MONAI's command; offline).

    Every violation is printed with its file:line:col. Exits 0 when valid, 1 otherwise.

    Args:
        meta_file: the metadata file (configs/metadata.json).
        filepath: where to write the schema that was used.
        create_dir: create filepath's folder when missing (default true).
        hash_val: expected digest of the schema (a mismatch is logged; the bundled schema is used).
        hash_type: the digest's algorithm (default md5).
        args_file: a JSON/YAML file with defaults for these arguments.
    """
    from bundle.format.monai_verify import verify_metadata as run

    run(meta_file=meta_file, filepath=filepath, create_dir=create_dir, hash_val=hash_val, hash_type=hash_type,
        args_file=args_file)
    print(f"{meta_file or 'metadata'}: verified")
    return 0


def verify_net_in_out(
    net_id: str | None = None,
    meta_file: str | None = None,
    config_file: str | None = None,
    device: str | None = None,
    p: int | None = None,
    n: int | None = None,
    any: int | None = None,
    extra_forward_args: Any = None,
    args_file: str | None = None,
    overrides: dict | None = None,
) -> int:
    """Build a network from a config and check its input and output against the metadata (MONAI's command).

    A random input (1, num_channels, *spatial_shape) is made from network_data_format's first input
    ("image" if there is one); the output's channels and dtype must match the first output ("pred").
    Exits 0 when they match, 1 otherwise. Any --ID VALUE that is not an option overrides a config id,
    e.g. --_meta_::network_data_format::inputs::image::num_channels 3.

    Args:
        net_id: the config id of the network (default network_def).
        meta_file: the metadata file.
        config_file: the config file that defines the network.
        device: where to run (default cuda:0 when available, else cpu).
        p: value of p in spatial_shape expressions (default 1).
        n: value of n in spatial_shape expressions (default 1).
        any: the size of a "*" dimension (default 1).
        extra_forward_args: more keyword arguments for the forward call, as a dict.
        args_file: a JSON/YAML file with defaults for these arguments.
    """
    from bundle.format.monai_verify import verify_net_in_out as run

    run(net_id=net_id, meta_file=meta_file, config_file=config_file, device=device, p=p, n=n, any=any,
        extra_forward_args=extra_forward_args, args_file=args_file, **(overrides or {}))
    print(f"{net_id or 'network_def'}: inputs and outputs match the metadata")
    return 0
