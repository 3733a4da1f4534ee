"""``bundle package``: a bundle as an application folder for a deployment system."""

from __future__ import annotations

TARGETS = ("monai-deploy",)


def package(bundle: str, target: str = "monai-deploy", output: str | None = None, config: str = "inference",
            no_verify: bool = False) -> int:
    """Package a bundle as a MONAI Deploy application folder (app.py, app.yaml, requirements.txt,
    __main__.py, model/model.ts with extra/metadata.json and an App SDK-readable extra/inference.json).

    Args:
        bundle: the bundle folder.
        target: monai-deploy.
        output: the application folder to write (default BUNDLE/deploy/monai-deploy); replaced whole.
        config: the config whose inferer and postprocessing the app runs.
        no_verify: skip the TorchScript parity check against eager PyTorch.
    """
    from pathlib import Path

    from bundle.errors import ExportError, did_you_mean

    if target not in TARGETS:
        raise ExportError(f"unknown package target '{target}'",
                          hint=did_you_mean(target, TARGETS) or f"targets: {', '.join(TARGETS)}")
    from bundle.export.monai_deploy import package_monai_deploy

    out = Path(output) if output else Path(bundle) / "deploy" / "monai-deploy"
    folder = package_monai_deploy(bundle, out, config=config, verify=not no_verify)
    print(f"wrote the MONAI Deploy application {folder} (run: python {folder} -i INPUT -o OUTPUT -m {folder}/model/model.ts)")
    return 0
