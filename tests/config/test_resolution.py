"""Resolution: iterative (deep chains), memoized (each node once), lazy (only what is asked for) and
linear in the size of the config (counted, not timed)."""

from __future__ import annotations

import copy
import functools

import pytest

from bundle import ConfigParser
from bundle.config import expressions, resolver, tree
from bundle.config.engine import Config
from bundle.errors import ExpressionError

HERE = __name__

BUILT: list[str] = []


def build(name: str, **kwargs):
    """A component target that counts its instantiations."""
    BUILT.append(name)
    return {"name": name, **kwargs}


@pytest.fixture(autouse=True)
def _clear_built():
    BUILT.clear()
    yield
    BUILT.clear()


def component(name: str, **kwargs) -> dict:
    return {"_target_": f"{HERE}.build", "name": name, **kwargs}


APIS = ["Config", "ConfigParser"]


def resolver_for(api: str, config: dict):
    if api == "Config":
        return Config(config).resolve
    return ConfigParser(config).get_parsed_content


# --- deep chains ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_chain_of_100000_references(api):
    n = 100_000
    config = {"x_0": "end"}
    config.update({f"x_{i}": f"@x_{i - 1}" for i in range(1, n)})
    assert resolver_for(api, config)(f"x_{n - 1}") == "end"


@pytest.mark.parametrize("api", APIS)
def test_chain_of_20000_expressions(api):
    n = 20_000
    config = {"x_0": 0}
    config.update({f"x_{i}": f"$@x_{i - 1} + 1" for i in range(1, n)})
    assert resolver_for(api, config)(f"x_{n - 1}") == n - 1


def test_chain_through_nested_components_and_lists():
    n = 5_000
    config = {"x_0": component("x_0")}
    config.update({f"x_{i}": component(f"x_{i}", prev=[{"p": f"@x_{i - 1}"}]) for i in range(1, n)})
    value = Config(config).resolve(f"x_{n - 1}")
    depth = 0
    while "prev" in value:
        value = value["prev"][0]["p"]
        depth += 1
    assert depth == n - 1
    assert len(BUILT) == n


# --- memoized ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_component_used_from_three_places_is_instantiated_once(api):
    config = {
        "shared": component("shared"),
        "by_ref": "@shared",
        "by_expr": "$[@shared, @shared]",
        "by_arg": component("user", dep="@shared", deps=["@shared"]),
    }
    resolve = resolver_for(api, config)
    everything = resolve("")
    assert BUILT.count("shared") == 1
    shared = resolve("shared")
    assert everything["shared"] is shared
    assert resolve("by_ref") is shared
    assert all(v is shared for v in resolve("by_expr"))
    assert resolve("by_arg")["dep"] is shared and resolve("by_arg")["deps"][0] is shared
    assert BUILT.count("shared") == 1


def test_expression_is_evaluated_once():
    calls = []
    config = {"e": "$log(1)", "a": "@e", "b": ["@e", "$@e + 1"]}
    cfg = Config(config, globals={"log": lambda v: calls.append(v) or v})
    assert cfg.resolve("") == {"e": 1, "a": 1, "b": [1, 2]}
    assert cfg.resolve("b") == [1, 2]
    assert calls == [1]


def test_forget_runs_an_id_again_on_the_next_resolve():
    # MONAI's ConfigWorkflow removes resolved content to re-run streaming steps
    parser = ConfigParser({"c": component("c")})
    first = parser.get_parsed_content("c")
    parser.ref_resolver.remove_resolved_content("c")
    assert parser.get_parsed_content("c") is not first
    assert BUILT == ["c", "c"]


# --- lazy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_resolving_one_id_runs_only_what_it_needs(api):
    config = {
        "unrelated": component("unrelated"),
        "broken": "$1 / 0",
        "broken_import": "$import no_such_module_xyz",
        "needed": component("needed"),
        "wanted": component("wanted", dep="@needed", other=[component("inline")]),
    }
    resolve = resolver_for(api, config)
    assert resolve("wanted")["dep"] == {"name": "needed"}
    assert sorted(BUILT) == ["inline", "needed", "wanted"]
    with pytest.raises(ExpressionError):
        resolve("broken")


