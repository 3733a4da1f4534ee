"""``verify --app NAME``: the checks of what one application reads from a bundle, each in its own module.

``APPS`` maps an app's name to ``"module:function"``; the function takes verify's ``Context`` and adds
its problems under the check of the app's name. Only the chosen app's module is imported.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from bundle.errors import FormatError, did_you_mean

APPS: dict[str, str] = {
    "monai-label": "bundle.format.apps.monai_label:check_monai_label",
}


def app_check(name: str) -> Callable[[Any], None]:
    """The check function of app ``name``.

    Raises:
        FormatError: no such app (close names suggested).
    """
    if name not in APPS:
        raise FormatError(f"verify knows no app '{name}'",
                          hint=did_you_mean(name, APPS) or f"apps: {', '.join(sorted(APPS))}")
    module, function = APPS[name].split(":")
    return getattr(importlib.import_module(module), function)
