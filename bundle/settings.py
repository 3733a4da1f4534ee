"""The package's settings: every environment variable it reads for itself, one function each.

Each function reads its variable on every call, so tests and users can change it; ``docs/settings.md`` is
the table of them. Values are stripped of spaces, and an empty value is the same as none.

A boolean is true for ``1``, ``true``, ``yes`` or ``on`` and false for ``0``, ``false``, ``no``, ``off``
or nothing (any case); any other value raises ``SettingError`` naming the variable, as does a number
that is not one. ``BUNDLE_HTTP_TIMEOUT`` raises ``ZooError``, ``BUNDLE_MAX_EXTRACT_BYTES`` and
``BUNDLE_LOG_RANKS`` ``FormatError``, as they did before this module read them.

Read elsewhere, on purpose: ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (torchrun's, in
``components/distributed.py``, ``workflows/layout.py`` and ``workflows/logs.py``); ``CUBLAS_WORKSPACE_CONFIG``
(set by ``components/seeding.py`` for deterministic runs); ``BUNDLE_SERVE_APP`` (written by ``bundle serve
--workers N`` for its worker processes and read by ``serve/app.py``, not a setting); and the environments
given to child processes (``{**os.environ, ...}`` in ``registry/git.py``, ``fl/local.py``, ``label/train.py``).

Cheap to import: nothing heavy here (``platformdirs`` and the error classes are imported when needed).
"""

from __future__ import annotations

import os

# typing, collections.abc and pathlib are imported for annotations only: at start-up (`bundle --help`)
# they would cost more than the rest of the package (typing.TYPE_CHECKING itself needs typing)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "cache_root", "offline", "debug", "no_progress", "http_timeout", "max_extract_bytes", "index",
    "index_ttl", "monai_index", "download_source", "output_root", "log_ranks", "github_url", "github_api",
    "github_token", "hf_endpoint", "hf_token", "hf_hub_offline", "duplicate_keys", "allow_missing_reference",
]  # fmt: skip

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

HTTP_TIMEOUT = (10.0, 60.0)  # seconds to open a connection, seconds without a byte from the server
MAX_EXTRACT_BYTES = 20 << 30
INDEX_TTL = 600.0
MONAI_INDEX = "https://raw.githubusercontent.com/Project-MONAI/model-zoo/dev/models/model_info.json"


def _text(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable's value, stripped ("" when unset)."""
    return (os.environ if environ is None else environ).get(name, "").strip()


def _invalid(name: str, value: str, expected: str, hint: str, kind: type | None = None) -> Exception:
    """The error for ``name=value``; ``kind`` is the class callers caught before this module existed."""
    from bundle.errors import SettingError

    if kind is None:
        return SettingError(name, value, expected, hint=hint)
    return kind(f"{name}='{value}' is not {expected}", hint=hint)


def _flag(name: str) -> bool:
    """The one rule for booleans (see the module's docstring)."""
    value = _text(name)
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _invalid(name, os.environ[name], "a boolean", f"set {name} to 1/true/yes/on or 0/false/no/off, or unset it")


def cache_root() -> Path:
    """``BUNDLE_CACHE_DIR``, else the platform's cache folder for ``bundle`` (``~/.cache/bundle`` on Linux)."""
    from pathlib import Path

    root = _text("BUNDLE_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("bundle")
    return Path(root).expanduser()


def offline() -> bool:
    """``BUNDLE_OFFLINE``: nothing is downloaded, only the cache is used."""
    return _flag("BUNDLE_OFFLINE")


def debug() -> bool:
    """``BUNDLE_DEBUG``: the command line prints the full traceback of an error."""
    return _flag("BUNDLE_DEBUG")


def no_progress() -> bool:
    """``BUNDLE_NO_PROGRESS``: no download progress bars (they show only on a terminal anyway)."""
    return _flag("BUNDLE_NO_PROGRESS")


def http_timeout() -> tuple[float, float]:
    """``BUNDLE_HTTP_TIMEOUT``: (connect, read) seconds; one number is both, ``CONNECT,READ`` each. Default 10, 60.

    Raises:
        ZooError: not one or two positive numbers.
    """
    from bundle.errors import ZooError

    text = _text("BUNDLE_HTTP_TIMEOUT")
    if not text:
        return HTTP_TIMEOUT
    try:
        values = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) <= 0:
        raise _invalid("BUNDLE_HTTP_TIMEOUT", text, "a timeout",
                       "write seconds (e.g. 120) or CONNECT,READ seconds (e.g. 10,120)", ZooError)
    return (values[0], values[-1])


def max_extract_bytes() -> int:
    """``BUNDLE_MAX_EXTRACT_BYTES``: bytes, or with a K/M/G/T suffix (powers of 1024). Default 20 GiB.

    Raises:
        FormatError: not a size.
    """
    import re

    from bundle.errors import FormatError

    text = _text("BUNDLE_MAX_EXTRACT_BYTES").upper().removesuffix("B").removesuffix("I")
    if not text:
        return MAX_EXTRACT_BYTES
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)", text)
    if not found:
        raise _invalid("BUNDLE_MAX_EXTRACT_BYTES", os.environ["BUNDLE_MAX_EXTRACT_BYTES"], "a size",
                       "write bytes, or a number with K, M, G or T (e.g. 50G)", FormatError)
    return int(float(found.group(1)) * _SIZE_UNITS[found.group(2)])


