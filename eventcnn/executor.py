"""The one executor of every parallel stage: in this process, a local Dask cluster, or an existing one.

The stages (``render``, ``predict`` on event files, ``data convert``, ``generate``,
``opal simulate``) split their work into tasks -- one event file, one entry range
of a NanoAOD file, one Pythia chunk, one batch of simulated displays -- and hand a
pure *processor* function plus the task list to an :class:`Executor`
(coffea-style: the processor apart from the executor). Where the tasks run is the
executor's business:

* ``jobs=1`` (and no scheduler): in this process, one after the other, no Dask
  at all (no cluster start-up; the fast path for small studies and the tests);
* ``jobs=N``: a ``dask.distributed.LocalCluster`` of ``N`` single-threaded
  worker processes bound to 127.0.0.1, no dashboard, closed when the block ends;
* ``scheduler="tcp://host:8786"`` (or ``EVENTCNN_SCHEDULER``): the tasks go to
  that existing cluster (a coffea-casa or ``dask-scheduler`` address); ``jobs``
  is then ignored.

**Executors are passed in.** An entry point (a command, a notebook holding a
cluster) opens exactly one with :func:`open_executor` and passes it to every
stage it runs (``executor=``); a stage called without one opens its own for the
call (:func:`use_executor`). The cluster starts at the first task, so options
are checked before any start-up. No other process pool exists in the package
(``tests/test_executor.py`` greps for one).

Results come back in task order whatever order the tasks finished in, so
the driver writes manifests deterministically. A worker that dies loses
nothing: Dask reruns its tasks elsewhere (the processors write every file
atomically, so a rerun overwrites with identical bytes). One tqdm bar counts
the whole job.

:func:`with_retries` retries transient read errors (``OSError``,
``TimeoutError`` from XRootD/HTTPS) a bounded number of times with backoff and
then raises :class:`TransientReadError` naming what was read.

Example::

    >>> from eventcnn.executor import open_executor
    >>> with open_executor(jobs=1, quiet=True) as ex:
    ...     ex.map(abs, [-1, 2, -3])
    [1, 2, 3]
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from eventcnn.errors import UserError
from eventcnn.limits import check_jobs

__all__ = [
    "DEFAULT_ATTEMPTS",
    "Executor",
    "SCHEDULER_ENV",
    "SchedulerError",
    "TransientReadError",
    "check_jobs",
    "open_executor",
    "scheduler_from_env",
    "use_executor",
    "with_retries",
]

#: environment variable naming an existing Dask scheduler (``tcp://host:8786``)
SCHEDULER_ENV = "EVENTCNN_SCHEDULER"
#: tries of a transient read before :class:`TransientReadError`
DEFAULT_ATTEMPTS = 4
CONNECT_TIMEOUT_S = 30  #: connecting to a scheduler / starting a local cluster
CLOSE_TIMEOUT_S = 20  #: closing the client and the local cluster


class SchedulerError(UserError):
    """Dask is missing, or the scheduler address cannot be reached; the message says which."""


class TransientReadError(UserError, OSError):
    """A read that kept failing after every retry; the message names the file and entry range."""


def scheduler_from_env() -> str | None:
    """The scheduler address in ``EVENTCNN_SCHEDULER``, or ``None`` when unset or empty.

    Example::

        >>> scheduler_from_env() is None or scheduler_from_env().startswith(("tcp://", "tls://", "ws"))
        True
    """
    value = os.environ.get(SCHEDULER_ENV, "").strip()
    return value or None


def with_retries(
    call: Callable[[], Any],
    what: str,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = 0.5,
    retry_on: tuple[type[BaseException], ...] = (OSError, TimeoutError),
    sleep: Callable[[float], None] | None = None,
) -> Any:
    """``call()``, retried on ``retry_on`` up to ``attempts`` times in all (waits 0.5, 1, 2 s ...).

    ``FileNotFoundError`` / ``PermissionError`` are never retried (they will not
    go away). After the last failure raises :class:`TransientReadError` whose
    message starts with ``what`` (e.g. ``"tt.root entries 0-10000"``).

    Example::

        >>> with_retries(lambda: 42, "tt.root entries 0-100")
        42
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (FileNotFoundError, PermissionError, IsADirectoryError, TransientReadError):
            raise
        except retry_on as exc:
            if attempt == attempts:
                raise TransientReadError(
                    f"{what}: read failed {attempts} times, giving up "
                    f"(last error {type(exc).__name__}: {exc}); check the network or the file, "
                    "or fetch a local copy (eventcnn data fetch)"
                ) from exc
            (sleep or time.sleep)(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


class Executor:
    """Runs a processor over tasks; results in task order. Made by :func:`open_executor`.

    ``client`` is the ``dask.distributed.Client`` (``None`` in process); a local
    cluster or a scheduler connection starts at the first use. ``local_workers``:
    the processes it runs on this machine (1 in process, ``jobs`` for a local
    cluster, 1 for a remote scheduler: the driver), for memory estimates.
    """

    def __init__(self, client: Any = None, quiet: bool = False, start: Callable[[], Any] | None = None,
                 local_workers: int = 1) -> None:
        self._client = client
        self._start = start
        self.quiet = quiet
        self.local_workers = local_workers

    @property
    def client(self) -> Any:
        """The Dask client (started now if it was not yet), or ``None`` in process."""
        if self._client is None and self._start is not None:
            self._client, self._start = self._start(), None
        return self._client

    @property
    def in_process(self) -> bool:
        """True when the tasks run in this process, one after the other (no Dask)."""
        return self._client is None and self._start is None

    @property
    def workers(self) -> int:
        """Worker processes available (1 in process)."""
        if self.in_process:
            return 1
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))

    def bar(self, total: int, desc: str, unit: str = "task", *, quiet: bool | None = None) -> Any:
        """A tqdm bar for the whole job (hidden when ``quiet``, default: the executor's)."""
        return tqdm(total=total, desc=desc, unit=unit, disable=self.quiet if quiet is None else quiet,
                    dynamic_ncols=True)

    def map(
        self,
        fn: Callable[[Any], Any],
        tasks: Sequence[Any],
        *,
        bar: Any = None,
        weight: Callable[[Any, Any], int] | None = None,
        name: str = "eventcnn",
    ) -> list[Any]:
        """``[fn(t) for t in tasks]``, run where the executor runs; ``bar`` advances by ``weight(task, result)``.

        The first task that raises stops the job: pending tasks are cancelled and
        the task's own exception is raised here.
        """
        weight = weight or (lambda _t, _r: 1)
        if self.in_process:
            out = []
            for t in tasks:
                r = fn(t)
                out.append(r)
                if bar is not None:
                    bar.update(weight(t, r))
            return out
        from distributed import as_completed  # optional dependency, imported with the cluster

        futures = [self.client.submit(fn, t, key=f"{name}-{k}-{os.getpid()}-{time.monotonic_ns()}",
                                      pure=False) for k, t in enumerate(tasks)]
        index = {f.key: k for k, f in enumerate(futures)}
        results: list[Any] = [None] * len(tasks)
        try:
            for fut in as_completed(futures):
                k = index[fut.key]
                results[k] = fut.result()  # re-raises the task's exception
                if bar is not None:
                    bar.update(weight(tasks[k], results[k]))
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        return results


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the installation
        raise SchedulerError(
            "--jobs above 1 and --scheduler run on Dask: pip install 'eventcnn[scale]' "
            "(dask[distributed]); or use --jobs 1"
        ) from None
    return distributed


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Spawned workers must not re-run the calling script: hide ``__main__``'s file while the cluster lives.

    ``multiprocessing``'s spawn re-imports ``__main__`` from its file in every new
    worker; the tasks need only eventcnn (functions defined in ``__main__`` are
    pickled by value anyway), and a script without an ``if __name__ == "__main__"``
    guard, or code piped to ``python -``, would otherwise break the workers.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        for k in saved:
            if k == "__spec__":
                main.__spec__ = None  # type: ignore[union-attr]
            else:
                del main.__dict__[k]  # type: ignore[union-attr]
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


