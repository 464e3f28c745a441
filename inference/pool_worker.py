"""The worker process of ``inference.pool``: its main loop, progress reports from a running job,
and the wire format between worker and parent (exceptions and replies are packed here, in the
worker, and unpacked by the parent's reader thread).

Everything here that runs in the worker is started by :class:`inference.pool.WorkerPool`; jobs
call :func:`report_progress` and :func:`worker_threads`.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from inference import scratch
from inference.errors import JobError

__all__ = [
    "THREAD_ENV_VARS",
    "cpu_count",
    "decode_reply",
    "ping",
    "report_progress",
    "error_line",
    "unpack_exception",
    "worker_main",
    "worker_threads",
]

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_worker_threads: int | None = None  # set in worker processes only
_progress_sink: Callable[[Any], None] | None = None  # set in a worker while it runs a job


def worker_threads() -> int:
    """Threads this worker may use for compute (pass it to ``intra_op_num_threads``).

    In a pool worker: the pool's ``threads_per_worker``; elsewhere: the usable CPU count.
    """
    return _worker_threads or cpu_count()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- worker side


def ping() -> int:
    """A job that answers with the worker's process id (``WorkerPool.warmup``'s default)."""
    return os.getpid()


def pack_exception(exc: BaseException) -> tuple[bytes | None, str, str]:
    """(pickled exception or None, "Type: message", formatted traceback) for the parent."""
    text = "".join(traceback.format_exception(exc))
    blob = None
    if isinstance(exc, Exception):  # never re-raise SystemExit & co. in the parent
        try:
            blob = pickle.dumps(exc)
            pickle.loads(blob)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            blob = None
    return blob, error_line(exc), text


def report_progress(event: Any) -> None:
    """From inside a job: send ``event`` (small, picklable) to the job's ``on_progress``
    callback in the parent. Does nothing outside a pool worker or when nobody listens."""
    sink = _progress_sink
    if sink is not None:
        with contextlib.suppress(Exception):  # best effort: never fail the job over it
            sink(event)


def _watch_parent(parent_pid: int) -> None:
    """Exit (no cleanup needed) as soon as the parent is gone, so no worker is orphaned."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def worker_main(
    conn: multiprocessing.connection.Connection, setup: bytes, threads: int, tmpdir: str
) -> None:
    """A worker process: initialise, report ready, then run jobs until told to stop."""
    global _worker_threads, _progress_sink
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    scratch.use_as_temp(tmpdir)  # the parent deletes it after our death, however we die
    _worker_threads = threads
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        initializer, initargs = pickle.loads(setup)  # imports the initializer's module now
        if initializer is not None:
            initializer(*initargs)
    except BaseException as exc:
        conn.send_bytes(pickle.dumps(("init_error", pack_exception(exc))))
        return
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    send_lock = threading.Lock()
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):  # parent gone
            return
        if message is None:  # graceful stop
            return
        job_id, payload = message
        try:
            fn, args, kwargs = pickle.loads(payload)

            def _progress_sink(event: Any, job_id: int = job_id) -> None:  # (a global)
                blob = pickle.dumps(("progress", (job_id, pickle.dumps(event))))
                with send_lock:  # a job may report from any of its threads
                    conn.send_bytes(blob)

            try:
                result = fn(*args, **kwargs)
            finally:
                _progress_sink = None
            try:
                reply = (job_id, True, pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
            except Exception as exc:
                err = JobError(f"the job's result could not be sent back: {error_line(exc)}")
                reply = (job_id, False, pack_exception(err))
        except BaseException as exc:
            reply = (job_id, False, pack_exception(exc))
        try:
            with send_lock:
                conn.send_bytes(pickle.dumps(("done", reply)))
        except OSError:  # parent gone
            return


# ------------------------------------------------------------------- parent side: replies


class _RemoteTraceback(Exception):
    """Carries the worker's traceback as the ``__cause__`` of a re-raised job exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f"\n--- traceback in the worker process ---\n{self.tb}"


def unpack_exception(packed: tuple[bytes | None, str, str], wrap: str | None = None) -> Exception:
    """Rebuild a worker exception: the same type when possible, else a ``JobError``."""
    blob, summary, tb = packed
    exc: Exception | None = None
    if blob is not None and wrap is None:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    if exc is None:
        exc = JobError(f"{wrap or 'the analysis job failed'}: {summary}")
    exc.__cause__ = _RemoteTraceback(tb)
    return exc


def decode_reply(job_id: int, ok: bool, body: Any) -> tuple[int, bool, Any]:
    """(job id, ok, result or exception to raise) from a worker's reply; runs off the loop."""
    try:
        return job_id, ok, pickle.loads(body) if ok else unpack_exception(body)
    except Exception as exc:
        return job_id, False, JobError(f"the job's result could not be read: {error_line(exc)}")


def error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
