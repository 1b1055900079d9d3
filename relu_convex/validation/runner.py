"""Running a suite: locally or on a Dask cluster, one JSON record per problem, resumable.

Records go to ``OUT/records.jsonl`` as each problem finishes (one line each,
flushed and synced), and ``OUT/run.json`` holds the configuration, its hash and
whether the run is complete. A run whose out folder already has records of
the same configuration (same settings and problem list) picks up where it
stopped: finished problems are not recomputed, and nothing is lost. A torn
last line (a run killed mid-write) is ignored and that problem is redone. A
problem whose record holds an error (an exception: data that could not be
read, a missing extra, a crash) is computed again, so a run resumed after the
cause is fixed does not replay the error; a solver's honest failure (a status
or a failed check) is a result and is kept.

``scheduler=None`` runs the problems in this process (``workers=1``) or in a
local process pool; ``scheduler="tcp://host:port"`` submits them to an
existing Dask distributed cluster. The records are the same either way (up to
timings): each problem is solved by the same function from the same spec.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .checks import CheckConfig, run_problem
from .suites import ProblemSpec

__all__ = ["RunOutcome", "RecordStore", "read_records", "run_suite", "connect"]

RECORDS = "records.jsonl"
RUN_INFO = "run.json"


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _json_safe(value.item())
    return value


def read_records(path, config_hash: str | None = None) -> dict[str, dict]:
    """Records of a JSON-lines file by problem id; the last record of an id wins.

    A missing file gives no records, and a torn line (from a run killed
    mid-write) is skipped. With ``config_hash``, only the records of that
    configuration.

    Parameters
    ----------
    path : str or Path
    config_hash : str, optional

    Returns
    -------
    dict
        ``{id: record}``.
    """
    path = Path(path)
    records: dict[str, dict] = {}
    if not path.is_file():
        return records
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn line (or a blank one)
            if isinstance(rec, dict) and "id" in rec and (config_hash is None or rec.get("config_hash") == config_hash):
                records[rec["id"]] = rec
    return records


class RecordStore:
    """The JSON-lines record file and the run description of an out folder.

    Parameters
    ----------
    out : path
        The report folder (created if needed).
    """

    def __init__(self, out):
        self.out = Path(out)
        self.records_path = self.out / RECORDS
        self.info_path = self.out / RUN_INFO

    def read_info(self) -> dict | None:
        """Return ``run.json`` or ``None`` if absent or unreadable."""
        try:
            return json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write_info(self, info: dict) -> None:
        """Write ``run.json`` atomically."""
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_json_safe(info), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.info_path)

    def read_records(self, config_hash: str | None = None) -> dict[str, dict]:
        """Return the stored records by id (only those of ``config_hash`` when given)."""
        return read_records(self.records_path, config_hash)

    def repair(self) -> None:
        """End a torn last line (a run killed mid-write) so later records start on a fresh line."""
        if self.records_path.is_file() and self.records_path.stat().st_size > 0:
            with self.records_path.open("rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")

    def append(self, record: dict) -> None:
        """Append one record and sync it to disk."""
        self.out.mkdir(parents=True, exist_ok=True)
        with self.records_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(_json_safe(record)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def reset(self) -> None:
        """Remove the records and the run description."""
        for path in (self.records_path, self.info_path):
            if path.exists():
                path.unlink()


@dataclass
class RunOutcome:
    """What a call of :func:`run_suite` produced.

    Attributes
    ----------
    records : list of dict
        One record per finished problem, in suite order.
    total : int
        Number of problems in the suite.
    computed : int
        Problems computed by this call (the rest came from earlier calls).
    complete : bool
        Whether every problem of the suite has a record.
    config_hash : str
    """

    records: list
    total: int
    computed: int
    complete: bool
    config_hash: str

    @property
    def failed(self) -> list:
        """The records that did not pass."""
        return [r for r in self.records if not r.get("passed")]


def _quiet_client_del(hook):
    """An ``sys.unraisablehook`` that drops what a half-built Dask client reports while it is collected."""

    def quiet(unraisable) -> None:
        if getattr(unraisable.object, "__qualname__", "") != "Client.__del__":
            hook(unraisable)

    return quiet


def connect(address: str, timeout: float = 5.0):
    """Connect to a Dask scheduler, failing fast with a clear message.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (or another scheme Dask knows: a host and port, or
        an ``inproc://`` address of a cluster in this process).
    timeout : float
        Seconds to wait for the scheduler; must be > 0.

    Raises
    ------
    ValueError
        Dask is not installed, the address or the timeout is malformed, or the
        scheduler does not answer within ``timeout`` seconds. The message names
        ``--scheduler`` (or ``--connect-timeout``); no traceback of Dask's own
        clean-up reaches the user.
    """
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"--connect-timeout must be a finite number of seconds > 0, got {timeout}")
    try:
        from distributed import Client
        from distributed.comm.addressing import get_address_host_port, parse_address
        from distributed.comm.registry import get_backend
    except ImportError:
        raise ValueError("--scheduler needs dask[distributed]: pip install 'relu-convex[dask]'") from None
    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)  # a known scheme
        if scheme != "inproc":  # in-process addresses (a LocalCluster without processes) have no port
            get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--scheduler: {address!r} is not a Dask scheduler address ({exc}); expected tcp://HOST:PORT") from None
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_client_del(hook)  # a client that failed to start complains when collected
    try:
        try:
            return Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            message = f"--scheduler: cannot reach a Dask scheduler at {address!r} within {timeout:g} s ({exc})"
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise ValueError(message)


class _Progress:
    """Text progress on a stream (one updating line on a terminal, one line per problem otherwise)."""

    def __init__(self, total: int, done: int, stream=None, enabled: bool = True):
        self.total, self.done, self.stream, self.enabled = total, done, stream or sys.stderr, enabled
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, record: dict) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        tag = "ok" if record.get("passed") else "FAIL"
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{time.perf_counter() - self.start:6.1f}s  {tag:4} {record['id'][:70]}")
        if self.tty:
            self.stream.write("\r" + line.ljust(120) + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _single_threaded() -> None:
    """Worker initializer: one BLAS/OpenMP thread per process, so workers do not oversubscribe the cores."""
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _iter_results(todo: list[ProblemSpec], config: CheckConfig, config_hash: str, scheduler, workers: int):
    """Yield records as the problems finish."""
    if scheduler is not None:
        from distributed import as_completed

        client = connect(scheduler) if isinstance(scheduler, str) else scheduler
        try:
            futures = [client.submit(run_problem, spec, config, config_hash, pure=False) for spec in todo]
            try:
                with client.as_current():
                    for fut in as_completed(futures):
                        yield fut.result()
            finally:
                client.cancel(futures)
        finally:
            if isinstance(scheduler, str):
                client.close()
        return
    if workers <= 1:
        for spec in todo:
            yield run_problem(spec, config, config_hash)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded) as pool:
        futures = [pool.submit(run_problem, spec, config, config_hash) for spec in todo]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _finished(records: dict[str, dict]) -> dict[str, dict]:
    """The records that are results: those of problems that raised an error are left out (computed again)."""
    return {k: r for k, r in records.items() if not r.get("error")}


def reusable_records(store: RecordStore, config: CheckConfig, ids, info: dict | None = None) -> dict[str, dict] | None:
    """Records of an earlier run in ``store`` with the same settings but another problem list.

    Returns the earlier run's records whose ids are in ``ids`` when ``run.json``
    holds exactly ``config``'s settings (solvers, tolerances, limits, baselines)
    under a different hash; ``None`` when there is no such run. A problem's id fixes
    its data, lam, program, gates and subsample, so with equal settings its record
    is what this run would compute (up to timing). ``info`` is ``run.json`` if
    already read.
    """
    info = store.read_info() if info is None else info
    if info is None or info.get("config") != _json_safe(config.to_dict()) or not info.get("config_hash"):
        return None
    wanted = set(ids)
    return {k: v for k, v in _finished(store.read_records(info["config_hash"])).items() if k in wanted}


def run_suite(
    specs: list[ProblemSpec],
    config: CheckConfig,
    out,
    *,
    scheduler=None,
    workers: int = 1,
    limit: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    describe: dict | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> RunOutcome:
    """Run a suite, writing one record per problem as it finishes.

    Parameters
    ----------
    specs : list of ProblemSpec
    config : CheckConfig
    out : path
        The report folder; ``records.jsonl`` and ``run.json`` are written there.
    scheduler : str or distributed.Client, optional
        Address of a Dask scheduler (or a connected client); ``None`` runs locally.
    workers : int
        Local processes when ``scheduler`` is ``None``.
    limit : int, optional
        Compute at most this many new problems (the run stays incomplete).
    fresh : bool
        Discard earlier records in ``out`` instead of resuming.
    progress : bool
        Write text progress to stderr.
    describe : dict, optional
        Extra facts stored in ``run.json`` (the suite name, the command).
    on_record : callable, optional
        Called with each new record.

    Returns
    -------
    RunOutcome

    Records of an earlier run in ``out`` with the same settings and another
    problem list (for example a subset of its datasets) are reused for the
    problems both lists hold (see :func:`reusable_records`). Records that hold
    an error (the problem raised an exception) are never reused: those
    problems are computed again.

    Raises
    ------
    ValueError
        ``out`` holds records of other settings (use ``fresh`` or another
        folder), or the scheduler cannot be reached.
    """
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("the suite lists the same problem more than once")
    config_hash = config.digest(specs)
    store = RecordStore(out)
    if fresh:
        store.reset()
    info = store.read_info()
    reusable = reusable_records(store, config, ids, info)
    if info is not None and info.get("config_hash") != config_hash and store.read_records() and reusable is None:
        raise ValueError(
            f"--out: {store.out} holds records of another configuration "
            f"(hash {info.get('config_hash')}, this run {config_hash}); "
            "use --fresh to discard them, or another --out folder"
        )
    store.repair()
    done = _finished(store.read_records(config_hash))
    for record in (reusable or {}).values():
        if record["id"] not in done:
            # same settings, another problem list: the record is restamped (appended again) so
            # that later resumes of this problem list find it
            record = {**record, "config_hash": config_hash}
            store.append(record)
            done[record["id"]] = record
    todo = [s for s in specs if s.id not in done]
    if limit is not None:
        todo = todo[: max(0, int(limit))]
    base = {"config_hash": config_hash, "config": config.to_dict(), "total": len(specs), **(describe or {})}
    owned = isinstance(scheduler, str)
    if owned:
        scheduler = connect(scheduler)  # fail fast, before anything is written
    if scheduler is not None:
        base["scheduler"] = str(scheduler.scheduler.address)
    store.write_info({**base, "complete": False, "finished": len(done)})
    stale = store.out / "report.md"
    if todo and stale.exists():
        stale.unlink()  # an earlier report must not outlive a run that adds records
    bar = _Progress(len(specs), len(done), enabled=progress)
    computed = 0
    try:
        for record in _iter_results(todo, config, config_hash, scheduler, workers):
            store.append(record)
            done[record["id"]] = record
            computed += 1
            bar.update(record)
            if on_record is not None:
                on_record(record)
    finally:
        if owned:
            scheduler.close()
        complete = all(i in done for i in ids)
        store.write_info({**base, "complete": complete, "finished": sum(i in done for i in ids)})
    return RunOutcome([done[i] for i in ids if i in done], len(specs), computed, complete, config_hash)
