"""The JSON Schemas shipped with the package (``schemas/``): finding them, mapping the URLs documents
name them by to the bundled files (nothing is ever downloaded), and validating a document with every
violation reported at its ``file:line:col``.

``schemas/catalog.json`` lists each schema: its name, file, what it describes and its URLs. Adding a
schema (e.g. the zoo index) is a new file and a new catalog entry; no code changes.

Example:
    >>> schema, known = schema_for_url(metadata.get("schema"))
    >>> for err in validation_errors(metadata, schema):
    ...     print(describe_error(err))
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from bundle.errors import FormatError, Location, did_you_mean

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "OWN_METADATA",
    "describe_error",
    "error_location",
    "iter_described",
    "key_path",
    "load_schema",
    "schema_dir",
    "schema_for_url",
    "schema_names",
    "validation_errors",
]

#: The catalog name of this project's own metadata schema.
OWN_METADATA = "metadata"


@functools.lru_cache(maxsize=1)
def schema_dir() -> Path:
    """The folder holding ``catalog.json`` and the schemas.

    In an installed wheel the schemas live inside the package (``bundle/schemas/``); in a source
    checkout or an editable install they are the repository's top-level ``schemas/``.

    Raises:
        FormatError: neither place has them (a broken installation).
    """
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "schemas", package.parent / "schemas"):
        if (candidate / "catalog.json").is_file():
            return candidate
    raise FormatError(
        f"the package's JSON schemas are missing (looked in '{package / 'schemas'}' and '{package.parent / 'schemas'}')",
        hint="reinstall the package: pip install --force-reinstall bundle",
    )


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, dict]:
    with open(schema_dir() / "catalog.json", encoding="utf-8") as f:
        entries = json.load(f)["schemas"]
    return {e["name"]: e for e in entries}


@functools.lru_cache(maxsize=1)
def _urls() -> dict[str, str]:
    return {url: name for name, entry in _catalog().items() for url in entry.get("urls", ())}


def schema_names() -> list[str]:
    """The names of every bundled schema (``metadata``, ``large_files``, ``monai_meta_20220729``, ...)."""
    return list(_catalog())


@functools.cache
def load_schema(name: str) -> dict:
    """The bundled schema called ``name`` (see ``schema_names``), as a dict.

    Raises:
        FormatError: no schema has that name.
    """
    entry = _catalog().get(name)
    if entry is None:
        raise FormatError(f"no bundled schema is called '{name}'",
                          hint=did_you_mean(name, _catalog()) or f"known: {', '.join(_catalog())}")
    with open(schema_dir() / entry["file"], encoding="utf-8") as f:
        return json.load(f)


def schema_for_url(url: str | None) -> tuple[dict, bool]:
    """The bundled schema a metadata file's ``schema`` URL names, without downloading anything.

    Args:
        url: the ``schema`` value of a metadata file (MONAI's release URLs, their
            ``project-monai.github.io/schema`` copies, or this project's URN), or None.

    Returns:
        (schema, known): the schema the URL maps to and True; or this project's own metadata
        schema and False when the URL is unknown or None.
    """
    name = _urls().get(url.strip()) if isinstance(url, str) else None
    if name is None:
        return load_schema(OWN_METADATA), False
    return load_schema(name), True


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource

    resources = []
    for name in _catalog():
        schema = load_schema(name)
        if "$id" in schema:
            resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(schema: dict, cls: Any = None, format_checker: Any = None) -> Any:
    from jsonschema import validators

    cls = cls or validators.validator_for(schema)
    return cls(schema, registry=_registry(), format_checker=format_checker)


def validation_errors(instance: Any, schema: dict, *, cls: Any = None, format_checker: Any = None) -> list["ValidationError"]:
    """Every way ``instance`` breaks ``schema`` (``$ref``s to bundled schemas resolve offline), in
    document order.

    Args:
        cls: a jsonschema validator class (default: the one the schema's ``$schema`` names).
        format_checker: a jsonschema ``FormatChecker`` to check ``format`` keywords.
    """
    errors = list(_validator(schema, cls, format_checker).iter_errors(instance))
    return sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])


# --- turning a jsonschema error into a message a person can act on ------------------------------


def _specific(err: "ValidationError") -> "ValidationError":
    """For ``anyOf``/``oneOf`` failures, the error of the branch that came closest: branches for
    another JSON type do not apply; among the rest, the one with the fewest errors."""
    from jsonschema.exceptions import best_match

    while err.validator in ("anyOf", "oneOf") and err.context:
        branches: dict[Any, list] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        applicable = {
            b: subs for b, subs in branches.items()
            if not any(s.validator == "type" and not s.relative_path for s in subs)
        }
        pool = applicable or branches
        chosen = min(pool, key=lambda b: (len(pool[b]), str(b)))
        err = best_match(pool[chosen])
    return err


def key_path(err: "ValidationError") -> str:
    """The ``::``-joined key path of the value the error is about ("" for the document)."""
    return "::".join(str(p) for p in err.absolute_path)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
               int: "an integer", float: "a number"}


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def describe_error(err: "ValidationError") -> tuple[str, str, str]:
    """(key path, message, hint) for one validation error.

    The message names the value and what the schema wants instead; the hint says how to fix it.
    """
    err = _specific(err)
    path = key_path(err)
    what = f"'{path}'" if path else "the document"
    kind = err.validator
    want: Any = err.validator_value  # whatever the schema wrote for this keyword
    if kind == "required":
        missing = err.message.split("'")[1] if err.message.count("'") >= 2 else str(want)
        where = f" in '{path}'" if path else ""
        return path, f"the required field '{missing}' is missing{where}", _REQUIRED_HINTS.get(missing, "")
    if kind == "type":
        wanted = " or ".join(_TYPE_WORDS.get(t, str(t)) for t in (want if isinstance(want, list) else [want]))
        return path, f"{what} is {_type_name(err.instance)} ({_short(err.instance)}); it must be {wanted}", ""
    if kind == "enum":
        options = ", ".join(_short(v) for v in want)
        return path, f"{what} is {_short(err.instance)}; it must be one of {options}", ""
    if kind == "pattern":
        return path, f"{what} is {_short(err.instance)}, which does not match the pattern {want}", _PATTERN_HINTS.get(
            path.rsplit("::", 1)[-1], "")
    if kind in ("minimum", "minLength", "minItems"):
        return path, f"{what} is {_short(err.instance)}; {_MIN_WORDS[kind]} {want}", ""
    return path, f"{what}: {err.message if len(err.message) < 200 else err.message[:197] + '...'}", ""


_TYPE_WORDS = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}
_MIN_WORDS = {"minimum": "the smallest allowed is", "minLength": "the shortest allowed length is",
              "minItems": "the fewest allowed items are"}
_REQUIRED_HINTS = {
    "version": 'add "version": "0.1.0" (the bundle\'s version)',
    "pytorch_version": 'add "pytorch_version": "<the torch version the bundle was made with>"',
    "monai_version": 'the schema named by "schema" is MONAI\'s, which requires it; add "monai_version", or, if '
                     'the bundle needs no MONAI, remove "schema" to validate against this project\'s own schema',
    "numpy_version": 'the schema named by "schema" requires it; add "numpy_version": "<the numpy version>"',
    "optional_packages_version": 'add "optional_packages_version": {} (package -> version, {} if none)',
    "required_packages_version": 'add "required_packages_version": {} (package -> version, {} if none)',
    "network_data_format": 'describe the network\'s inputs and outputs: "network_data_format": '
                           '{"inputs": {"image": {...}}, "outputs": {"pred": {...}}} (see docs/format.md)',
    "schema": 'add "schema": the URL of the schema the file follows',
    "changelog": 'add "changelog": {"<version>": "what changed"}',
}
_PATTERN_HINTS = {"version": "use letters, digits and . _ + - only, e.g. 0.1.0", "hash_val": "write the digest in hex"}


def error_location(file: str, text: str, err: "ValidationError") -> Location:
    """Where the value an error is about is written in ``file`` (whose content is ``text``)."""
    from bundle.config.loader import positions_of

    positions = positions_of(file, text)
    path = tuple(str(p) for p in _specific(err).absolute_path)
    for n in range(len(path), -1, -1):
        pos = positions.get(path[:n])
        if pos is not None:
            return Location(file, *pos)
    return Location(file)


def iter_described(errors: Iterable["ValidationError"], file: str, text: str) -> Iterator[tuple[Location, str, str, str]]:
    """(location, key path, message, hint) for each error, for reports."""
    for err in errors:
        path, message, hint = describe_error(err)
        yield error_location(file, text, err), path, message, hint
