"""The default experiment-tracking settings of ``tracking="mlflow"`` as data, under MONAI's names
(``DEFAULT_HANDLERS_ID``, ``DEFAULT_MLFLOW_SETTINGS``, ``DEFAULT_EXP_MGMT_SETTINGS``): the engines the
MLflow handlers attach to, the ids they add to a config, and the handler configs themselves.

The handlers are MONAI's ``MLFlowHandler``, so running with these settings needs the ``monai`` extra and
mlflow; reading them needs neither.
"""

from __future__ import annotations

__all__ = ["DEFAULT_HANDLERS_ID", "DEFAULT_MLFLOW_SETTINGS", "DEFAULT_EXP_MGMT_SETTINGS"]

#: where each engine and its handler list are in a bundle's configs (MONAI's ids, ``#`` separators)
DEFAULT_HANDLERS_ID = {
    "trainer": {"id": "train#trainer", "handlers": "train#handlers"},
    "validator": {"id": "validate#evaluator", "handlers": "validate#handlers"},
    "evaluator": {"id": "evaluator", "handlers": "handlers"},
}

# the run of spaces is MONAI's (a line continuation inside its string), kept so the settings compare equal
_RANK0_ONLY = ("$torch.distributed.is_available()                 and torch.distributed.is_initialized() "
               "and torch.distributed.get_rank() > 0")


def _handler(**options: object) -> dict:
    """An ``MLFlowHandler`` config sharing the settings' ids (skipped on ranks other than 0)."""
    return {
        "_target_": "MLFlowHandler", "_disabled_": "@is_not_rank0", "tracking_uri": "@tracking_uri",
        "experiment_name": "@experiment_name", "run_name": "@run_name", **options,
    }


#: ``tracking="mlflow"``: a local SQLite store under ``output_dir`` (default ``<bundle_root>/eval``)
DEFAULT_MLFLOW_SETTINGS = {
    "handlers_id": DEFAULT_HANDLERS_ID,
    "configs": {
        "output_dir": "$@bundle_root + '/eval'",
        "tracking_uri": "$monai.utils.path_to_sqlite_uri(@output_dir + '/mlruns.db')",
        "experiment_name": "monai_experiment",
        "run_name": None,
        "save_execute_config": True,
        "is_not_rank0": _RANK0_ONLY,
        "trainer": _handler(
            artifacts="@save_execute_config", iteration_log=True, epoch_log=True, tag_name="train_loss",
            output_transform="$monai.handlers.from_engine(['loss'], first=True)", close_on_complete=True,
        ),
        "validator": _handler(iteration_log=False),
        "evaluator": _handler(artifacts="@save_execute_config", iteration_log=False, close_on_complete=True),
    },
}

#: every experiment manager's default settings, by the name ``tracking=`` takes
DEFAULT_EXP_MGMT_SETTINGS = {"mlflow": DEFAULT_MLFLOW_SETTINGS}
