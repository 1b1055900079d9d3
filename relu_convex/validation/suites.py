"""Suites: which problems a validation run solves, and how their data are built.

A problem is a :class:`ProblemSpec`: a dataset reference, a regularization
strength, a program (``"C-ReLU"`` or ``"C-GReLU"``) and a pattern rule. Specs
are small and picklable, so a Dask worker builds the data itself.

Dataset references are strings with a source prefix:

``sklearn:NAME``
    scikit-learn's bundled data (``diabetes``, ``breast_cancer``, ``wine``,
    ``iris``): features standardized, rows subsampled (seeded) to ``max_samples``.
``synthetic:regression`` / ``synthetic:classification``
    Seeded Gaussian data with a planted two-layer ReLU teacher.
``gallery:NAME``
    An instance of :mod:`relu_convex.gallery` (exact patterns, stored optima).
``uci:NAME``
    ``NAME.npz`` in the UCI folder (``data_dir``): the training split
    (``train_idx``), features as stored (already standardized).
``file:PATH``
    A ``.npz`` (arrays X, y) or ``.csv`` (target last) file, used as given.

Targets: regression targets are centred and scaled to unit standard deviation
(sklearn and synthetic), binary labels become -1/+1, labels with ``k > 2``
classes become a one-vs-all target of shape (n, k) with entries -1/+1. Every
source except the gallery gets a bias column (:func:`relu_convex.add_bias`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import gallery
from ..arrangement import enumerate_patterns
from ..io import load_dataset
from ..patterns import activation_patterns, add_bias, sample_gates

__all__ = [
    "ProblemSpec",
    "PROGRAMS",
    "QUICK_DATASETS",
    "SKLEARN_DATASETS",
    "UCI_LAMS",
    "quick_suite",
    "dataset_suite",
    "resolve_datasets",
    "uci_profile_names",
    "load_data",
    "build_problem",
    "check_datasets",
    "read_suite_file",
]

PROGRAMS = ("C-GReLU", "C-ReLU")
SKLEARN_DATASETS = ("diabetes", "breast_cancer", "wine", "iris")
SYNTHETIC_DATASETS = ("regression", "classification")
QUICK_DATASETS = tuple(f"sklearn:{s}" for s in SKLEARN_DATASETS) + tuple(f"synthetic:{s}" for s in SYNTHETIC_DATASETS)
QUICK_LAMS = (1e-3, 1e-2)
UCI_LAMS = tuple(float(v) for v in np.logspace(-5, -1, 6))


@dataclass(frozen=True)
class ProblemSpec:
    """One validation problem.

    Attributes
    ----------
    dataset : str
        A dataset reference (see the module docstring).
    lam : float
    program : {"C-ReLU", "C-GReLU"}
    patterns : int or "exact"
        Number of sampled gates, or the exact pattern set.
    seed : int
        Seed of the gates and of any subsampling.
    max_samples : int or None
        Keep at most this many rows (seeded subsample); ``None`` keeps all.
    data_dir : str or None
        Folder of the ``uci:`` datasets.
    """

    dataset: str
    lam: float
    program: str
    patterns: int | str = 100
    seed: int = 0
    max_samples: int | None = None
    data_dir: str | None = None

    @property
    def id(self) -> str:
        """A stable identifier: ``dataset|lam|program|patterns|seed|max_samples``."""
        return f"{self.dataset}|lam={self.lam:.6g}|{self.program}|p={self.patterns}|seed={self.seed}|n<={self.max_samples}"

    def to_dict(self) -> dict:
        """Return the spec as a JSON-ready dict."""
        return asdict(self)


# -- dataset names -------------------------------------------------------------------------------


def uci_profile_names(data_dir) -> list[str]:
    """Return the PERFORMANCE_PROFILE list of ``lists.json`` in ``data_dir``."""
    import json

    path = Path(data_dir) / "lists.json"
    if not path.is_file():
        raise ValueError(f"--data-dir: {data_dir} has no lists.json (expected the UCI folder with lists.json and NAME.npz files)")
    try:
        lists = json.loads(path.read_text(encoding="utf-8"))
        return list(lists["PERFORMANCE_PROFILE"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--data-dir: cannot read the PERFORMANCE_PROFILE list from {path} ({exc})") from None


def resolve_datasets(names, data_dir=None) -> list[str]:
    """Turn user dataset names into references and check that each exists.

    A bare name is a UCI dataset (``data_dir`` needed), a bundled
    scikit-learn dataset, or a gallery instance, in that order; a path ending
    in ``.npz`` or ``.csv`` is a file. Prefixed references are checked as is.

    Raises
    ------
    ValueError
        Naming every unknown dataset and what was expected.
    """
    out, unknown = [], []
    for raw in names:
        name = str(raw).strip()
        if not name:
            continue
        ref = _resolve_one(name, data_dir)
        (out if ref else unknown).append(ref or name)
    if unknown:
        where = f" or {data_dir}/NAME.npz" if data_dir else " (give --data-dir for UCI names)"
        raise ValueError(
            f"unknown dataset(s): {', '.join(unknown)}; expected sklearn:{{{','.join(SKLEARN_DATASETS)}}}, "
            f"synthetic:{{{','.join(SYNTHETIC_DATASETS)}}}, gallery:{{{','.join(gallery.names())}}}, "
            f"a .npz/.csv file{where}"
        )
    return out


def _resolve_one(name: str, data_dir) -> str | None:
    prefix, _, rest = name.partition(":")
    if rest:
        if prefix == "sklearn":
            return name if rest in SKLEARN_DATASETS else None
        if prefix == "synthetic":
            return name if rest in SYNTHETIC_DATASETS else None
        if prefix == "gallery":
            return name if rest in gallery.names() else None
        if prefix == "uci":
            return name if data_dir and (Path(data_dir) / f"{rest}.npz").is_file() else None
        if prefix == "file":
            return name if Path(rest).is_file() else None
    if name.lower().endswith((".npz", ".csv")):
        return f"file:{name}" if Path(name).is_file() else None
    if data_dir and (Path(data_dir) / f"{name}.npz").is_file():
        return f"uci:{name}"
    if name in SKLEARN_DATASETS:
        return f"sklearn:{name}"
    if name in gallery.names():
        return f"gallery:{name}"
    return None


# -- suites --------------------------------------------------------------------------------------


def quick_suite(*, patterns: int = 40, max_samples: int = 100, seed: int = 0, lams=QUICK_LAMS) -> list[ProblemSpec]:
    """Return the default suite: bundled and synthetic data at two ``lam``, and the gallery."""
    specs = dataset_suite(QUICK_DATASETS, lams=lams, patterns=patterns, max_samples=max_samples, seed=seed)
    for name in gallery.names():
        lam = gallery.generate(name)[2]
        specs += [ProblemSpec(f"gallery:{name}", lam, program, "exact", seed, None) for program in PROGRAMS]
    return specs


def dataset_suite(datasets, *, lams, programs=PROGRAMS, patterns: int | str = 100, seed: int = 0,
                  max_samples: int | None = None, data_dir=None) -> list[ProblemSpec]:
    """Return the specs of every (dataset, lam, program) combination.

    Gallery references keep their own ``lam`` and the exact pattern set.
    """
    specs = []
    for ref in datasets:
        if ref.startswith("gallery:"):
            lam = gallery.generate(ref.split(":", 1)[1])[2]
            specs += [ProblemSpec(ref, lam, program, "exact", seed, None) for program in programs]
            continue
        for lam in lams:
            for program in programs:
                specs.append(ProblemSpec(ref, float(lam), program, patterns, seed, max_samples,
                                         str(data_dir) if data_dir and ref.startswith("uci:") else None))
    return specs


# -- data ----------------------------------------------------------------------------------------


def _encode_labels(labels: np.ndarray) -> np.ndarray:
    classes = np.unique(labels)
    if classes.size <= 2:
        return np.where(labels == classes[-1], 1.0, -1.0)
    return np.where(labels[:, None] == classes[None, :], 1.0, -1.0)


def _standardize(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _subsample(X, y, max_samples, seed):
    if max_samples is None or X.shape[0] <= max_samples:
        return X, y
    idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_samples, replace=False))
    return X[idx], y[idx]


SKLEARN_INSTALL = "pip install 'relu-convex[sklearn]'"


def _sklearn(name: str):
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(f"sklearn:{name} needs scikit-learn, which is not installed: {SKLEARN_INSTALL}") from None

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = _standardize(np.asarray(X, dtype=np.float64))
    if name == "diabetes":
        return X, _standardize(np.asarray(y, dtype=np.float64)[:, None])[:, 0]
    return X, _encode_labels(np.asarray(y))


def _synthetic(kind: str, seed: int):
    rng = np.random.default_rng(1000 + seed)
    n, d, m = 120, 6, 4
    X = rng.standard_normal((n, d))
    W1, w2 = rng.standard_normal((m, d)), rng.standard_normal(m)
    f = np.maximum(X @ W1.T, 0.0) @ w2
    if kind == "regression":
        return X, _standardize((f + 0.1 * rng.standard_normal(n))[:, None])[:, 0]
    return X, np.where(f >= np.median(f), 1.0, -1.0)


def _uci(name: str, data_dir):
    path = Path(data_dir) / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            X, y, train = z["X"], z["y"], z["train_idx"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"uci:{name}: cannot read {path} as a UCI archive with X, y and train_idx ({exc})") from None
    return np.ascontiguousarray(X[train], dtype=np.float64), _encode_labels(np.asarray(y)[train])


def load_data(spec: ProblemSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)`` of a spec, bias column included, subsampled to ``max_samples``."""
    prefix, _, rest = spec.dataset.partition(":")
    if prefix == "gallery":
        X, y, _, _ = gallery.generate(rest)
        return X, y
    if prefix == "sklearn":
        X, y = _sklearn(rest)
    elif prefix == "synthetic":
        X, y = _synthetic(rest, spec.seed)
    elif prefix == "uci":
        if not spec.data_dir:
            raise ValueError(f"{spec.dataset}: UCI datasets need a data folder (--data-dir)")
        X, y = _uci(rest, spec.data_dir)
    elif prefix == "file":
        X, y = load_dataset(rest, name=spec.dataset)
    else:
        raise ValueError(f"dataset reference {spec.dataset!r} has an unknown source {prefix!r}")
    X, y = _subsample(X, y, spec.max_samples, spec.seed)
    return add_bias(X), y


