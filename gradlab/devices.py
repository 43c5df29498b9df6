"""Moving data between devices: NumPy arrays on the CPU, CuPy arrays on a GPU. Tensors are moved in place,
so that parameters keep their identity (a model moved to the GPU is the same model)."""
from __future__ import annotations

from .engine.backend import to_numpy
from .engine.tensor import Tensor

__all__ = ["as_numpy", "to_device"]


def as_numpy(a):
    """Return ``a`` (an array, a Tensor, or anything array-like) as a NumPy array, copying from the GPU if needed."""
    return to_numpy(a.data if isinstance(a, Tensor) else a)


def to_device(a, device: str):
    """Return ``a`` (array or Tensor) on ``device``: ``"cpu"`` (NumPy) or ``"cuda"``/``"gpu"`` (CuPy).

    A leaf Tensor is converted in place (its ``.data`` and ``.grad``) and returned, so parameters keep
    their identity; a plain array is returned converted.
    """
    if device not in ("cpu", "cuda", "gpu"):
        raise ValueError(f"to_device: unknown device {device!r}; use 'cpu' or 'cuda'")

    def convert(x):
        if x is None:
            return None
        if device == "cpu":
            return to_numpy(x)
        try:
            import cupy
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(
                "to_device('cuda'): CuPy is not installed; install it with  pip install 'gradlab[gpu]'"
            ) from e
        return cupy.asarray(x)

    if isinstance(a, Tensor):
        a.data = convert(a.data)         # a leaf's value (a recorded node's cannot be replaced)
        a.grad = convert(a.grad)
        return a
    return convert(a)
