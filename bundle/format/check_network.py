"""verify's network and weights checks: build the network a config defines, run it once on a random
input shaped as ``network_data_format`` says, compare its output with the description, and load
the weights into it (torch is imported here, and only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from bundle.errors import BundleError, FormatError, Location
from bundle.format.large_files import FETCH_HINT
from bundle.format.network import load_network_config, network_from_config
from bundle.format.report import WARNING, Problem, relative_location
from bundle.format.shapes import fake_spatial_shape
from bundle.format.weights import fit_weights, load_state_dict

if TYPE_CHECKING:
    from bundle.format.context import Context

__all__ = ["check_network", "check_weights_alone", "forward_problems", "pick", "torch_dtype"]

IO_KEY = "network_data_format"


def torch_dtype(name: Any) -> Any:
    """The torch dtype a metadata ``dtype`` names (``float32``, ``torch.float16``, ``uint8``, ``bool``).

    Raises:
        FormatError: it names no torch dtype.
    """
    import torch

    text = str(name).strip()
    text = text[len("torch."):] if text.startswith("torch.") else text
    value = getattr(torch, text, None) if text.isidentifier() else None
    if not isinstance(value, torch.dtype):
        raise FormatError(f"dtype {name!r} is not a torch dtype", hint="write e.g. float32, float16, int64, uint8, bool")
    return value


def pick(arguments: Any, preferred: str) -> tuple[str, Any] | None:
    """(name, description) of the ``preferred`` argument (``image``, ``pred``), else of the first one."""
    if not isinstance(arguments, Mapping) or not arguments:
        return None
    if preferred in arguments:
        return preferred, arguments[preferred]
    name = next(iter(arguments))
    return name, arguments[name]


def forward_problems(
    network: Any,
    io_format: Mapping[str, Any],
    *,
    where: Callable[..., Location | None],
    device: str = "cpu",
    p: int = 1,
    n: int = 1,
    any: int = 1,
    extra_forward_args: Mapping[str, Any] | None = None,
    prefix: str = IO_KEY,
) -> list[Problem]:
    """Run ``network`` once on a random input described by ``io_format`` and compare its output.

    The input is ``(1, num_channels, *spatial_shape)`` (``(1, *spatial_shape)`` when ``num_channels``
    is 0) of the first input (``image`` if there is one); the output's ``shape[1]`` and dtype must
    match the first output (``pred`` if there is one).

    Args:
        network: a ``torch.nn.Module``.
        io_format: the ``network_data_format`` mapping.
        where: key path parts -> where they are written in the metadata.
        device, p, n, any: see ``verify_bundle``.
        extra_forward_args: more keyword arguments for the forward call.
        prefix: the metadata key ``io_format`` was read from (for messages).
    """
    import torch

    found: list[Problem] = []

    def problem(message: str, *path: str, hint: str = "") -> list[Problem]:
        found.append(Problem("network", message, where(prefix, *path), "::".join((prefix, *path)), hint))
        return found

    inp = pick(io_format.get("inputs"), "image")
    out = pick(io_format.get("outputs"), "pred")
    if inp is None or out is None:
        return problem(f"{prefix} describes no {'inputs' if inp is None else 'outputs'}", "inputs" if inp is None else "outputs")
    (in_name, in_desc), (out_name, out_desc) = inp, out
    if not isinstance(in_desc, Mapping) or not isinstance(out_desc, Mapping):
        return [Problem("network", f"'{in_name}'/'{out_name}' are not tensor descriptions: the forward pass is not "
                        "checked", where(prefix), prefix, severity=WARNING)]
    try:
        channels = int(in_desc.get("num_channels", 0))
        spatial = fake_spatial_shape(in_desc.get("spatial_shape", ()), p=p, n=n, any=any)
        in_dtype = torch_dtype(in_desc.get("dtype", "float32"))
    except (FormatError, TypeError, ValueError) as err:
        hint = err.hint if isinstance(err, BundleError) else ""
        return problem(str(getattr(err, "message", err)), "inputs", in_name, hint=hint)
    shape = (1, channels, *spatial) if channels > 0 else (1, *spatial)
    try:
        dev = torch.device(device)
        if in_dtype.is_floating_point:
            x = torch.rand(shape, device=dev).to(in_dtype)
        else:
            x = torch.randint(0, 2, shape, device=dev).to(in_dtype)
        network = network.to(dev).eval()
        with torch.no_grad(), _autocast(in_dtype, dev):
            output = network(x, **dict(extra_forward_args or {}))
    except Exception as err:  # any failure of the forward pass is the finding
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return problem(
            f"the network fails on a random input of shape {tuple(shape)} and dtype {str(in_dtype)[6:]} "
            f"(from inputs '{in_name}'): {type(err).__name__}: {reason}", "inputs", in_name,
            hint=f"make num_channels, spatial_shape and dtype of '{in_name}' match what the network takes "
                 f"(p={p}, n={n}, '*'={any} were used)",
        )
    tensor = _first_tensor(output, out_name)
    if tensor is None:
        return problem(f"the network returns {type(output).__name__}, not a tensor", "outputs", out_name)
    want_channels = out_desc.get("num_channels")
    if isinstance(want_channels, int) and want_channels > 0:
        got = tensor.shape[1] if tensor.dim() >= 2 else None
        if got != want_channels:
            problem(f"the output has {got if got is not None else 'no'} channels (shape {tuple(tensor.shape)}); "
                    f"'{out_name}' says num_channels is {want_channels}", "outputs", out_name, "num_channels",
                    hint="fix num_channels in the metadata, or the network's output channels")
    try:
        want_dtype = torch_dtype(out_desc.get("dtype", "float32"))
    except FormatError as err:
        return problem(err.message, "outputs", out_name, "dtype", hint=err.hint)
    if tensor.dtype != want_dtype:
        problem(f"the output's dtype is {str(tensor.dtype)[6:]}; '{out_name}' says {str(want_dtype)[6:]}",
                "outputs", out_name, "dtype", hint="fix dtype in the metadata, or what the network returns")
    return found


def _autocast(dtype: Any, device: Any) -> Any:
    """fp16 inputs run under autocast, as MONAI runs them; anything else runs as it is."""
    import contextlib

    import torch

    if dtype == torch.float16:
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def _first_tensor(output: Any, name: str) -> Any:
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        if isinstance(output.get(name), torch.Tensor):
            return output[name]
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


# --- in verify_bundle -----------------------------------------------------------------------------


def _network_config(ctx: "Context", net_id: str, config: str | None) -> tuple[str | None, Any]:
    """(config name, loaded Config) of the config that defines ``net_id``; (None, None) if none."""
    names = [config] if config else (["inference", "train"] + sorted(ctx.stacks))
    meta = ctx.bundle.metadata_path if ctx.metadata is not None else None
    for name in dict.fromkeys(names):
        files = ctx.stacks.get(name)
        if files is None:
            if config:
                ctx.problem("network", f"the bundle has no usable config '{config}'",
                            hint=f"its configs: {', '.join(ctx.stacks) or 'none'}")
                return None, None
            continue
        try:
            loaded = load_network_config(files, root=ctx.bundle.root, meta=meta, locator=ctx.locator,
                                         trusted=ctx.bundle.trusted)
            if net_id in loaded:
                return name, loaded
        except BundleError:
            continue  # the configs check reports it
        if config:
            break
    where = f"config '{config}'" if config else "any config"
    ctx.problem("network", f"{where} defines no '{net_id}'",
                hint="name the network's id with --net_id, or the config with --config")
    return None, None


def check_network(ctx: "Context", *, net_id: str, config: str | None, device: str, p: int, n: int, any: int,
                  weights: bool, weights_name: str) -> None:
    """Build ``net_id``, load the weights into it (when ``weights``), and run it once."""
    io_format = (ctx.metadata or {}).get(IO_KEY)
    if not isinstance(io_format, Mapping) and ctx.metadata is not None:  # unreadable: the metadata check said so
        ctx.problem("network", f"the metadata has no \"{IO_KEY}\": the network's inputs and outputs are not checked",
                    location=ctx.metadata_location(), severity=WARNING,
                    hint='describe them: "network_data_format": {"inputs": {"image": {...}}, "outputs": {"pred": {...}}}')
    name, cfg = _network_config(ctx, net_id, config)
    if cfg is None:
        if weights:
            check_weights_alone(ctx, weights_name=weights_name)
        return

    try:
        network = network_from_config(cfg, net_id, root=ctx.bundle.root, trusted=ctx.bundle.trusted,
                                      where=f"config '{name}'")
    except BundleError as err:  # the builder's one error type: reported, not raised
        _build_failed(ctx, cfg, net_id, err)
        network = None
    if weights:
        check_weights_alone(ctx, weights_name=weights_name, network=network)
    if network is None or not isinstance(io_format, Mapping):
        return
    found = forward_problems(network, io_format, where=ctx.metadata_location, device=device, p=p, n=n, any=any)
    ctx.report.extend(Problem(f.check, f.message, _relative(ctx, f.location), f.config_id, f.hint, f.severity)
                      for f in found)


def _build_failed(ctx: "Context", cfg: Any, net_id: str, err: BundleError) -> None:
    """Report why ``net_id`` could not be built: a warning when it needs a large file not fetched yet."""
    text = str(err)
    waiting = [f for f in ctx.large_files if f.path in text and not f.target(ctx.bundle.root).is_file()]
    if waiting:
        ctx.problem("network", f"'{net_id}' cannot be built before '{waiting[0].path}' is fetched: the network is "
                    "not checked", location=cfg.where(net_id), config_id=net_id, severity=WARNING,
                    hint=FETCH_HINT.format(root=ctx.bundle.root, url=waiting[0].url))
    else:
        problem = ctx.as_problem("network", err)
        if not any((p.message, p.location) == (problem.message, problem.location) for p in ctx.report.problems):
            ctx.report.add(problem)  # else the configs check already said it, at the same place


def _relative(ctx: "Context", location: Location | None) -> Location | None:
    return relative_location(location, ctx.bundle.root)


def check_weights_alone(ctx: "Context", *, weights_name: str, network: Any = None) -> None:
    """Load ``models/{weights_name}`` as a state dict; with a ``network``, check that it fits."""
    rel = f"models/{weights_name}"
    try:
        path = ctx.bundle.weights_path(weights_name)
    except FormatError as err:
        ctx.error("weights", err)
        return
    if not path.is_file():
        if any(f.path == rel for f in ctx.large_files):
            return  # the large_files check says it is not fetched yet
        ctx.problem("weights", f"{rel} does not exist", location=Location(rel),
                    hint="train the bundle and save the state dict there, list it in large_files.yml, or skip "
                         "this check (weights=False; --no-weights on the command line)")
        return
    try:
        state = load_state_dict(path)
    except FormatError as err:
        ctx.error("weights", err)
        return
    if network is None:
        return
    fit = fit_weights(network, state)
    if not fit.ok:
        ctx.problem("weights", f"{rel} does not fit the network: {fit.describe()}", location=Location(rel),
                    hint=fit.hint())
