"""``relu-convex certify``: optimality certificate of a trained two-layer ReLU network.

The network file is a ``.npz`` archive (read without pickles) in the format of
:func:`relu_convex.networks.network_from_arrays`, the one that
:meth:`~relu_convex.networks.ReLUNetwork.save` and ``relu-convex solve
--save-network`` write:

* ``W1`` (m, d) and ``w2`` (m,) or (m, c): the layers;
* ``b1`` (m,), optional: hidden biases. They become a column of ones appended
  to X and the last column of W1, penalized like every weight. Without ``b1``,
  a W1 with d + 1 columns is read the same way (its last column is the hidden
  bias), which is how ``relu-convex solve --save-network`` writes networks;
* ``offset`` (scalar or (c,)), optional (``b2`` is read as its earlier name):
  an output offset added to every prediction. It is unpenalized: the objective
  has no penalty on it and the lower bound holds for every network with every
  offset (the dual point is centered, 1^T theta = 0).

A file with ``gates`` holds a gated ReLU network (``relu-convex solve --program
grelu --save-network``); it is refused, since the certificate is for ReLU
networks.

The default pattern set is the exact one (rigorous bound); ``--patterns N``
certifies relative to N sampled gates plus the network's own patterns.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..data import check_lam, check_positive_int
from ..errors import PatternLimitError
from ..io import load_dataset, load_network_arrays
from ..network_certificates import certify_network, exact_pattern_estimate
from ..networks import GatedReLUNetwork, ReLUNetwork, network_from_arrays
from ..patterns import add_bias
from .common import check_seed, print_json

_DESCRIPTION = """\
Certify a trained two-layer ReLU network: its objective, a lower bound on the
optimum over networks of any width, and the gap.

The network file (.npz, read without pickles; the format ReLUNetwork.save and
`relu-convex solve --save-network` write) holds
  W1 (m, d), w2 (m,) or (m, c)   the layers
  b1 (m,), optional              hidden biases: a column of ones is appended to X
                                 and b1 becomes the last column of W1 (penalized);
                                 without b1, a W1 with d + 1 columns is read the
                                 same way (as `relu-convex solve` writes networks)
  offset (scalar or (c,)),       output offset, unpenalized; the lower bound then
    optional (or b2)             holds for every network with every offset
A file with gates holds a gated network (`relu-convex solve --program grelu`)
and is refused: the certificate is for ReLU networks.

The default pattern set is the exact one (rigorous bound); --patterns N
certifies relative to N sampled gates plus the network's own patterns.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "certify",
        help="certify a trained network: objective, lower bound on the optimum, gap",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="DATA", help=".npz file with arrays X, y, or .csv with the target in the last column")
    p.add_argument("--network", required=True, metavar="FILE", help=".npz file with W1, w2 and optionally b1, offset")
    p.add_argument("--lam", type=float, required=True, help="weight decay lambda (>= 0): penalty lam/2 (||W1||^2 + ||w2||^2)")
    p.add_argument(
        "--patterns",
        default="exact",
        help="'exact' (default: every cell, rigorous) or a number of sampled gates (bound relative to that set)",
    )
    p.add_argument("--max-patterns", type=int, default=100_000, help="refuse the exact set above this size (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled gates")
    p.add_argument("--no-network-patterns", action="store_true", help="do not add the network's own patterns to a sampled set")
    p.add_argument("--no-refine", action="store_true", help="use only the network's residual as the dual point")
    p.add_argument("--upper-bound", action="store_true", help="also solve C-ReLU over the pattern set for an upper bound")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def network_for_data(arrays: dict, d: int, name: str = "--network") -> tuple[ReLUNetwork, bool]:
    """Build the ReLU network of a network file for data with ``d`` features.

    Parameters
    ----------
    arrays : dict
        The file's arrays (:func:`relu_convex.networks.network_from_arrays`).
    d : int
        Columns of the data matrix (without a bias column).
    name : str
        Names the file in error messages.

    Returns
    -------
    network : ReLUNetwork
        With the hidden bias, if any, as the last column of ``W1``, and the
        file's output offset, if any, as its ``offset``.
    bias : bool
        Whether X needs a column of ones.

    Raises
    ------
    ValueError
        A malformed file, a gated network (``gates``), or a ``W1`` whose width
        fits neither ``d`` nor ``d + 1``.
    """
    net = network_from_arrays(arrays, name=name)
    if isinstance(net, GatedReLUNetwork):
        raise ValueError(
            f"{name}: the file holds a gated ReLU network (array gates); certificates are for ReLU networks "
            "(save one with `relu-convex solve --program relu --save-network`)"
        )
    k = net.W1.shape[1]
    if "b1" in arrays:
        if k != d + 1:
            raise ValueError(f"{name}: W1 has {k - 1} columns but DATA has d = {d} features (with b1 given, W1 needs d columns)")
        return net, True
    if k == d:
        return net, False
    if k == d + 1:
        return net, True  # last column is the hidden bias, as `relu-convex solve --save-network` writes it
    raise ValueError(f"{name}: W1 has {k} columns; expected d = {d} (no hidden bias) or d + 1 = {d + 1} (last one the bias)")


def _patterns_argument(spec: str):
    if spec == "exact":
        return None
    try:
        count = int(spec)
    except ValueError:
        raise ValueError(f"--patterns must be 'exact' or a positive integer, got {spec!r}") from None
    return check_positive_int(count, "--patterns")


def run(args) -> int:
    lam = check_lam(args.lam, "--lam")
    patterns = _patterns_argument(args.patterns)
    max_patterns = check_positive_int(args.max_patterns, "--max-patterns")
    check_seed(args.seed)
    X, y = load_dataset(args.data)
    net, bias = network_for_data(load_network_arrays(args.network), X.shape[1])
    if (net.w2.ndim == 1) != (y.ndim == 1) or (y.ndim == 2 and y.shape[1] != net.w2.shape[1]):
        raise ValueError(f"--network: w2 has shape {net.w2.shape}, which does not match the targets of DATA (shape {y.shape})")
    if bias:
        X = add_bias(X)
    try:
        cert = certify_network(
            net,
            X,
            y,
            lam,
            patterns,
            max_patterns=max_patterns,
            seed=args.seed,
            include_network_patterns=not args.no_network_patterns,
            refine=not args.no_refine,
            upper_bound=args.upper_bound,
        )
    except PatternLimitError:
        estimate, m, r = exact_pattern_estimate(X)
        raise PatternLimitError(
            f"--patterns exact: the exact pattern set of DATA has up to {estimate} patterns ({m} distinct hyperplanes, "
            f"rank {r}), above --max-patterns {max_patterns}; raise --max-patterns or certify relative to sampled gates "
            "with --patterns N"
        ) from None
    notes = {
        "data": str(args.data),
        "network_file": str(args.network),
        "hidden_bias": "column of ones appended to X, penalized" if bias else "none",
        "output_offset": "none"
        if net.offset is None
        else f"offset = {np.ravel(net.offset).tolist()}, unpenalized; the bound covers every offset",
    }
    if args.json:
        print_json({**notes, **cert.to_dict()})
    else:
        print(cert)
        print(f"  hidden bias    {notes['hidden_bias']}")
        print(f"  output offset  {notes['output_offset']}")
    return 0