def check_datasets(specs) -> None:
    """Check, before a run, that the data of every spec can be read.

    ``sklearn:`` references need scikit-learn (the ``sklearn`` extra);
    ``file:`` references are read in full (keys, shapes, finiteness);
    ``uci:`` archives must hold ``X``, ``y`` and ``train_idx``. Gallery and
    synthetic data are built in code and need nothing.

    Parameters
    ----------
    specs : iterable of ProblemSpec

    Raises
    ------
    ValueError
        Naming the datasets and what is wrong: the extra to install, or why a
        file cannot be read.
    """
    refs = {s.dataset: s for s in specs}
    needs_sklearn = sorted(r for r in refs if r.startswith("sklearn:"))
    if needs_sklearn:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise ValueError(
                f"{', '.join(needs_sklearn)} need scikit-learn, which is not installed: {SKLEARN_INSTALL} "
                "(or choose other datasets with --datasets)"
            ) from None
    for ref, spec in refs.items():
        prefix, _, rest = ref.partition(":")
        if prefix == "file":
            load_dataset(rest, name=ref)
        elif prefix == "uci":
            _uci(rest, spec.data_dir or ".")  # the reader the run uses, and its message


def build_problem(spec: ProblemSpec):
    """Return ``(problem, stored_optimum)`` of a spec; ``stored_optimum`` is ``None`` outside the gallery."""
    from ..problems import GatedReLUProblem, ReLUProblem

    cls = ReLUProblem if spec.program == "C-ReLU" else GatedReLUProblem
    if spec.dataset.startswith("gallery:"):
        inst = gallery.load(spec.dataset.split(":", 1)[1])
        return inst.problem(spec.program), inst.optimum(spec.program)
    X, y = load_data(spec)
    if spec.patterns == "exact":
        patterns = enumerate_patterns(X)
    else:
        patterns = activation_patterns(X, sample_gates(X.shape[1], int(spec.patterns), seed=spec.seed))
    return cls(X, y, patterns, spec.lam), None


