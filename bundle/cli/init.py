"""The ``init`` command (and MONAI's name for it, ``init_bundle``): a new bundle folder from a template."""

from __future__ import annotations

from typing import Any


def init(
    bundle_dir: str | None = None,
    ckpt_file: str | None = None,
    template: str = "segmentation",
    name: str | None = None,
    authors: str | None = None,
    dataset_license: bool = False,
    metadata_str: Any = None,
    inference_str: Any = None,
    list_templates: bool = False,
) -> int:
    """Create a bundle folder from a template: it verifies and runs at once (train, evaluate, inference).

    The folder must not exist (or be empty); it is built beside its destination and renamed into
    place, so a failure leaves nothing. models/model.pt holds ckpt_file, or else the template
    network's random initial weights until you train. MONAI's form works too:
    bundle init_bundle DIR [CKPT_FILE] [--dataset_license] [--metadata_str JSON] [--inference_str JSON].

    Args:
        bundle_dir: the bundle folder to create.
        ckpt_file: a weights file (a state dict) to copy to models/model.pt.
        template: segmentation (2D UNet, synthetic ellipses) or classification (2D CNN, 8x8 images).
        name: the bundle's display name (default: the folder's name).
        authors: who made the bundle (metadata authors and copyright).
        dataset_license: also write docs/data_license.txt to fill in.
        metadata_str: the metadata as JSON text, instead of the template's.
        inference_str: the inference config as JSON text, instead of the template's.
        list_templates: print the templates and exit.
    """
    from bundle.format.init import init_bundle
    from bundle.format.init import list_templates as templates

    if list_templates:
        known = templates()
        width = max(map(len, known), default=0)
        for template_name, task in known.items():
            print(f"{template_name:<{width}}  {task}")
        return 0
    if bundle_dir is None:
        from bundle.errors import FormatError

        raise FormatError("no bundle folder given", hint="bundle init DIR [--template NAME]")
    root = init_bundle(
        bundle_dir, ckpt_file=ckpt_file, dataset_license=dataset_license, metadata_str=metadata_str,
        inference_str=inference_str, template=template, name=name, authors=authors,
    )  # fmt: skip
    weights = "copied from " + str(ckpt_file) if ckpt_file is not None else "random initial weights: run train"
    print(f"created {root} from template '{template}' (models/model.pt: {weights})")
    print("next:")
    print(f"  python -m bundle verify {bundle_dir}")
    print(f"  python -m bundle run {bundle_dir} train")
    print(f"  python -m bundle run {bundle_dir} evaluate")
    print(f"  python -m bundle run {bundle_dir} inference")
    return 0
