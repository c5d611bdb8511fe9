"""A fitted model's training state as plain values: arrays, numbers, strings, lists, dicts.

``VAETransformer`` pickles its skorch net as this state rather than as skorch and torch
objects. So a saved model holds nothing that runs code when it is loaded except skvae's
own class (which is what lets ``skops.io`` load it after trusting that one type), it
loads on a machine without the device it was trained on, and it records the versions
that wrote it.
"""

import warnings

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History

from .._data.validation import check_device
from .._model.module import LinearPlusMLP, VAEModule, _RowWiseLinear, flat_name
from .._version import __version__
from ..exceptions import VersionMismatchWarning

__all__ = ["VersionMismatchWarning"]  # its old home: models and code may still name it

# 3: encoder and decoder are objects (``encoder.linear``, ``encoder.residual``).
# 2: the module has linear paths beside its MLPs (PPCA inside); format 1 states load
# with those paths at zero, which is the same function. Older formats are upgraded.
FORMAT_VERSION = 3


def versions() -> dict:
    return {"skvae": __version__, "torch": torch.__version__}


def warn_on_version_mismatch(saved: dict) -> None:
    running = versions()
    if saved != running:
        warnings.warn(
            f"This model was saved with skvae {saved.get('skvae')} and torch "
            f"{saved.get('torch')}, and is loaded with skvae {running['skvae']} and torch "
            f"{running['torch']}. It may fail or give different results; refit it, or load "
            "it with the versions that saved it.",
            VersionMismatchWarning,
            stacklevel=3,
        )


def weights_state(net) -> dict:
    """Copies of the module's, criterion's and optimizer's state, as plain values."""
    return {
        "module": _to_plain(net.module_.state_dict()),
        "criterion": _to_plain(net.criterion_.state_dict()),
        "optimizer": _to_plain(net.optimizer_.state_dict()),
    }


def restore_weights(net, state: dict) -> None:
    """Load ``state`` (from ``weights_state``) into ``net``, built with the same shapes."""
    device = net.device
    net.module_.load_state_dict(_to_tensors(state["module"], device))
    net.criterion_.load_state_dict(_to_tensors(state["criterion"], device))
    optimizer = _to_tensors(state["optimizer"], "cpu")
    # state_dict keys parameters by their index; plain dicts store the keys as strings.
    optimizer["state"] = {int(k): v for k, v in optimizer["state"].items()}
    for group in optimizer["param_groups"]:
        group["betas"] = tuple(group["betas"])
    net.optimizer_.load_state_dict(optimizer)


def net_state(net) -> dict:
    """What a trained net needs to be rebuilt: weights, buffers, optimizer state, history."""
    return {"format": FORMAT_VERSION, **weights_state(net),
            "history": _to_plain(list(net.history))}


def restore_net(net, state: dict) -> None:
    """Load ``state`` (from ``net_state``) into ``net``, built with the same architecture."""
    if state.get("format") == 1:
        state = _upgrade_from_format_1(state, net)
    if state.get("format") == 2:
        state = _upgrade_from_format_2(state, net)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"This model was saved in state format {state.get('format')!r}; this version of "
            f"skvae reads format {FORMAT_VERSION}. Load it with the skvae version that "
            "saved it."
        )
    restore_weights(net, state)
    net.history = History(state["history"])


def _upgrade_from_format_1(state: dict, net) -> dict:
    """A format 1 state (MLPs only) as the same function in format 2: the old MLP becomes
    the residual beside a linear path of zeros, or, for a model without hidden layers,
    the linear path itself; the KL warm-up counts as done."""
    module = dict(state["module"])
    new_module = {flat_name(k): v for k, v in net.module_.state_dict().items()}
    for part in ("encoder", "decoder"):
        linear = f"{part}_linear"
        if getattr(net.module_, part).residual is None:  # no hidden layers: one Linear
            for name in ("weight", "bias"):
                module[f"{linear}.{name}"] = module.pop(f"{part}.0.{name}")
        else:
            for name in ("weight", "bias"):
                module[f"{linear}.{name}"] = np.zeros_like(
                    new_module[f"{linear}.{name}"].cpu().numpy())
    criterion = {"steps_done": np.array(np.iinfo(np.int64).max), **state["criterion"]}
    return {**state, "format": 2, "module": module, "criterion": criterion}


