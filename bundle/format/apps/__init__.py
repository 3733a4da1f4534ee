"""``verify --app NAME``: what a consuming application needs from a bundle, one module per app.

Each entry maps an app's name to ``"module:function"``; the function takes the verification's
``Context`` and adds its problems under the check ``app:NAME``. Imported only when that app is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from bundle.errors import FormatError, did_you_mean

__all__ = ["APPS", "app_check", "run_app_checks"]

APPS: dict[str, str] = {
    "triton": "bundle.format.apps.triton:check",  # issue 12
    "monai-deploy": "bundle.format.apps.monai_deploy:check",  # issue 12
    "monai-fl": "bundle.format.apps.monai_fl:check",  # issue 13
    "monai-label": "bundle.format.apps.monai_label:check_monai_label",  # issue 14
    "monai": "bundle.format.apps.monai_tools:check",  # issue 11: MONAI's own ConfigParser reads every config
}


def app_check(name: str) -> Callable[[Any], None]:
    """The check function of app ``name``.

    Raises:
        FormatError: no app has that name (close names in the hint).
    """
    if name not in APPS:
        raise FormatError(f"unknown app '{name}' for verify --app",
                          hint=did_you_mean(name, APPS) or f"apps: {', '.join(APPS)}")
    module, func = APPS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_app_checks(ctx: Any, names: Any) -> None:
    """Run the checks of ``names`` (one name, a comma-separated string or a sequence) on ``ctx``."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    checks = [(n, app_check(n)) for n in names]  # every name checked before any runs
    for name, check in checks:
        ctx.report.checked.append(f"app:{name}")
        check(ctx)