def test_imports_run_only_when_an_expression_uses_their_names(monkeypatch):
    ran = []
    monkeypatch.setattr(resolver, "run_import", lambda b: ran.append(b.name) or expressions.run_import(b))
    cfg = Config({"imports": ["$import json", "$import glob"], "a": "$json.dumps(1)", "b": "$1 + 1"})
    assert cfg.resolve("b") == 2
    assert ran == []
    assert cfg.resolve("a") == "1"
    assert ran == ["json"]


def test_resolving_does_not_change_the_callers_config():
    config = {"a": {"b": "@::c", "c": [component("x")]}, "d": "%a"}
    before = copy.deepcopy(config)
    Config(config).resolve("")
    ConfigParser(config).get_parsed_content("")
    assert config == before


# --- linear growth (counted, not timed) ----------------------------------------------------------


def synthetic(n: int) -> dict:
    """A config of ``n`` groups of items of every kind, each group depending on the one before."""
    config: dict = {"imports": ["$import math"], "g_0": {"v": 1}}
    for i in range(1, n):
        config[f"g_{i}"] = {
            "v": f"$math.floor(@g_{i - 1}::v + 1.5)",
            "ref": f"@g_{i - 1}::v",
            "comp": component(f"c{i}", arg=f"@g_{i}::ref", items=[1, "@g_0::v"]),
            "off": component(f"off{i}", _disabled_=True, boom="$1 / 0"),
            "rel": "@::ref",
            "plain": {"k": [1, 2, {"deep": "text"}]},
        }
    return config


class Counter:
    """Wraps functions in place and counts their calls."""

    def __init__(self, monkeypatch) -> None:
        self.counts: dict[str, int] = {}
        self.monkeypatch = monkeypatch

    def wrap(self, owner, name: str) -> None:
        original = getattr(owner, name)
        key = f"{getattr(owner, '__name__', owner)}.{name}"
        self.counts[key] = 0

        @functools.wraps(original)
        def counted(*args, **kwargs):
            self.counts[key] += 1
            return original(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, counted)


@pytest.fixture
def counter(monkeypatch):
    c = Counter(monkeypatch)
    c.wrap(resolver.Resolver, "_finish")  # the per-node work
    c.wrap(resolver.Resolver, "_frame")  # a node entering the walk
    c.wrap(resolver.Resolver, "compiled")  # an expression looked at
    c.wrap(tree, "lookup")  # an id looked up
    c.wrap(resolver, "run_import")  # an import run
    return c


def work(counter: Counter, n: int, how: str) -> dict[str, int]:
    for key in counter.counts:
        counter.counts[key] = 0
    config = synthetic(n)
    if how == "root":
        Config(config).resolve("")
    elif how == "each-id":  # the MONAI way: one get_parsed_content per id
        parser = ConfigParser(config)
        for id in config:
            parser.get_parsed_content(id)
    else:  # every id of the tree, parents first
        cfg = Config(config)
        for id in list(cfg.ids()):
            if "::off::" not in id:  # asked for directly, a disabled component's argument would run
                cfg.resolve(id)
    return dict(counter.counts)


@pytest.mark.parametrize("how", ["root", "each-id", "every-node"])
def test_work_grows_linearly_with_the_config(counter, how):
    n = 200
    small, double, quadruple = (work(counter, k, how) for k in (n, 2 * n, 4 * n))
    assert small["Resolver._finish"] > 5 * n  # the counters do see the work
    for key in small:
        if key == "bundle.config.resolver.run_import":
            continue
        first, second = double[key] - small[key], quadruple[key] - double[key]
        # exactly linear: doubling the size again adds exactly twice as much work
        assert second == 2 * first, f"{key}: {small[key]}, {double[key]}, {quadruple[key]}"
    assert small["bundle.config.resolver.run_import"] == double["bundle.config.resolver.run_import"] == 1


def test_each_node_is_finished_a_bounded_number_of_times(counter):
    n = 100
    counts = work(counter, n, "every-node")
    nodes = sum(1 for _ in tree.walk_ids(synthetic(n)))
    assert counts["Resolver._finish"] <= 2 * nodes  # components finish in two phases, others once