def _format_2_position(name: str) -> int:
    """Format 2 registered the linear paths before the residuals: parameters came in the
    order encoder_linear, decoder_linear, encoder, decoder."""
    for position, prefix in enumerate(("encoder_linear.", "decoder_linear.", "encoder.")):
        if name.startswith(prefix):
            return position
    return 3


def _upgrade_from_format_2(state: dict, net) -> dict:
    """A format 2 state (flat names) in format 3: tensors renamed, and the optimizer's
    per-parameter state moved to where each parameter now comes."""
    names = {flat_name(name): name for name in net.module_.state_dict()}
    module = {names.get(name, name): value for name, value in state["module"].items()}
    flat = [flat_name(name) for name, _ in net.module_.named_parameters()]
    old_index = {name: i for i, name in enumerate(sorted(flat, key=_format_2_position))}
    optimizer = dict(state["optimizer"])
    old_state = optimizer["state"]
    optimizer["state"] = {str(new): old_state[str(old_index[name])]
                          for new, name in enumerate(flat) if str(old_index[name]) in old_state}
    return {**state, "format": 3, "module": module, "optimizer": optimizer}


def upgrade_legacy_net(net) -> None:
    """Give a net pickled as skorch objects (before state format 1) a module of today's
    layout holding the same layers: its MLP becomes the residual beside a linear path of
    zeros, or, for a model without hidden layers, the linear path itself."""
    legacy = net.module_
    if isinstance(getattr(legacy, "encoder", None), LinearPlusMLP):
        return
    parts = {}
    for part in ("encoder", "decoder"):
        mlp = legacy._modules[part]
        linear = legacy._modules.get(f"{part}_linear")  # added by earlier upgrades
        layers = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)] if mlp else []
        network = LinearPlusMLP.__new__(LinearPlusMLP)
        torch.nn.Module.__init__(network)
        if linear is None and len(layers) == 1:  # no hidden layers: the one Linear
            linear, mlp = layers[0], None
        elif linear is None:
            linear = torch.nn.Linear(layers[0].in_features, layers[-1].out_features)
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
            linear = linear.to(layers[0].weight.device)
        network.linear, network.residual = _row_wise(linear), mlp
        parts[part] = network
    net.module_ = VAEModule(parts["encoder"], parts["decoder"], legacy.prior,
                            legacy.likelihood, legacy.n_components,
                            legacy.feature_mean, legacy.feature_scale)


def _row_wise(linear: torch.nn.Linear) -> torch.nn.Module:
    if isinstance(linear, _RowWiseLinear):
        return linear
    row_wise = _RowWiseLinear(linear.in_features, linear.out_features,
                              device=linear.weight.device)
    row_wise.load_state_dict(linear.state_dict())
    return row_wise


def available_device(device: torch.device) -> torch.device:
    """``device`` if this machine has it, else the CPU with a warning."""
    try:
        return check_device(device)
    except ValueError:
        warnings.warn(
            f"This model was trained on {device}, which this machine does not have; it "
            "runs on the CPU. Call to('cpu') before fitting it again here.",
            DeviceWarning,
            stacklevel=3,
        )
        return torch.device("cpu")


def _to_plain(value):
    """Tensors to NumPy arrays, tuples to lists, dict keys to strings, NumPy scalars to
    Python numbers: the types that pickle and skops store without running code."""
    if isinstance(value, torch.Tensor):
        # A copy: on the CPU, numpy() would share memory with the live parameter.
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _to_tensors(value, device):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value)).to(device)
    if isinstance(value, dict):
        return {k: _to_tensors(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_tensors(v, device) for v in value]
    return value
