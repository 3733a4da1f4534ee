"""The import path of ``monai.bundle.utils``: code written ``from monai.bundle.utils import
DEFAULT_HANDLERS_ID, load_bundle_config`` works as ``from bundle.utils import ...``.

Nothing is defined here; each name comes from the module that owns it (the config syntax, the
tracking defaults, MONAI's init templates, ``load_bundle_config``). See docs/monai.md.
"""

from __future__ import annotations

from bundle.config.syntax import EXPR as EXPR_KEY
from bundle.config.syntax import MACRO as MACRO_KEY
from bundle.config.syntax import MERGE as MERGE_KEY
from bundle.config.syntax import REF as ID_REF_KEY
from bundle.config.syntax import SEP as ID_SEP_KEY
from bundle.format.bundle_config import load_bundle_config
from bundle.format.monai_templates import DEFAULT_INFERENCE, DEFAULT_METADATA
from bundle.workflows.tracking_defaults import DEFAULT_EXP_MGMT_SETTINGS, DEFAULT_HANDLERS_ID, DEFAULT_MLFLOW_SETTINGS

__all__ = [
    "ID_REF_KEY", "ID_SEP_KEY", "EXPR_KEY", "MACRO_KEY", "MERGE_KEY", "DEFAULT_METADATA", "DEFAULT_INFERENCE",
    "DEFAULT_HANDLERS_ID", "DEFAULT_MLFLOW_SETTINGS", "DEFAULT_EXP_MGMT_SETTINGS", "load_bundle_config",
]  # fmt: skip
