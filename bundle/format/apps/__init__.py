"""``verify --app NAME``: the checks an application needs of a bundle, one module per application.

``APPS`` maps an application's name to ``"module:function"``; the function takes the bundle
folder and the ``VerifyReport`` and adds its problems. Only the chosen module is imported.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from bundle.errors import FormatError, did_you_mean

APPS: dict[str, str] = {
    "monai-fl": "bundle.format.apps.monai_fl:check_monai_fl",
}


def check_app(name: str, root: str | Path, report: Any) -> None:
    """Run application ``name``'s checks on the bundle at ``root``, adding problems to ``report``.

    Raises:
        FormatError: no application of that name.
    """
    if name not in APPS:
        raise FormatError(f"unknown app '{name}'", hint=did_you_mean(name, APPS) or f"apps: {', '.join(APPS)}")
    module, func = APPS[name].split(":")
    getattr(importlib.import_module(module), func)(Path(root), report)
