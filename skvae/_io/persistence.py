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
from .._version import __version__
from ..exceptions import VersionMismatchWarning

# 3: encoder and decoder are objects (``encoder.linear``, ``encoder.residual``). Formats
# 1 and 2 were written only by development versions before the first release, and are
# not read (docs/changelog.rst).
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
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"This model was saved in state format {state.get('format')!r}; this version of "
            f"skvae reads format {FORMAT_VERSION}. Load it with the skvae version that "
            "saved it."
        )
    restore_weights(net, state)
    net.history = History(state["history"])


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
