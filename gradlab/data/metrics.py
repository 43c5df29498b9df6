r"""Error measures for predicted series, each with its normalisation written out (the literature uses
several under one name: Jaeger's NRMSE divides by the standard deviation of the target, reservoirpy's
``nrmse(norm="var")`` by its variance, so their numbers differ).

.. math::
    \mathrm{RMSE} = \sqrt{\tfrac1n \textstyle\sum_i (y_i - d_i)^2}, \qquad
    \mathrm{NRMSE} = \frac{\mathrm{RMSE}}{\sigma_d}
                   = \sqrt{\frac{\tfrac1n \sum_i (y_i - d_i)^2}{\tfrac1n \sum_i (d_i - \bar d)^2}}, \qquad
    R^2 = 1 - \frac{\sum_i (y_i - d_i)^2}{\sum_i (d_i - \bar d)^2} = 1 - \mathrm{NRMSE}^2 .
"""
from __future__ import annotations

import numpy as np

__all__ = ["rmse", "nrmse", "r_squared"]


def _pair(y, d, who: str):
    y = np.asarray(y, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    if y.shape != d.shape:
        raise ValueError(f"{who}: predictions have shape {y.shape} but the targets have shape {d.shape}")
    if d.size == 0:
        raise ValueError(f"{who}: empty sequence: there is nothing to compare")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(d))):
        raise ValueError(f"{who}: the predictions or targets contain NaN or Inf")
    return y, d


def rmse(y, d) -> float:
    r"""Return the root mean squared error :math:`\sqrt{\operatorname{mean}(y - d)^2}` over all elements."""
    y, d = _pair(y, d, "rmse")
    return float(np.sqrt(np.mean((y - d) ** 2)))


def nrmse(y, d) -> float:
    r"""Return the RMSE divided by the standard deviation of the targets ``d`` (Jaeger 2001, eq. 25):
    1.0 is the error of always predicting the mean, 0 a perfect prediction."""
    y, d = _pair(y, d, "nrmse")
    sd = float(np.std(d))
    if sd == 0:
        raise ValueError("nrmse: the targets are constant (standard deviation 0): the NRMSE is undefined")
    return float(np.sqrt(np.mean((y - d) ** 2))) / sd


def r_squared(y, d) -> float:
    r"""Return the coefficient of determination :math:`R^2 = 1 - \sum (y-d)^2 / \sum (d - \bar d)^2`."""
    y, d = _pair(y, d, "r_squared")
    ss = float(np.sum((d - d.mean()) ** 2))
    if ss == 0:
        raise ValueError("r_squared: the targets are constant: R² is undefined")
    return 1.0 - float(np.sum((y - d) ** 2)) / ss
