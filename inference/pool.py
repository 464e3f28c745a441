"""A small, robust process pool with an asyncio front, for CPU-heavy analysis jobs.

Unlike ``concurrent.futures.ProcessPoolExecutor``, one crashed worker does not break the pool
and a hung or cancelled job can be stopped: each worker is one ``multiprocessing`` process with
its own pipe, and the parent kills (SIGKILL) and replaces a worker whose job times out, is
cancelled or takes the process down with it. Only that job fails.

Each worker runs ``initializer(*initargs)`` once (load the ONNX sessions there) and may read
:func:`worker_threads` to size its thread pools (ONNX Runtime's ``intra_op_num_threads``);
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` are set before the
initializer's module is imported.

The event loop never blocks on a worker: one reader thread per worker waits on the worker's pipe
and process sentinel, unpickles results, reaps the process when it exits and hands everything to
the loop with ``call_soon_threadsafe``. Jobs are sent as pickles: pass file paths rather than
large arrays where possible.

Temporary files belong to the parent: a worker's ``TMPDIR`` is a folder the parent made (under
``scratch_dir``) and deletes once it has reaped the worker, however it ended (crash, SIGKILL,
timeout, shutdown), so a killed worker's copy of an upload never outlives it (inference.scratch).

A job may report progress while it runs: it calls :func:`report_progress` with a small picklable
value, which reaches the ``on_progress`` callback given to :meth:`WorkerPool.submit`, on the
event loop, in order (link downloads use this for their progress bar).

The worker's side (its main loop, progress reports, how replies are packed) is
``inference.pool_worker``.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any

from inference import scratch
from inference.errors import JobError, JobTimeout, PoolBusy, PoolClosed, WorkerCrashed
from inference.pool_worker import (
    THREAD_ENV_VARS,
    cpu_count,
    decode_reply,
    error_line,
    ping,
    report_progress,
    unpack_exception,
    worker_main,
    worker_threads,
)

__all__ = ["PoolStats", "WorkerPool", "report_progress", "worker_threads"]

logger = logging.getLogger(__name__)

_SHUTDOWN = "the analysis was cancelled: the bot is shutting down"
_environ_lock = threading.Lock()  # os.environ is patched while a worker is being spawned


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        oom = " (possibly out of memory)" if code == -signal.SIGKILL else ""
        return f"killed by signal {name}{oom}"
    return f"exit code {code}"


@dataclass(eq=False)
class _Job:
    id: int
    name: str
    payload: bytes
    timeout_s: float
    future: asyncio.Future[Any]
    on_progress: Callable[[Any], None] | None = None
    started: float = 0.0
    worker: _Worker | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    ready: asyncio.Future[Exception | None]  # None: initialised; else why it failed
    tmpdir: str  # the worker's temp folder, deleted by the parent once the worker is reaped
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    state: str = "starting"  # starting | idle | busy | dead
    job: _Job | None = None
    kill_reason: str | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of the pool, for ``/status`` and benchmarks."""

    workers: int  # configured
    alive: int  # initialised and not dead
    busy: int
    queued: int
    completed: int
    failed: int  # errors, crashes and timeouts (not cancellations)
    cancelled: int
    timeouts: int
    crashes: int
    restarts: int
    mean_job_s: float | None  # over recent finished jobs


