"""Serving a bundle over HTTP: the Open Inference Protocol (KServe v2, what Triton speaks), a file
endpoint that runs the bundle's own inferer and postprocessing, dynamic batching and Prometheus metrics.

``create_app`` builds the FastAPI app; ``python -m bundle serve`` starts it with uvicorn. FastAPI,
uvicorn and prometheus-client come with the ``serve`` extra and are imported only here.

Example:
    >>> from bundle.serve import create_app
    >>> app = create_app("zoo/digits_classification", max_batch_size=8, batch_timeout_ms=2)
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServedModel", "create_app", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bundle.serve.app import create_app

        return create_app
    if name in ("ServedModel", "load_model"):
        from bundle.serve import model

        return getattr(model, name)
    raise AttributeError(name)