@contextlib.contextmanager
def open_executor(
    jobs: int = 1,
    scheduler: str | None = None,
    *,
    quiet: bool = False,
    memory_limit: str | int | None = "auto",
) -> Iterator[Executor]:
    """An :class:`Executor` for the block: in process, a local cluster of ``jobs`` workers, or ``scheduler``.

    ``scheduler`` defaults to ``EVENTCNN_SCHEDULER``. The cluster (or the
    connection) starts at the first task, so a block that fails its checks
    first starts nothing. The local cluster listens on 127.0.0.1 only, has no
    dashboard and one thread per worker process, and is closed (with bounded
    timeouts) when the block ends, also on errors. ``memory_limit`` is per worker
    (Dask's ``"auto"``: the machine's memory / jobs).

    Example::

        >>> with open_executor(jobs=1, quiet=True) as ex:
        ...     ex.workers
        1
    """
    jobs = check_jobs(jobs)
    scheduler = scheduler or scheduler_from_env()
    if scheduler is None and jobs == 1:
        yield Executor(None, quiet)
        return
    _distributed()  # Dask missing: one clear error now, not at the first task
    with contextlib.ExitStack() as stack:
        yield Executor(None, quiet, start=lambda: _start(stack, jobs, scheduler, memory_limit),
                       local_workers=jobs if scheduler is None else 1)


@contextlib.contextmanager
def use_executor(
    executor: Executor | None, jobs: int = 1, scheduler: str | None = None, *, quiet: bool = False
) -> Iterator[Executor]:
    """``executor`` itself (left open: whoever opened it closes it), or one opened for the block.

    How a stage takes an executor: ``with use_executor(executor, jobs, scheduler) as ex``.

    Example::

        >>> with open_executor(quiet=True) as mine, use_executor(mine) as ex:
        ...     ex is mine
        True
    """
    if executor is not None:
        yield executor
        return
    with open_executor(jobs, scheduler, quiet=quiet) as ex:
        yield ex


def _start(stack: contextlib.ExitStack, jobs: int, scheduler: str | None, memory_limit: str | int | None) -> Any:
    """Connect to ``scheduler`` or start a local cluster of ``jobs`` workers; closed by ``stack``."""
    distributed = _distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(
                f"cannot reach the Dask scheduler {scheduler} ({type(exc).__name__}: {exc}); "
                f"check --scheduler / {SCHEDULER_ENV}, or run locally with --jobs N"
            ) from None
        stack.callback(client.close, timeout=CLOSE_TIMEOUT_S)
        return client
    # the workers' scratch space is a temporary folder removed afterwards (Dask's default stays in /tmp)
    stack.enter_context(_main_not_reimported())
    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="eventcnn-dask-"))
    with warnings.catch_warnings():  # the health server (loopback) moves off a busy 8787
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = distributed.LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, memory_limit=memory_limit, silence_logs=logging.ERROR,
            timeout=f"{CONNECT_TIMEOUT_S}s", local_directory=scratch,
        )
    stack.callback(cluster.close, timeout=CLOSE_TIMEOUT_S)
    client = distributed.Client(cluster, timeout=f"{CONNECT_TIMEOUT_S}s")
    stack.callback(client.close, timeout=CLOSE_TIMEOUT_S)
    return client
