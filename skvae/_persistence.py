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

from . import __version__
from ._validation import check_device

# 2: the module has linear paths beside its MLPs (PPCA inside); format 1 states load
# with those paths at zero, which is the same function.
FORMAT_VERSION = 2


class VersionMismatchWarning(UserWarning):
    """A model saved under other versions of skvae or torch than the running ones."""


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
    new_module = net.module_.state_dict()
    for part in ("encoder", "decoder"):
        linear = f"{part}_linear"
        if getattr(net.module_, part) is None:  # no hidden layers: one Linear
            for name in ("weight", "bias"):
                module[f"{linear}.{name}"] = module.pop(f"{part}.0.{name}")
        else:
            for name in ("weight", "bias"):
                module[f"{linear}.{name}"] = np.zeros_like(
                    new_module[f"{linear}.{name}"].cpu().numpy())
    criterion = {"steps_done": np.array(np.iinfo(np.int64).max), **state["criterion"]}
    return {**state, "format": 2, "module": module, "criterion": criterion}


def upgrade_legacy_net(net) -> None:
    """Give the module of a net pickled as skorch objects (before format 1) the linear
    paths of format 2, as ``_upgrade_from_format_1`` does for plain states."""
    from ._module import _RowWiseLinear

    module = net.module_
    if "encoder_linear" in module._modules:
        return
    for part in ("encoder", "decoder"):
        mlp = module._modules[part]
        layers = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)]
        if len(layers) == 1:  # no hidden layers: the one Linear is the linear path
            linear = _RowWiseLinear(layers[0].in_features, layers[0].out_features)
            linear.load_state_dict(layers[0].state_dict())
            module._modules[part] = None
        else:
            linear = _RowWiseLinear(layers[0].in_features, layers[-1].out_features)
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
        module._modules[f"{part}_linear"] = linear.to(layers[0].weight.device)


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
