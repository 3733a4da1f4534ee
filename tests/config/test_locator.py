"""Tests for bundle.config.locator: short-name indexes, resolution, the cache, dotted paths."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from operator import attrgetter
from pathlib import Path

import pytest

from bundle.config import locator, name_index
from bundle.config.name_index import INDEXES, NameIndexes
from bundle.config.locator import ComponentLocator
from bundle.errors import AmbiguousTargetError, MissingDependencyError, UnknownTargetError

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
ZOO = SHARED / "compat" / "monai-model-zoo"

FAKE_PACKAGES = ("fakepkg", "fakeexp", "fakeall", "fakedep", "fakebroken", "fakeep")

# A component tree: a re-exported class with a stale copy elsewhere, a genuinely ambiguous name,
# private modules, a module that must never be imported, a folder that is not a package.
TREE = {
    "fakepkg/__init__.py": """
        from .transforms import (
            LoadImaged,  # the public one
            load_image as li,
        )
        """,
    "fakepkg/transforms/__init__.py": "from .io import LoadImaged, load_image\n",
    "fakepkg/transforms/io.py": """
        class LoadImaged:
            pass

        def load_image():
            pass

        async def aload():
            pass

        class _Hidden:
            pass

        if True:
            class Indented:
                pass
        """,
    "fakepkg/legacy/__init__.py": "",
    "fakepkg/legacy/io.py": "class LoadImaged:  # a stale copy, not re-exported\n    pass\n",
    "fakepkg/codecs/__init__.py": "from .new import *\n",
    "fakepkg/codecs/new.py": "class Codec:\n    pass\n",
    "fakepkg/codecs/old.py": "class Codec:\n    pass\n",
    "fakepkg/nets/__init__.py": "",
    "fakepkg/nets/aliased.py": """
        class UNet:
            pass

        Unet = UNet
        NetD = NetDict = (
            UNet
        )
        Small = Tiny = lambda **kwargs: UNet()
        LIMIT = 3
        Other = Elsewhere  # not defined here: not an alias MONAI finds
        """,
    "fakepkg/nets/a.py": "class Twin:\n    pass\n",
    "fakepkg/nets/b.py": "class Twin:\n    pass\n",
    "fakepkg/nets/_helpers.py": "class Helper:\n    pass\n",
    "fakepkg/_private/__init__.py": "",
    "fakepkg/_private/impl.py": "class Secret:\n    pass\n",
    "fakepkg/notapkg/mod.py": "class Orphan:\n    pass\n",
    "fakepkg/boom.py": "raise RuntimeError('fakepkg.boom must not be imported')\n\nclass Boom:\n    pass\n",
}

# A module that exposes names: star imports (with and without __all__), aliases, assignments.
EXPORTS = {
    "fakeexp/__init__.py": """
        from .layers import *
        from .more import *
        from .extra import Widget as Gadget, helper
        from . import layers
        VERSION = "1"
        _private = 2

        def build():
            pass

        class Model:
            pass
        """,
    "fakeexp/layers.py": """
        __all__ = ["Dense", "Conv"]

        class Dense:
            pass

        class Conv:
            pass

        class NotListed:
            pass
        """,
    "fakeexp/more.py": "class Alpha:\n    pass\n\n_beta = 1\n",
    "fakeexp/extra.py": "class Widget:\n    pass\n\ndef helper():\n    pass\n",
    "fakeall/__init__.py": "__all__ = ('Only',)\n\nclass Only:\n    pass\n\nclass Hidden:\n    pass\n",
    "fakedep/__init__.py": "",
    "fakedep/needs.py": "import not_installed_dependency_xyz\n\nclass Thing:\n    pass\n",
    "fakebroken/__init__.py": "import not_installed_dependency_xyz\n\nclass Thing:\n    pass\n",
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def fake_modules() -> list[str]:
    return [m for m in sys.modules if m.split(".")[0] in FAKE_PACKAGES]


@pytest.fixture(autouse=True)
def fresh_state(tmp_path, monkeypatch):
    """Every test gets its own cache folder and an empty in-memory index; fake modules are forgotten."""
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(tmp_path / "cache"))
    INDEXES.clear()
    yield
    for name in fake_modules():
        del sys.modules[name]


@pytest.fixture
def src(tmp_path, monkeypatch) -> Path:
    """The fake packages, importable, on sys.path."""
    root = tmp_path / "src"
    write_tree(root, {**TREE, **EXPORTS})
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def isolated(monkeypatch):
    """No default namespaces: only those a test names (MONAI, when installed, also has a LoadImaged)."""
    monkeypatch.setattr(name_index, "default_namespaces", lambda: [])


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "locator").glob("*.json"))


# --- indexes ----------------------------------------------------------------------------------------


def test_tree_index_has_public_top_level_definitions(src, isolated):
    names = ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    assert names == ["Boom", "Codec", "LoadImaged", "NetD", "NetDict", "Small", "Tiny", "Twin", "UNet", "Unet",
                     "aload", "load_image"]


def test_tree_index_imports_nothing(src, isolated):
    ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    assert fake_modules() == []


def test_exports_index_follows_star_imports_aliases_and_all(src, isolated):
    names = ComponentLocator(namespaces=[("fakeexp", "exports")]).short_names()
    # `layers` is a submodule, `NotListed` is outside layers' __all__, `_private` and `_beta` are private.
    assert names == ["Alpha", "Conv", "Dense", "Gadget", "Model", "VERSION", "build", "helper"]
    assert fake_modules() == []


def test_exports_of_a_module_with_literal_all_are_exactly_all(src, isolated):
    assert ComponentLocator(namespaces=[("fakeall", "exports")]).short_names() == ["Only"]


def test_exports_of_a_single_file_module(src, isolated):
    locator_ = ComponentLocator(namespaces=[("fakeexp.layers", "exports")])
    assert locator_.short_names() == ["Conv", "Dense"]
    assert locator_.resolve_name("Dense") == "fakeexp.layers.Dense"


def test_unknown_namespace_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        ComponentLocator(namespaces=[("fakepkg", "everything")])


# --- resolution --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, path",
    [
        ("load_image", "fakepkg.transforms.io.load_image"),
        ("aload", "fakepkg.transforms.io.aload"),
        ("LoadImaged", "fakepkg.transforms.io.LoadImaged"),  # re-exported; the legacy copy is not
        ("Codec", "fakepkg.codecs.new.Codec"),  # re-exported by `import *`; the old copy is not
        ("fakepkg.legacy.io.LoadImaged", "fakepkg.legacy.io.LoadImaged"),  # a dotted path is kept
    ],
    ids=["function", "async-function", "re-export-preferred", "star-re-export-preferred", "dotted-unchanged"],
)
def test_resolve_name(src, isolated, name, path):
    assert ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name(name) == path


def test_locate_imports_the_defining_module(src, isolated):
    cls = ComponentLocator(namespaces=[("fakepkg", "tree")]).locate("LoadImaged")
    assert f"{cls.__module__}.{cls.__qualname__}" == "fakepkg.transforms.io.LoadImaged"
    assert "fakepkg.boom" not in sys.modules


def test_ambiguous_name_lists_every_candidate(src, isolated):
    with pytest.raises(AmbiguousTargetError) as info:
        ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name("Twin")
    assert info.value.candidates == ["fakepkg.nets.a.Twin", "fakepkg.nets.b.Twin"]
    assert "fakepkg.nets.a.Twin" in str(info.value) and "fakepkg.nets.b.Twin" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_same_name_in_two_namespaces_is_ambiguous(src, isolated):
    both = ComponentLocator(namespaces=[("fakeexp", "exports"), ("fakeexp.extra", "tree")])
    with pytest.raises(AmbiguousTargetError) as info:
        both.resolve_name("helper")
    assert info.value.candidates == ["fakeexp.extra.helper", "fakeexp.helper"]


def test_excludes_drop_modules_like_monai(src, isolated):
    locator_ = ComponentLocator(excludes="nets.b", namespaces=[("fakepkg", "tree")])
    assert locator_.resolve_name("Twin") == "fakepkg.nets.a.Twin"


def test_get_component_module_name_answers_like_monai(src, isolated):
    locator_ = ComponentLocator(namespaces=[("fakepkg", "tree")])
    assert locator_.get_component_module_name("load_image") == "fakepkg.transforms.io"
    assert locator_.get_component_module_name("Twin") == ["fakepkg.nets.a", "fakepkg.nets.b"]
    assert locator_.get_component_module_name("Nothing") is None
    with pytest.raises(ValueError):
        locator_.get_component_module_name(42)


def test_aliases_are_found_as_monai_finds_them(src, isolated):
    locator_ = ComponentLocator(namespaces=[("fakepkg", "tree")])
    for name in ("Unet", "NetD", "NetDict", "Small", "Tiny"):
        assert locator_.resolve_name(name) == f"fakepkg.nets.aliased.{name}"
    for name in ("LIMIT", "Other"):
        assert locator_.get_component_module_name(name) is None


def test_unknown_short_name_suggests_close_names(src, isolated):
    with pytest.raises(UnknownTargetError) as info:
        ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name("LoadImagd")
    assert "LoadImaged" in info.value.candidates
    assert "did you mean 'LoadImaged'" in str(info.value)


@pytest.mark.parametrize("name", ["Secret", "Helper", "Orphan", "Indented", "_Hidden"])
def test_private_and_unimportable_definitions_are_unknown(src, isolated, name):
    with pytest.raises(UnknownTargetError):
        ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name(name)


def test_non_string_target_is_returned_as_is(isolated):
    target = object()
    assert ComponentLocator().locate(target) is target


# --- the cache ---------------------------------------------------------------------------------------


def test_cache_is_written_and_reused(src, isolated, tmp_path, monkeypatch):
    ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    (cache_file,) = cache_files(tmp_path)
    twins = json.loads(cache_file.read_text())["names"]["Twin"]
    assert twins == ["fakepkg.nets.a.Twin", "fakepkg.nets.b.Twin"]

    def no_build(*args):
        raise AssertionError("the index was rebuilt")

    INDEXES.clear()
    monkeypatch.setattr(name_index, "build_tree_index", no_build)
    again = ComponentLocator(namespaces=[("fakepkg", "tree")])
    assert again.resolve_name("LoadImaged") == "fakepkg.transforms.io.LoadImaged"


def test_in_memory_index_is_built_once_per_process(src, isolated, monkeypatch):
    ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    monkeypatch.setattr(name_index, "read_cache", lambda *args: pytest.fail("the cache was read again"))
    assert "Twin" in ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()


def test_changed_source_rebuilds_tree_index(src, isolated, monkeypatch):
    ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    module = src / "fakepkg" / "nets" / "a.py"
    module.write_text(module.read_text() + "\nclass Fresh:\n    pass\n")
    INDEXES.clear()
    assert ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name("Fresh") == "fakepkg.nets.a.Fresh"


def test_changed_star_imported_module_rebuilds_exports_index(src, isolated, monkeypatch):
    ComponentLocator(namespaces=[("fakeexp", "exports")]).short_names()
    layers = src / "fakeexp" / "layers.py"
    layers.write_text(layers.read_text().replace('"Conv"]', '"Conv", "NotListed"]'))
    INDEXES.clear()
    assert "NotListed" in ComponentLocator(namespaces=[("fakeexp", "exports")]).short_names()


def test_corrupt_cache_file_is_rebuilt(src, isolated, tmp_path, monkeypatch):
    ComponentLocator(namespaces=[("fakepkg", "tree")]).short_names()
    (cache_file,) = cache_files(tmp_path)
    cache_file.write_text("{not json")
    INDEXES.clear()
    assert ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name("aload").endswith("io.aload")
    assert json.loads(cache_file.read_text())["module"] == "fakepkg"


def test_unwritable_cache_dir_still_works(src, isolated, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(blocker / "cache"))
    assert ComponentLocator(namespaces=[("fakepkg", "tree")]).resolve_name("aload").endswith("io.aload")
    assert blocker.is_file()


# --- default namespaces: ours, torch, entry points ---------------------------------------------------


@pytest.mark.parametrize(
    "name, path",
    [
        ("Conv2d", "torch.nn.Conv2d"),
        ("Adam", "torch.optim.Adam"),
        ("StepLR", "torch.optim.lr_scheduler.StepLR"),
    ],
)
def test_torch_short_names(name, path):
    torch = pytest.importorskip("torch")
    locator_ = ComponentLocator()
    assert locator_.resolve_name(name) == path
    assert locator_.locate(name) is attrgetter(path.partition(".")[2])(torch)


def test_torch_submodules_are_not_short_names():
    pytest.importorskip("torch")
    with pytest.raises(UnknownTargetError):
        ComponentLocator().resolve_name("lr_scheduler")


def test_entry_point_namespace(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_tree(
        site,
        {
            "fakeep/__init__.py": "class EntryWidget:\n    pass\n",
            "fake_components-1.0.dist-info/METADATA": "Name: fake-components\nVersion: 1.0\n",
            "fake_components-1.0.dist-info/entry_points.txt": "[bundle.components]\nfake = fakeep\n",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    locator_ = ComponentLocator()
    assert locator_.resolve_name("EntryWidget") == "fakeep.EntryWidget"
    assert locator_.locate("EntryWidget").__module__ == "fakeep"


def test_entry_points_are_read_only_for_short_names(monkeypatch):
    monkeypatch.setattr(name_index, "entry_point_modules", lambda: pytest.fail("entry points were read"))
    assert ComponentLocator().locate("collections.OrderedDict") is __import__("collections").OrderedDict


def test_importing_the_locator_is_light():
    heavy = ("torch", "monai", "importlib.metadata", "platformdirs")
    code = f"import sys, bundle.config.locator; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- dotted paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, expected",
    [
        ("os.path.join", os.path.join),
        ("collections.OrderedDict", __import__("collections").OrderedDict),
        ("json.decoder.JSONDecoder.decode", json.decoder.JSONDecoder.decode),
    ],
    ids=["function", "class", "method"],
)
def test_dotted_path(target, expected):
    assert ComponentLocator().locate(target) is expected


def test_dotted_path_imports_a_submodule():
    torch = pytest.importorskip("torch")
    assert ComponentLocator().locate("torch.optim.lr_scheduler.StepLR") is torch.optim.lr_scheduler.StepLR


def test_missing_attribute_suggests_close_names():
    with pytest.raises(UnknownTargetError) as info:
        ComponentLocator().locate("collections.OrderdDict")
    assert "collections.OrderedDict" in info.value.candidates
    assert "did you mean 'collections.OrderedDict'" in str(info.value)


@pytest.mark.parametrize("target", ["", ".Linear", "torch..Linear", "torch.nn.Linear()"])
def test_malformed_target_is_unknown(target):
    with pytest.raises(UnknownTargetError):
        ComponentLocator(namespaces=[]).locate(target)


def test_missing_module_is_unknown():
    with pytest.raises(UnknownTargetError) as info:
        ComponentLocator().locate("no_such_package_xyz.Thing")
    assert "no_such_package_xyz" in info.value.hint


@pytest.mark.parametrize("target", ["fakedep.needs.Thing", "fakebroken.Thing"], ids=["submodule", "package"])
def test_missing_dependency_names_the_package(src, target):
    with pytest.raises(UnknownTargetError) as info:
        ComponentLocator().locate(target)
    assert "not_installed_dependency_xyz" in info.value.hint
    assert isinstance(info.value.__cause__, MissingDependencyError)
    assert info.value.__cause__.package == "not_installed_dependency_xyz"


def test_errors_raised_by_an_imported_module_propagate(src):
    with pytest.raises(RuntimeError, match="must not be imported"):
        ComponentLocator().locate("fakepkg.boom.Boom")


# --- MONAI compatibility: the model-zoo corpus --------------------------------------------------------


def corpus_configs() -> list[Path]:
    return sorted(p for p in ZOO.glob("bundles/*/configs/*") if p.suffix in (".json", ".yaml", ".yml"))


def load_config(path: Path):
    if path.suffix == ".json":
        return json.loads(path.read_text())
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text())


def short_targets(node, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and target.isidentifier():
            found.add(target)
        for value in node.values():
            short_targets(value, found)
    elif isinstance(node, list):
        for value in node:
            short_targets(value, found)
    return found


@pytest.fixture
def monai_corpus():
    pytest.importorskip("monai")
    if not ZOO.is_dir():
        pytest.skip(f"the compatibility corpus is not at {ZOO}")


@pytest.mark.monai
def test_every_short_target_of_the_zoo_resolves_as_monai_does(monai_corpus):
    names: set[str] = set()
    for path in corpus_configs():
        short_targets(load_config(path), names)
    assert len(names) > 50
    ours = ComponentLocator()
    resolved = {name: ours.resolve_name(name) for name in sorted(names)}

    from monai.bundle import ComponentLocator as MonaiLocator

    monai_locator = MonaiLocator()
    for name, path in resolved.items():
        modules = monai_locator.get_component_module_name(name)
        if modules is None:  # MONAI does not know it (IgniteMetric: renamed IgniteMetricHandler)
            assert name in locator.MONAI_COMPAT
            continue
        first = modules[0] if isinstance(modules, list) else modules
        assert path == f"{first}.{name}", name


@pytest.mark.monai
def test_short_targets_build_the_classes_monai_builds(monai_corpus):
    checked = 0
    ours = ComponentLocator()
    for golden_file in sorted(ZOO.glob("goldens/*.json")):
        golden = json.loads(golden_file.read_text())
        configs = ZOO / "bundles" / golden["bundle"] / "configs"
        for combo in golden["combos"]:
            files = [configs / name for name in combo["files"]]
            if not all(f.is_file() for f in files):
                continue
            targets = {}
            for path in files:  # later files override earlier ones
                for key, value in (load_config(path) or {}).items():
                    if isinstance(value, dict) and "_target_" in value:
                        targets[key] = value["_target_"]
            for key, expected in combo["instantiated"].items():
                target = targets.get(key)
                if not (isinstance(target, str) and target.isidentifier()):
                    continue
                cls = ours.locate(target)
                if isinstance(cls, type):
                    assert f"{cls.__module__}.{cls.__qualname__}" == expected, (golden["bundle"], key)
                    checked += 1
    assert checked > 100


def test_an_explicit_index_object_keeps_its_own_memory(src, isolated, tmp_path):
    own = NameIndexes(cache_dir=lambda: None)  # no file cache: nothing written
    assert "Twin" in ComponentLocator(namespaces=[("fakepkg", "tree")], indexes=own).short_names()
    assert not cache_files(tmp_path)
    module = src / "fakepkg" / "nets" / "a.py"
    module.write_text(module.read_text() + "\nclass Fresh:\n    pass\n")
    assert "Fresh" not in ComponentLocator(namespaces=[("fakepkg", "tree")], indexes=own).short_names()
    own.clear()
    assert "Fresh" in ComponentLocator(namespaces=[("fakepkg", "tree")], indexes=own).short_names()


def test_every_public_name_monai_finds_we_find_in_the_same_module():
    """MONAI's locator imports every monai module and lists the classes and functions each binds;
    ours reads the source. Both must answer the same module for every public name."""
    monai_bundle = pytest.importorskip("monai.bundle")
    theirs = monai_bundle.ComponentLocator()
    table = theirs._find_classes_or_functions(theirs._find_module_names())
    ours = ComponentLocator()
    # made by a call (namedtuple), defined inside an if/try block, or in a private module (_version)
    not_in_source = {"get_versions", "ProfileResult", "load_module", "timeout", "reduce_meta_tensor",
                     "monai_mish", "monai_swish", "CellInterface", "StemInterface", "is_available"}
    missing, different = [], []
    for name, modules in table.items():
        if name.startswith("_") or name in not_in_source:
            continue
        mine = ours.get_component_module_name(name)
        if mine is None:
            missing.append(name)
            continue
        theirs_set = {modules} if isinstance(modules, str) else set(modules)
        mine_set = {mine} if isinstance(mine, str) else set(mine)
        if not (theirs_set <= mine_set or mine_set <= theirs_set):
            different.append((name, sorted(theirs_set), sorted(mine_set)))
    assert not missing and not different
    for alias in ("EnsureChannelFirstD", "EnsureChannelFirstDict", "Unet", "LoadImageD", "MedNeXtSmall"):
        assert ours.locate(alias) is getattr(importlib.import_module(ours.get_component_module_name(alias)), alias)