def index() -> str:
    """``BUNDLE_INDEX``: index paths or URLs, separated by commas or spaces; "" when unset (the packaged index)."""
    return _text("BUNDLE_INDEX")


def index_ttl() -> float:
    """``BUNDLE_INDEX_TTL``: seconds a cached remote index is used without asking again. Default 600."""
    text = _text("BUNDLE_INDEX_TTL")
    if not text:
        return INDEX_TTL
    try:
        return float(text)
    except ValueError:
        raise _invalid("BUNDLE_INDEX_TTL", text, "a number of seconds", "write seconds, e.g. 600") from None


def monai_index() -> str:
    """``BUNDLE_MONAI_INDEX``: MONAI's ``model_info.json`` (a path or URL), default the model zoo's on GitHub."""
    return _text("BUNDLE_MONAI_INDEX") or MONAI_INDEX


def download_source() -> str:
    """``BUNDLE_DOWNLOAD_SOURCE`` (or MONAI's ``BUNDLE_DOWNLOAD_SRC``): the default source of ``download``.
    Default ``index``."""
    return _text("BUNDLE_DOWNLOAD_SOURCE") or _text("BUNDLE_DOWNLOAD_SRC") or "index"


def output_root() -> Path:
    """``BUNDLE_OUTPUT_DIR``, else ``<user data folder>/bundle/outputs`` (``~/.local/share/bundle/outputs``
    on Linux): where a zoo bundle's run writes its outputs, one folder per bundle."""
    from pathlib import Path

    root = _text("BUNDLE_OUTPUT_DIR")
    if not root:
        import platformdirs

        root = str(Path(platformdirs.user_data_dir("bundle")) / "outputs")
    return Path(root).expanduser()


def log_ranks(environ: Mapping[str, str] | None = None) -> frozenset[int] | None:
    """``BUNDLE_LOG_RANKS``: the torchrun ranks that log INFO messages, None for ``all``. Default rank 0.

    Args:
        environ: the variables to read (default ``os.environ``).

    Raises:
        FormatError: neither ``all`` nor a list of ranks.
    """
    from bundle.errors import FormatError

    text = _text("BUNDLE_LOG_RANKS", environ).lower() or "0"
    if text == "all":
        return None
    try:
        return frozenset(int(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise _invalid("BUNDLE_LOG_RANKS", text, "a list of ranks", "write all, or ranks such as 0 or 0,1",
                       FormatError) from None


def github_url() -> str:
    """``BUNDLE_GITHUB_URL``: GitHub's web address (GitHub Enterprise, a mirror), default https://github.com."""
    return (_text("BUNDLE_GITHUB_URL") or "https://github.com").rstrip("/")


def github_api() -> str:
    """GitHub's REST API: ``BUNDLE_GITHUB_API``, else ``GITHUB_API_URL``, else https://api.github.com."""
    return (_text("BUNDLE_GITHUB_API") or _text("GITHUB_API_URL") or "https://api.github.com").rstrip("/")


def github_token() -> str | None:
    """``GITHUB_TOKEN``, else ``GH_TOKEN``: sent to GitHub (private release assets, publishing)."""
    return _text("GITHUB_TOKEN") or _text("GH_TOKEN") or None


def hf_endpoint() -> str | None:
    """``HF_ENDPOINT`` as it is now (huggingface_hub reads it once, when first imported); None: its default."""
    return _text("HF_ENDPOINT") or None


def hf_token() -> str | None:
    """``HF_TOKEN``: the Hugging Face token."""
    return _text("HF_TOKEN") or None


def hf_hub_offline() -> bool:
    """``HF_HUB_OFFLINE``: huggingface_hub's offline mode, which Hub downloads of this package follow too."""
    return _flag("HF_HUB_OFFLINE")


def duplicate_keys() -> str:
    """What a duplicate key in a config file does: ``BUNDLE_DUPLICATE_KEYS`` (``warn`` or ``error``), else
    ``error`` when MONAI's ``MONAI_FAIL_ON_DUPLICATE_CONFIG`` is ``1`` (MONAI's own test), else ``warn``.

    Raises:
        ConfigError: ``BUNDLE_DUPLICATE_KEYS`` is something else.
    """
    from bundle.errors import ConfigError

    value = _text("BUNDLE_DUPLICATE_KEYS").lower()
    if value in ("warn", "error"):
        return value
    if value:
        raise _invalid("BUNDLE_DUPLICATE_KEYS", value, "warn or error", "set BUNDLE_DUPLICATE_KEYS to warn or error",
                       ConfigError)
    return "error" if _text("MONAI_FAIL_ON_DUPLICATE_CONFIG") == "1" else "warn"


def allow_missing_reference() -> bool:
    """MONAI's ``MONAI_ALLOW_MISSING_REFERENCE`` (anything but ``0`` allows, MONAI's own rule): the default of
    ``ReferenceResolver.allow_missing_reference``, read once when ``bundle.config.items`` is imported."""
    return os.environ.get("MONAI_ALLOW_MISSING_REFERENCE", "0") != "0"
