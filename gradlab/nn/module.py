r"""Modules with named, shared parameters: :class:`Module`, :class:`Dense` and activation layers.

A module's parameters are the :class:`~gradlab.Parameter` objects reachable from its attributes.
Calling one module object at several places of a graph *shares* its parameters: there is one
Parameter object, and reverse mode adds the gradient from each use (the lecture's weight-constraint
rule, use ∂E/∂w₁ + ∂E/∂w₂ for both). A module runs inside its own scope, so every node it records
carries its layer path (``cell.W_s``).
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import ops
from ..engine.context import scope
from ..engine.tensor import Parameter, Tensor

__all__ = ["Module", "Dense", "Tanh", "Sigmoid", "ReLU", "Identity", "Sequential", "make_rng", "ACTIVATIONS", "Fixed"]


def make_rng(rng=None) -> np.random.Generator:
    """Return a ``numpy.random.Generator``: ``rng`` itself, a new one seeded with ``rng`` (an int), or
    one seeded with 0 when ``rng`` is None. gradlab never touches NumPy's global random state."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


class Fixed(Tensor):
    """A weight that is *not trained*: a named leaf used like a :class:`~gradlab.Parameter` (shared by every
    place that reads it) but asking for no gradient, so reverse mode never computes one for it or for
    anything computed from it alone. ``fixed`` (True) lets the figures mark it (e.g. an echo-state
    reservoir's W_x and W_s). A module does not list it among its parameters, so no optimiser sees it."""

    __slots__ = ()
    fixed = True

    def __init__(self, data, name: str | None = None):
        super().__init__(data, requires_grad=False, name=name)


class Module:
    """Base class: holds Parameters and sub-Modules as attributes, runs ``forward`` in its scope.

    Subclasses implement ``forward``; calling the module calls ``forward`` inside
    ``gradlab.scope(self.name)``. A sub-module's name defaults to the attribute it is stored in.
    """

    def __init__(self, name: str | None = None):
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "name", name)

    def _registry(self, which: str) -> dict:
        if which not in self.__dict__:  # a subclass that forgot super().__init__()
            object.__setattr__(self, which, {})
        return self.__dict__[which]

    def __setattr__(self, key: str, value) -> None:
        if isinstance(value, Parameter):
            self._registry("_params")[key] = value
            if value.name is None:
                value.name = key
        elif isinstance(value, Fixed):
            if value.name is None:
                value.name = key
        elif isinstance(value, Module):
            self._registry("_modules")[key] = value
            if value.__dict__.get("name") is None:
                object.__setattr__(value, "name", key)
        if not isinstance(value, Parameter) and key in self.__dict__.get("_params", ()):
            del self._params[key]           # a parameter replaced by something else is no longer one
        object.__setattr__(self, key, value)

    def __call__(self, *args, **kwargs):
        with scope(self.__dict__.get("name")):     # scope(None) changes nothing
            return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        """Compute the module's output; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def named_parameters(self, prefix: str = "") -> dict:
        """Return {dotted attribute path: Parameter}, each shared Parameter once (first path wins)."""
        found, seen = {}, set()
        stack = [(prefix, self)]
        while stack:
            path, mod = stack.pop(0)
            for key, p in mod._registry("_params").items():
                if id(p) not in seen:
                    seen.add(id(p))
                    found[f"{path}{key}"] = p
            for key, sub in mod._registry("_modules").items():
                stack.append((f"{path}{key}.", sub))
        return found

    def parameters(self) -> list:
        """Return every Parameter of this module and its sub-modules, each shared one exactly once."""
        return list(self.named_parameters().values())

    def parameters_by_name(self) -> dict:
        """Return {Parameter.name: Parameter} (lecture names such as ``W_s``); raises ``ValueError``
        when two different parameters carry the same name."""
        out = {}
        for path, p in self.named_parameters().items():
            if p.name in out:
                raise ValueError(f"two parameters are both named {p.name!r} (one at {path!r}); "
                                 f"give them distinct names")
            out[p.name] = p
        return out

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter."""
        for p in self.parameters():
            p.grad = None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}{tuple(p.shape)}" for k, p in self.named_parameters().items())
        return f"{type(self).__name__}(name={self.__dict__.get('name')!r}, {params})"


class Dense(Module):
    r"""A feedforward layer ``y = W x + b``: W has shape ``(out_features, in_features)``, b ``(out_features,)``.

    Inputs are rows: ``x`` of shape ``(..., in_features)`` gives ``(..., out_features)``, computed as
    ``x @ W.T + b``. ``weight_name`` and ``bias_name`` set the parameters' names (``W_s``, ``b_s``);
    W is initialised uniformly in ±1/√in_features from ``rng``.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, name: str | None = None,
                 weight_name: str = "W", bias_name: str = "b", rng=None, dtype=np.float64):
        super().__init__(name)
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(f"Dense: {what} must be a positive int, got {n!r}")
        rng = make_rng(rng)
        bound = 1.0 / math.sqrt(in_features)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype), weight_name)
        self.bias = Parameter(np.zeros(out_features, dtype=dtype), bias_name) if bias else None

    def forward(self, x):
        """Return ``x @ W.T + b``."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Dense {self.name or ''}: expected inputs with last axis {self.in_features}, "
                             f"got shape {x.shape}")
        return ops.linear(x, self.weight, self.bias)


class _Activation(Module):
    fn = staticmethod(lambda x: x)

    def forward(self, x):
        """Apply the activation element-wise."""
        return type(self).fn(x)


class Tanh(_Activation):
    """Element-wise tanh."""
    fn = staticmethod(ops.tanh)


class Sigmoid(_Activation):
    """Element-wise logistic sigmoid."""
    fn = staticmethod(ops.sigmoid)


class ReLU(_Activation):
    """Element-wise max(x, 0)."""
    fn = staticmethod(ops.relu)


class Identity(_Activation):
    """Returns its input unchanged (records no node)."""


ACTIVATIONS = {"tanh": ops.tanh, "sigmoid": ops.sigmoid, "relu": ops.relu, "identity": lambda x: x}


class Sequential(Module):
    """Modules applied one after another; they are stored as attributes ``layer0``, ``layer1``, …"""

    def __init__(self, *layers: Module, name: str | None = None):
        super().__init__(name)
        self.layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is {layer!r}, not a Module")
            setattr(self, f"layer{i}", layer)

    def forward(self, x):
        """Return the last layer's output."""
        for layer in self.layers:
            x = layer(x)
        return x
