"""``verify --monai`` (``--app monai``): every config stack of the bundle read by MONAI's own ``ConfigParser``,
as ``python -m monai.bundle run`` would read it, reporting what MONAI could not resolve.

Nothing is instantiated or evaluated. For each stack ``verify`` checks (a config with the configs it is
layered on), MONAI parses it (macros, relative ids) from the bundle folder, as
``cd BUNDLE && python -m monai.bundle run --config_file configs/NAME.json`` does (MONAI reads a macro's
file relative to the working folder), every ``_target_`` written as a name is located the
way MONAI locates it (its ``ComponentLocator`` for a short name, then ``pydoc.locate``: the target's module
is imported, as ``verify`` does for our own check), and every reference MONAI would follow must name an
id it has (MONAI also reads ``@`` inside a quoted string of an expression as a reference). Needs MONAI (the
``monai`` extra); without it the check reports that it could not run.
"""

from __future__ import annotations

import os
import pydoc
from pathlib import Path
from typing import Any

from bundle.errors import BundleError, Location

APP = "monai"
CHECK = f"app:{APP}"


def check(ctx: Any) -> None:
    """Add to ``ctx.report`` every config id MONAI could not resolve, under the check ``app:monai``."""
    try:
        from monai.bundle import ConfigComponent, ConfigParser, ReferenceResolver
    except ImportError:
        ctx.problem(CHECK, "MONAI is not installed, so the configs could not be read with MONAI's ConfigParser",
                    hint="pip install 'bundle[monai]' (MONAI 1.6.1), then verify again")
        return
    tools = (ConfigComponent, ConfigParser, ReferenceResolver)
    for files in dict.fromkeys(tuple(f) for f in ctx.stacks.values()):
        _check_stack(ctx, list(files), tools)


def _check_stack(ctx: Any, files: list[Path], tools: tuple) -> None:
    component_cls, parser_cls, resolver_cls = tools
    name = " + ".join(str(Path(f).relative_to(ctx.bundle.root)) for f in files)
    where = _locator(ctx, files)
    parser = parser_cls()
    here = os.getcwd()
    try:
        os.chdir(ctx.bundle.root)  # MONAI reads macros' files from the working folder
        if ctx.metadata is not None:
            parser.read_meta(str(ctx.bundle.metadata_path))
        parser.read_config([str(f) for f in files])
        parser.parse(reset=True)
    except Exception as err:  # MONAI's own errors: whatever it raises is the finding
        ctx.problem(CHECK, f"MONAI cannot parse {name}: {type(err).__name__}: {_first_line(err)}",
                    location=Location(str(files[-1])), hint="run `python -m monai.bundle run --config_file ...` "
                    "in the bundle folder to see MONAI's full message")
        return
    finally:
        os.chdir(here)
    items = parser.ref_resolver.items
    for id, item in items.items():
        value = item.get_config()
        if isinstance(item, component_cls):
            _check_target(ctx, id, item, where, name)
        elif isinstance(value, str):
            for ref in resolver_cls.match_refs_pattern(value):
                if ref not in items:
                    ctx.problem(CHECK, f"{name}: MONAI cannot resolve the reference '@{ref}' in '{value}'",
                                location=where(id), config_id=_ours(id),
                                hint=_reference_hint(value, ref))


def _check_target(ctx: Any, id: str, item: Any, where: Any, name: str) -> None:
    target = item.get_config().get("_target_")
    if not isinstance(target, str) or target[:1] in ("$", "@", "%"):
        return  # an expression or a reference: resolved when it runs
    try:
        module_name = item.resolve_module_name()
        found = pydoc.locate(module_name) if isinstance(module_name, str) else None
    except Exception as err:  # importing the target's module failed under MONAI's lookup
        found, module_name = None, f"{target} ({type(err).__name__}: {_first_line(err)})"
    if found is None:
        hint = ("write the dotted path (e.g. \"bundle.components.TrainingLoop\"): MONAI finds short names only "
                "in its own modules" if "." not in target else "check that the module is installed and importable")
        ctx.problem(CHECK, f"{name}: MONAI cannot locate _target_ '{target}'", location=where(f"{id}::_target_"),
                    config_id=_ours(id), hint=hint)


def _locator(ctx: Any, files: list[Path]) -> Any:
    """``id -> Location`` through our own engine (MONAI keeps no positions); the files when it cannot."""
    from bundle.config.engine import Config

    try:
        config = Config.load(*files, base_dir=ctx.bundle.root, locator=ctx.locator)
    except BundleError:
        return lambda id: Location(str(files[-1]))
    return lambda id: config.where(_ours(id)) or Location(str(files[-1]))


def _ours(id: str) -> str:
    return id.replace("#", "::")


def _reference_hint(value: str, ref: str) -> str:
    if value.startswith("$"):
        return (f"define '{ref}' in the config; MONAI reads every '@name' of an expression as a reference, "
                "inside quoted strings too, so build such text without '@'")
    return f"define '{ref}' in the config, or fix the reference"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
