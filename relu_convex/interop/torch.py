r"""PyTorch import and export of two-layer ReLU networks.

The supported module is

.. code-block:: python

    nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, c))

(either linear layer with or without bias). It maps to a
:class:`~relu_convex.networks.ReLUNetwork` as follows:

* hidden weights ``layer0.weight`` (m, d) are the first ``d`` columns of
  :math:`W_1`; a hidden bias ``layer0.bias`` (m,) becomes its last column, so
  the network is evaluated on ``add_bias(X)`` (DESIGN section 2, "Biases");
* output weights ``layer2.weight`` (c, m) become :math:`w_2` of shape (m,)
  when ``c == 1`` and (m, c) otherwise;
* an output bias ``layer2.bias`` (c,) becomes the network's ``offset``, which is
  modelled as an **unpenalized** offset (the convex programs' ``offset=True``).
  A PyTorch run that applies weight decay to the output bias therefore has a
  different objective; exclude that bias from weight decay (a parameter group
  with ``weight_decay=0``) to match it exactly.

Round trips are exact in float64: the same numbers are copied, predictions
agree to rounding.
"""

from __future__ import annotations

import numpy as np

from ..networks import ReLUNetwork
from ._extras import check_count, check_scale, require

__all__ = ["network_from_torch", "network_to_torch", "lam_from_weight_decay"]


def _torch():
    return require("torch", "torch")


def _layers(module):
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Sequential) or len(module) != 3:
        raise TypeError(
            "module must be nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, c)), "
            f"got {type(module).__name__}" + (f" with {len(module)} layers" if isinstance(module, nn.Sequential) else "")
        )
    first, act, last = module[0], module[1], module[2]
    if not (isinstance(first, nn.Linear) and isinstance(act, nn.ReLU) and isinstance(last, nn.Linear)):
        kinds = ", ".join(type(layer).__name__ for layer in module)
        raise TypeError(f"module must be nn.Sequential(nn.Linear, nn.ReLU, nn.Linear), got layers ({kinds})")
    if last.in_features != first.out_features:
        raise ValueError(f"module: the output layer takes {last.in_features} inputs but the hidden layer has {first.out_features} neurons")
    return first, last


def _numpy(t) -> np.ndarray:
    a = t.detach().cpu().numpy()
    return np.array(a, dtype=np.float32 if a.dtype == np.float32 else np.float64)


def network_from_torch(module) -> ReLUNetwork:
    r"""Return the :class:`ReLUNetwork` of a PyTorch two-layer ReLU module.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, c))``.

    Returns
    -------
    ReLUNetwork
        ``W1`` of shape (m, d + 1) with the hidden bias as its last column (use
        ``add_bias(X)``), or (m, d) when the hidden layer has no bias; ``w2``
        of shape (m,) for ``c == 1`` else (m, c); ``offset`` the output bias
        (``None`` when the output layer has none). float32 parameters stay
        float32, others become float64.

    Raises
    ------
    TypeError
        The module is not of the supported form.
    ImportError
        PyTorch is not installed.
    """
    first, last = _layers(module)
    W1 = _numpy(first.weight)
    if first.bias is not None:
        W1 = np.hstack([W1, _numpy(first.bias)[:, None]])
    w2 = _numpy(last.weight).T  # (m, c)
    offset = None if last.bias is None else _numpy(last.bias)
    if w2.shape[1] == 1:
        w2 = w2[:, 0]
        offset = None if offset is None else offset[0]
    return ReLUNetwork(W1, w2, offset=offset)


def network_to_torch(network: ReLUNetwork, *, bias: bool = True, dtype=None):
    r"""Return ``nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, c))`` computing ``network``.

    Parameters
    ----------
    network : ReLUNetwork
        Not a gated network (a gated network is not a ReLU module).
    bias : bool
        ``True`` (default): the last column of ``W1`` is the hidden bias (the
        network takes ``add_bias(X)``, the module takes ``X``). ``False``: all
        columns are inputs and the hidden layer has no bias.
    dtype : torch.dtype, optional
        Parameter dtype; default ``torch.float64`` (``torch.float32`` for a
        float32 network).

    Returns
    -------
    torch.nn.Sequential
        The output layer has a bias iff ``network.offset`` is not ``None``; it
        returns shape (n, c) (``(n, 1)`` for one output).

    Raises
    ------
    TypeError
        ``network`` is gated or not a :class:`ReLUNetwork`.
    ValueError
        ``bias=True`` but ``W1`` has a single column.
    """
    from ..networks import GatedReLUNetwork

    torch = _torch()
    if isinstance(network, GatedReLUNetwork) or not isinstance(network, ReLUNetwork):
        raise TypeError(f"network must be a ReLUNetwork (not gated), got {type(network).__name__}")
    if dtype is None:
        dtype = torch.float32 if network.W1.dtype == np.float32 else torch.float64
    m, d = network.W1.shape
    if bias and d < 2:
        raise ValueError("bias=True needs W1 with a bias column and at least one input column; got W1 of shape (m, 1)")
    d_in = d - 1 if bias else d
    w2 = network.w2[:, None] if network.w2.ndim == 1 else network.w2
    c = w2.shape[1]
    first = torch.nn.Linear(d_in, m, bias=bias, dtype=dtype)
    last = torch.nn.Linear(m, c, bias=network.offset is not None, dtype=dtype)
    with torch.no_grad():
        first.weight.copy_(torch.as_tensor(network.W1[:, :d_in]))
        if bias:
            first.bias.copy_(torch.as_tensor(network.W1[:, d_in]))
        last.weight.copy_(torch.as_tensor(w2.T))
        if network.offset is not None:
            last.bias.copy_(torch.as_tensor(np.reshape(network.offset, (c,))))
    return torch.nn.Sequential(first, torch.nn.ReLU(), last)


def lam_from_weight_decay(weight_decay: float, n_outputs: int = 1) -> float:
    r"""Return the ``lam`` of a PyTorch run with ``MSELoss()`` and L2 ``weight_decay``.

    With ``nn.MSELoss()`` (mean over the ``n * c`` entries) and an optimizer
    whose ``weight_decay`` adds ``weight_decay * w`` to each gradient (SGD,
    Adam; not AdamW's decoupled decay), the training objective is

    .. math::

        T = \frac{1}{nc}\|R\|_F^2 + \frac{\text{wd}}{2}\|\text{params}\|^2
          = \frac{2}{c}\Big(\frac{1}{2n}\|R\|_F^2 + \frac{\lambda}{2}\|\text{params}\|^2\Big),
        \qquad \lambda = \frac{c\,\text{wd}}{2},

    so ``network.objective(add_bias(X), y, lam) == c / 2 * T`` when the same
    parameters are decayed (the hidden bias: our default penalizes it; the
    output bias: never, see the module notes).

    Parameters
    ----------
    weight_decay : float
        Finite and >= 0.
    n_outputs : int
        Outputs ``c``, a positive integer (NumPy integers and integral floats
        are accepted).

    Raises
    ------
    ValueError
        ``weight_decay`` negative or not finite, or ``n_outputs`` not a
        positive integer; the message names the argument.
    """
    return check_count(n_outputs, "n_outputs") * check_scale(weight_decay, "weight_decay") / 2.0