class WorkerPool:
    """A fixed number of worker processes behind an ``async`` :meth:`submit`.

    Use ``async with WorkerPool(...) as pool`` or :meth:`start` / :meth:`close`. All methods must be
    called from the event loop that started the pool.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        job_timeout_s: float = 120.0,
        max_queue: int = 32,
        threads_per_worker: int | None = None,
        mp_context: str | BaseContext = "spawn",
        start_timeout_s: float = 120.0,
        scratch_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if workers < 1 or max_queue < 0 or job_timeout_s <= 0:
            raise ValueError("need workers >= 1, max_queue >= 0 and job_timeout_s > 0")
        self.workers = workers
        self.job_timeout_s = job_timeout_s
        self.max_queue = max_queue
        self.threads_per_worker = threads_per_worker or max(1, cpu_count() // workers)
        self.start_timeout_s = start_timeout_s
        self.scratch_dir = scratch_dir  # where the pool's temp folder goes (None: the system's)
        self._scratch: str | None = None
        ctx = multiprocessing.get_context(mp_context) if isinstance(mp_context, str) else mp_context
        if ctx.get_start_method() == "fork":
            raise ValueError(
                "use 'spawn' or 'forkserver': forking a threaded asyncio process is unsafe"
            )
        self._ctx = ctx
        self._setup = pickle.dumps((initializer, tuple(initargs)))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self._queue: collections.deque[_Job] = collections.deque()
        self._spawning: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._durations: collections.deque[float] = collections.deque(maxlen=50)
        self._counts = collections.Counter[str]()
        self._closing = False  # no new jobs
        self._stopping = False  # no new workers

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the workers and wait until each has run its initializer.

        Raises ``JobError`` naming the cause when a worker cannot start (for example its
        initializer raised because the models are missing); no process is left behind.
        """
        if self._loop is not None:
            raise RuntimeError("WorkerPool.start() called twice")
        self._loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        self._scratch = scratch.make_root(self.scratch_dir)
        results = await asyncio.gather(
            *(self._spawn_worker() for _ in range(self.workers)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.close(cancel_pending=True)
            raise errors[0]
        method, took = self._ctx.get_start_method(), time.perf_counter() - t0
        logger.info("pool started: %d %s workers in %.2f s", self.workers, method, took)

    async def close(self, cancel_pending: bool = False) -> None:
        """Stop accepting jobs, finish (or with ``cancel_pending`` fail with ``PoolClosed``)
        the queued and running ones, then stop every worker and reap it."""
        self._closing = True
        if cancel_pending:
            while self._queue:
                self._settle(self._queue.popleft(), error=PoolClosed(_SHUTDOWN))
            for w in self._workers:
                if w.state == "busy":
                    self._kill(w, "closed")
        else:
            pending = [j.future for j in self._queue] + [
                w.job.future for w in self._workers if w.job
            ]
            if pending:
                await asyncio.wait(pending)
        self._stopping = True
        for task in self._spawning:
            task.cancel()  # a cancelled start kills its process; we wait for it below
        if self._spawning:
            await asyncio.gather(*self._spawning, return_exceptions=True)
        for w in self._workers:
            if w.state == "idle":
                w.state, w.kill_reason = "dead", "closed"
                try:
                    w.conn.send_bytes(pickle.dumps(None))  # asks the worker to exit
                except OSError:
                    pass
        remaining = [asyncio.ensure_future(w.exited.wait()) for w in self._workers]
        if remaining:
            _, late = await asyncio.wait(remaining, timeout=5.0)
            if late:
                for w in self._workers:
                    self._kill(w, "closed")
                await asyncio.wait(late)
        scratch.remove(self._scratch)
        logger.info("pool closed: %s", self.stats())

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.close(cancel_pending=exc_type is not None)

    # ----------------------------------------------------------------- jobs

    async def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout_s: float | None = None,
        on_progress: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker and return its result.

        ``fn`` must be a module-level function; arguments and result travel as pickles. What the
        job passes to :func:`report_progress` reaches ``on_progress`` on the loop. Raises
        what ``fn`` raised (same type when it pickles, else ``JobError``), ``PoolBusy`` when
        ``max_queue`` jobs already wait, ``JobTimeout``, ``WorkerCrashed`` or ``PoolClosed``.
        Cancelling the awaiting task drops the job, killing its worker if it is running.
        """
        if self._loop is None or self._closing:
            raise PoolClosed("the analysis workers are not running")
        if len(self._queue) >= self.max_queue and not any(w.state == "idle" for w in self._workers):
            retry = self._retry_after()
            message = f"busy: {len(self._queue)} jobs waiting, try again in ~{retry:.0f} s"
            raise PoolBusy(message, retry_after_s=retry)
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            payload = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise JobError(f"job {name} cannot be sent to a worker: {error_line(exc)}") from exc
        timeout_s = timeout_s or self.job_timeout_s
        future = self._loop.create_future()
        job = _Job(next(self._ids), name, payload, timeout_s, future, on_progress)
        self._queue.append(job)
        self._dispatch()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._cancel(job)
            raise

    async def warmup(self, fn: Callable[..., Any] = ping, *args: Any) -> list[Any]:
        """Run ``fn(*args)`` once per worker (e.g. one inference to allocate buffers); return the
        results. With all workers idle each call lands on a different worker."""
        return list(await asyncio.gather(*(self.submit(fn, *args) for _ in range(self.workers))))

    def stats(self) -> PoolStats:
        c = self._counts
        return PoolStats(
            workers=self.workers,
            alive=sum(w.state in ("idle", "busy") for w in self._workers),
            busy=sum(w.state == "busy" for w in self._workers),
            queued=len(self._queue),
            completed=c["completed"],
            failed=c["failed"],
            cancelled=c["cancelled"],
            timeouts=c["timeouts"],
            crashes=c["crashes"],
            restarts=c["restarts"],
            mean_job_s=sum(self._durations) / len(self._durations) if self._durations else None,
        )

    # ----------------------------------------------------------------- internals

    def _retry_after(self) -> float:
        mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
        busy = sum(w.state == "busy" for w in self._workers)
        return float(max(1, math.ceil(mean * (len(self._queue) + busy) / self.workers)))

    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers."""
        assert self._loop is not None
        while self._queue:
            w = next((w for w in self._workers if w.state == "idle"), None)
            if w is None:
                return
            job = self._queue.popleft()
            try:
                w.conn.send_bytes(pickle.dumps((job.id, job.payload)))
            except OSError:  # died while idle: the reader thread reports the exit
                self._queue.appendleft(job)
                self._kill(w, "dead on send")
                continue
            w.state, w.job, job.worker = "busy", job, w
            job.started = time.perf_counter()
            job.timer = self._loop.call_later(job.timeout_s, self._on_timeout, w, job)
            logger.debug("job %d (%s) -> worker %s", job.id, job.name, w.pid)

    def _settle(self, job: _Job, result: Any = None, error: BaseException | None = None) -> None:
        """Resolve a job's future (unless its caller has gone) and count the outcome."""
        if job.timer:
            job.timer.cancel()
        if not job.future.done():
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)
            self._counts["completed" if error is None else "failed"] += 1

    def _kill(self, w: _Worker, reason: str) -> None:
        if w.state != "dead":
            w.state, w.kill_reason = "dead", reason
        if w.process.pid is not None:  # started (a no-op once it has been reaped)
            w.process.kill()

    def _cancel(self, job: _Job) -> None:
        self._counts["cancelled"] += 1
        if job.timer:
            job.timer.cancel()
        if job in self._queue:
            self._queue.remove(job)
            logger.info("job %d %s cancelled while queued", job.id, job.name)
        elif job.worker is not None and job.worker.job is job:
            logger.info("job %d %s cancelled: killing worker %s", job.id, job.name, job.worker.pid)
            self._kill(job.worker, "cancelled")

    def _on_timeout(self, w: _Worker, job: _Job) -> None:
        if w.job is job and not job.future.done():
            logger.warning("job %d %s timed out: killing worker %s", job.id, job.name, w.pid)
            self._counts["timeouts"] += 1
            limit = f"the analysis took longer than {job.timeout_s:g} s and was stopped"
            self._settle(job, error=JobTimeout(limit))
            self._kill(w, "timeout")

    async def _spawn_worker(self) -> None:
        """Start one worker process and wait until its initializer has run."""
        assert self._loop is not None
        t0 = time.perf_counter()
        parent_conn, child_conn = self._ctx.Pipe()
        tmpdir = scratch.make_worker_folder(self._scratch)
        process = self._ctx.Process(
            target=worker_main,
            args=(child_conn, self._setup, self.threads_per_worker, tmpdir),
            name="earworm-worker",
            daemon=True,
        )
        w = _Worker(process, parent_conn, self._loop.create_future(), tmpdir)
        # start() forks and execs (forkserver: waits for the server), 1-150 ms: not on the loop.
        starting = self._loop.run_in_executor(None, self._start_process, process)
        try:
            try:
                await asyncio.shield(starting)
            finally:
                if not starting.done():  # we were cancelled: finish starting, then kill it below
                    await asyncio.wait([starting])
                child_conn.close()
                if starting.exception() is None:
                    self._workers.append(w)
                    name = f"pool-reader-{w.pid}"
                    threading.Thread(target=self._reader, args=(w,), name=name, daemon=True).start()
                else:  # no process, so no reader to clean up after it
                    scratch.remove(tmpdir)
            error = await asyncio.wait_for(asyncio.shield(w.ready), self.start_timeout_s)
        except TimeoutError:
            error = JobError(f"a worker did not finish starting within {self.start_timeout_s:g} s")
        except BaseException:
            self._kill(w, "startup")
            raise
        if error is not None:
            self._kill(w, "startup")
            raise error
        if w.state == "starting":
            w.state = "idle"
            logger.info("worker %s ready in %.2f s", w.pid, time.perf_counter() - t0)
            self._dispatch()

    def _start_process(self, process: multiprocessing.process.BaseProcess) -> None:
        """Start ``process`` with the thread limits already in its environment (a spawned
        interpreter re-imports ``__main__`` before ``worker_main`` runs; if that imports numpy,
        its BLAS reads them then)."""
        with _environ_lock:
            saved = {var: os.environ.get(var) for var in THREAD_ENV_VARS}
            os.environ.update(dict.fromkeys(THREAD_ENV_VARS, str(self.threads_per_worker)))
            try:
                process.start()
            finally:
                for var, value in saved.items():
                    if value is None:
                        os.environ.pop(var, None)
                    else:
                        os.environ[var] = value

    async def _replace(self) -> None:
        """Start a replacement worker, retrying with backoff while starting fails."""
        delay = 1.0
        while not self._stopping:
            try:
                await self._spawn_worker()
                return
            except Exception as exc:
                logger.error("could not start a replacement worker (retry in %g s): %s", delay, exc)
                if not any(w.state in ("idle", "busy") for w in self._workers):
                    while self._queue:
                        self._settle(
                            self._queue.popleft(), error=JobError(f"no worker could start: {exc}")
                        )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _reader(self, w: _Worker) -> None:
        """Thread: forward the worker's messages to the loop; reap the worker when it exits."""
        try:
            while True:
                ready = multiprocessing.connection.wait([w.conn, w.process.sentinel])
                if w.conn not in ready:
                    break  # exited without closing its end (a grandchild may hold it)
                try:
                    message = pickle.loads(w.conn.recv_bytes())
                except (EOFError, OSError):
                    break
                if message[0] == "progress":
                    self._post(self._on_progress, w, *message[1])
                elif message[0] == "done":
                    self._post(self._on_done, w, *decode_reply(*message[1]))
                elif message[0] == "ready":
                    self._post(self._on_ready, w, None)
                else:
                    error = unpack_exception(message[1], "a worker's initializer failed")
                    self._post(self._on_ready, w, error)
        finally:
            w.process.join()  # reap: no zombies
            scratch.remove(w.tmpdir)  # what it left behind, off the loop
            self._post(self._on_exit, w, w.process.exitcode)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed: nothing left to tell
            pass

    def _on_ready(self, w: _Worker, error: Exception | None) -> None:
        if not w.ready.done():
            w.ready.set_result(error)

    def _on_progress(self, w: _Worker, job_id: int, blob: bytes) -> None:
        job = w.job
        if job is None or job.id != job_id or job.on_progress is None or job.future.done():
            return  # stale, or nobody listens
        try:
            job.on_progress(pickle.loads(blob))
        except Exception:
            logger.exception("progress callback of job %d failed (ignored)", job.id)

    def _on_done(self, w: _Worker, job_id: int, ok: bool, value: Any) -> None:
        job = w.job
        if w.state != "busy" or job is None or job.id != job_id:
            return  # stale: the job already timed out or was cancelled
        w.state, w.job = "idle", None
        duration = time.perf_counter() - job.started
        self._durations.append(duration)
        self._settle(job, value if ok else None, None if ok else value)
        status = "done" if ok else f"failed ({type(value).__name__})"
        logger.info(
            "job %d %s on worker %s: %s in %.3f s", job.id, job.name, w.pid, status, duration
        )
        self._dispatch()

    def _on_exit(self, w: _Worker, exitcode: int | None) -> None:
        was_started = w.ready.done() and w.ready.result() is None
        reason, w.state = w.kill_reason, "dead"
        w.conn.close()  # here, on the loop thread, so no send can race with the close
        self._workers.remove(w)
        w.exited.set()
        why = _describe_exit(exitcode)
        if not w.ready.done():
            w.ready.set_result(JobError(f"a worker exited while starting ({why})"))
        job = w.job
        if job is not None and not job.future.done():
            if reason == "closed":
                self._settle(job, error=PoolClosed(_SHUTDOWN))
            else:
                logger.warning("worker %s died on job %d %s: %s", w.pid, job.id, job.name, why)
                self._counts["crashes"] += 1
                crashed = f"the analysis worker crashed on this job ({why})"
                self._settle(job, error=WorkerCrashed(crashed))
        elif reason is None and was_started:
            logger.warning("worker %s exited unexpectedly: %s", w.pid, why)
        if was_started and not self._stopping:
            self._counts["restarts"] += 1
            task = asyncio.ensure_future(self._replace())
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)
