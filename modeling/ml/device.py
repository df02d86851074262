"""Which torch device to run on, from the ML_DEVICE setting."""

from __future__ import annotations

import torch

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str) -> torch.device:
    """The device called `name`; `auto` picks CUDA, else Apple MPS, else the CPU.

    Raises ValueError for an unknown name or a device this machine does not have, so a
    worker configured for a GPU it lacks fails at once instead of training on the CPU.
    """
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ValueError("device 'mps' was asked for but Apple MPS is not available on this machine")
        return torch.device("mps")
    if name == "cuda":
        return _cuda_device(None)
    prefix, _, index = name.partition(":")
    if prefix == "cuda" and index.isdigit():
        return _cuda_device(int(index))
    raise ValueError(f"unknown device {name!r}; expected {DEVICE_NAMES}")


def _cuda_device(index: int | None) -> torch.device:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError("a CUDA device was asked for but CUDA is not available on this machine")
    if index is None:
        return torch.device("cuda")
    if index >= count:
        raise ValueError(f"device 'cuda:{index}' was asked for but this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