# -- user suite files ----------------------------------------------------------------------------

_FILE_KEYS = {"datasets", "lams", "programs", "patterns", "max_samples", "seed"}


def _file_int(obj: dict, key: str, value, minimum: int, path: Path, expected: str) -> int:
    """``value`` (the file's ``key``, or the default) as an int >= ``minimum``; a ValueError naming the key otherwise."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if isinstance(value, float) and value.is_integer() or isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value, ok = int(value), True
    if not ok or value < minimum:
        where = f"'{key}'" if key in obj else f"the default {key}"
        raise ValueError(f"--suite: {path}: {where} must be {expected}, got {value!r}")
    return int(value)


def read_suite_file(path, *, data_dir=None, lams=UCI_LAMS, patterns: int | str = 100, max_samples=None,
                    seed: int = 0) -> list[ProblemSpec]:
    """Read a user's suite file.

    Two formats are accepted.

    JSON (``.json``): a list of dataset names, or an object with key
    ``datasets`` (list of names) and optional ``lams`` (list of floats),
    ``programs`` (subset of ``["C-GReLU", "C-ReLU"]``), ``patterns`` (int or
    ``"exact"``), ``max_samples`` (int or null) and ``seed`` (int).

    Text (any other suffix): one dataset per line, optionally followed by
    comma-separated ``lam`` values (``iris 1e-3,1e-2``); ``#`` starts a comment.

    Names are resolved by :func:`resolve_datasets`. Values absent from the
    file come from the keyword arguments.

    Raises
    ------
    ValueError
        Unreadable or malformed file, or unknown datasets; the message names
        the file and what was expected.
    """
    import json

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--suite: cannot read {path} ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"--suite: {path} is not valid JSON ({exc})") from None
        if isinstance(obj, list):
            obj = {"datasets": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("datasets"), list):
            raise ValueError(f"--suite: {path} must hold a list of dataset names or an object with a 'datasets' list")
        extra = set(obj) - _FILE_KEYS
        if extra:
            raise ValueError(f"--suite: {path} has unknown keys {sorted(extra)}; expected some of {sorted(_FILE_KEYS)}")
        try:
            file_lams = [float(v) for v in obj.get("lams", lams)]
            programs = tuple(obj.get("programs", PROGRAMS))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--suite: {path} has a malformed value ({exc})") from None
        pat = obj.get("patterns", patterns)
        pat = pat if pat == "exact" else _file_int(obj, "patterns", pat, 1, path, "an integer >= 1 or \"exact\"")
        max_samples = obj.get("max_samples", max_samples)
        max_samples = None if max_samples is None else _file_int(obj, "max_samples", max_samples, 1, path,
                                                                 "an integer >= 1 or null")
        seed = _file_int(obj, "seed", obj.get("seed", seed), 0, path, "an integer >= 0")
        if not set(programs) <= set(PROGRAMS):
            raise ValueError(f"--suite: {path}: programs must be a subset of {list(PROGRAMS)}, got {list(programs)}")
        if any(not np.isfinite(v) or v < 0 for v in file_lams) or not file_lams:
            raise ValueError(f"--suite: {path}: lams must be a non-empty list of finite numbers >= 0")
        refs = resolve_datasets([str(v) for v in obj["datasets"]], data_dir)
        return dataset_suite(refs, lams=file_lams, programs=programs, patterns=pat, seed=seed,
                             max_samples=max_samples, data_dir=data_dir)
    specs: list[ProblemSpec] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise ValueError(f"--suite: {path}:{lineno}: expected 'DATASET [LAM,LAM,...]', got {line!r}")
        try:
            line_lams = [float(v) for v in parts[1].split(",")] if len(parts) == 2 else list(lams)
        except ValueError:
            raise ValueError(
                f"--suite: {path}:{lineno}: lam values must be numbers separated by commas, got {parts[1]!r}"
            ) from None
        if any(not np.isfinite(v) or v < 0 for v in line_lams):
            raise ValueError(f"--suite: {path}:{lineno}: lam values must be finite and >= 0")
        refs = resolve_datasets([parts[0]], data_dir)
        specs += dataset_suite(refs, lams=line_lams, patterns=patterns, seed=seed, max_samples=max_samples, data_dir=data_dir)
    if not specs:
        raise ValueError(f"--suite: {path} names no datasets")
    return specs
