"""WorkerPool with real worker processes: results, failures, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from inference.errors import (
    CorruptAudio,
    EarwormError,
    JobError,
    JobTimeout,
    PoolBusy,
    PoolClosed,
    WorkerCrashed,
)
from inference.pool import WorkerPool

try:
    from tests.inference import pool_jobs
except ImportError:  # collected without the repository root on sys.path
    import pool_jobs  # type: ignore[no-redef]

pytestmark = pytest.mark.timeout(30)


def _children() -> set[int]:
    """Our child processes, less multiprocessing's own per-interpreter helpers (the resource
    tracker and the forkserver live as long as this process, by design)."""
    helpers = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if not any(h in " ".join(child.cmdline()) for h in helpers):
                pids.add(child.pid)
        except psutil.ZombieProcess:
            pids.add(child.pid)  # a zombie is a leak too
        except psutil.NoSuchProcess:
            pass
    return pids


async def _gone(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` no longer exists (reaped, not a zombie)."""
    for _ in range(int(within_s / 0.02)):
        if not psutil.pid_exists(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def _until(predicate, within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
async def make_pool():
    """Start pools with test-friendly defaults; whatever a test leaves open is closed after it."""
    pools: list[WorkerPool] = []

    async def make(**kwargs) -> WorkerPool:
        kwargs = {
            "workers": 2,
            "job_timeout_s": 20.0,
            "max_queue": 8,
            "threads_per_worker": 1,
        } | kwargs
        pool = WorkerPool(**kwargs)
        pools.append(pool)
        await pool.start()
        return pool

    yield make
    for pool in pools:
        await pool.close(cancel_pending=True)


async def test_results_come_back_and_jobs_run_in_parallel(make_pool):
    pool = await make_pool(workers=2)
    assert await pool.submit(pool_jobs.add, 2, 3, scale=10) == 50
    (pid_a, start_a, end_a), (pid_b, start_b, end_b) = await asyncio.gather(
        pool.submit(pool_jobs.timed_sleep, 0.5), pool.submit(pool_jobs.timed_sleep, 0.5)
    )
    assert pid_a != pid_b
    assert max(start_a, start_b) < min(end_a, end_b)  # the two jobs overlapped in time
    stats = pool.stats()
    assert (stats.alive, stats.busy, stats.queued, stats.completed) == (2, 0, 0, 3)


async def test_initializer_runs_once_per_worker_and_threads_are_exported(make_pool):
    pool = await make_pool(
        workers=2, initializer=pool_jobs.init_state, initargs=("tok",), threads_per_worker=3
    )
    states = await asyncio.gather(*(pool.submit(pool_jobs.get_state) for _ in range(8)))
    assert len({s["pid"] for s in states}) == 2
    for s in states:
        assert (s["init_calls"], s["token"], s["threads"], s["omp"]) == (1, "tok", 3, "3")


async def test_warmup_reaches_every_worker(make_pool):
    pool = await make_pool(workers=2)
    assert len(set(await pool.warmup())) == 2


async def test_job_exception_comes_back_as_its_own_type(make_pool):
    pool = await make_pool(workers=1)
    with pytest.raises(CorruptAudio) as err:
        await pool.submit(pool_jobs.raise_corrupt, "could not decode that file")
    assert isinstance(err.value, EarwormError)
    assert str(err.value) == "could not decode that file"
    assert "raise_corrupt" in str(err.value.__cause__)  # the worker's traceback rides along

    with pytest.raises(JobError, match=r"NeedsTwoArgs: left and right"):
        await pool.submit(pool_jobs.raise_unrebuildable)
    assert pool.stats().restarts == 0  # a failing job does not cost a worker


async def test_unpicklable_result_and_argument_give_clear_errors(make_pool):
    pool = await make_pool(workers=1)
    pid = await pool.submit(pool_jobs.pid)
    with pytest.raises(JobError, match="result could not be sent back"):
        await pool.submit(pool_jobs.unpicklable_result)
    with pytest.raises(JobError, match="cannot be sent to a worker"):
        await pool.submit(pool_jobs.add, threading.Lock(), 1)
    assert await pool.submit(pool_jobs.pid) == pid


async def test_crashed_worker_is_replaced(make_pool):
    pool = await make_pool(workers=1)
    crashes = [
        (pool_jobs.crash_exit, "exit code 1"),
        (pool_jobs.crash_segfault, "signal SIGSEGV"),
        (pool_jobs.crash_sigkill, "signal SIGKILL"),  # what an OOM kill looks like
    ]
    for n, (job, why) in enumerate(crashes, start=1):
        old_pid = await pool.submit(pool_jobs.pid)
        with pytest.raises(WorkerCrashed, match=why):
            await pool.submit(job)
        new_pid = await pool.submit(pool_jobs.pid)  # waits in the queue for the replacement
        assert new_pid != old_pid
        assert await _gone(old_pid)
        stats = pool.stats()
        assert (stats.crashes, stats.restarts, stats.failed, stats.alive) == (n, n, n, 1)


async def test_crash_on_one_worker_spares_the_other(make_pool):
    pool = await make_pool(workers=2)
    long_job = asyncio.create_task(pool.submit(pool_jobs.timed_sleep, 0.6))
    await _until(lambda: pool.stats().busy == 1)
    with pytest.raises(WorkerCrashed):
        await pool.submit(pool_jobs.crash_exit)
    pid, _, _ = await long_job
    assert isinstance(pid, int)
    assert await pool.submit(pool_jobs.add, 1, 1) == 2


async def test_hung_job_times_out_and_worker_is_replaced(make_pool):
    pool = await make_pool(workers=1, job_timeout_s=0.5)
    old_pid = await pool.submit(pool_jobs.pid)
    with pytest.raises(JobTimeout, match="0.5 s"):
        await pool.submit(pool_jobs.hang)
    assert await _gone(old_pid)
    assert await pool.submit(pool_jobs.pid) != old_pid
    # A per-job limit overrides the pool's.
    with pytest.raises(JobTimeout, match="0.2 s"):
        await pool.submit(pool_jobs.hang, timeout_s=0.2)
    await _until(lambda: pool.stats().restarts == 2)  # the kill is reaped after JobTimeout
    assert pool.stats().timeouts == 2


@pytest.fixture
def system_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp folder the pool and its workers use (TMPDIR), pointed at an empty tmp_path."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile reads TMPDIR again
    return tmp_path


def _uploads(root: Path) -> list[Path]:
    return sorted(root.rglob("earworm-*.audio"))


@pytest.mark.parametrize("ending", ["SIGKILL", "timeout", "shutdown"])
async def test_a_killed_workers_temp_files_are_removed(make_pool, system_temp, ending):
    """A worker that copied an upload to a temp file and was then killed leaves nothing in the
    temp folder: the parent removes it when it reaps the worker, and its own on close."""
    pool = await make_pool(workers=1, job_timeout_s=3.0 if ending == "timeout" else 30.0)
    worker = await pool.submit(pool_jobs.pid)
    job = asyncio.create_task(pool.submit(pool_jobs.copy_upload_then_hang))
    await _until(lambda: _uploads(system_temp), 10)  # the copy exists while the job runs
    if ending == "SIGKILL":
        os.kill(worker, signal.SIGKILL)
        with pytest.raises(WorkerCrashed):
            await job
    elif ending == "timeout":
        with pytest.raises(JobTimeout):
            await job
    else:
        await pool.close(cancel_pending=True)
        with pytest.raises(PoolClosed):
            await job
    await _until(lambda: not _uploads(system_temp), 5)
    assert await _gone(worker)
    await pool.close()
    assert list(system_temp.iterdir()) == []  # the pool's own folder is gone too


async def test_temp_folders_of_a_killed_parent_are_swept_at_start(make_pool, system_temp):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    orphan = system_temp / f"earworm-pool-{int(dead.stdout)}-abc" / "worker-x"
    orphan.mkdir(parents=True)
    (orphan / "earworm-1.audio").write_bytes(b"\0" * 100)
    other = system_temp / "someone-elses"
    other.mkdir()
    pool = await make_pool(workers=1)
    assert not orphan.parent.exists() and other.exists()
    await pool.close()
    assert list(system_temp.iterdir()) == [other]


async def test_cancelling_a_running_job_kills_its_worker(make_pool):
    pool = await make_pool(workers=1)
    old_pid = await pool.submit(pool_jobs.pid)
    task = asyncio.create_task(pool.submit(pool_jobs.hang))
    await _until(lambda: pool.stats().busy == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _gone(old_pid)  # not left burning a core
    assert await pool.submit(pool_jobs.pid) != old_pid
    assert pool.stats().cancelled == 1


async def test_cancelling_a_queued_job_removes_it(make_pool, tmp_path: Path):
    pool = await make_pool(workers=1)
    first = asyncio.create_task(pool.submit(pool_jobs.sleep_then_marker, 0.3, str(tmp_path / "a")))
    second = asyncio.create_task(pool.submit(pool_jobs.write_marker, str(tmp_path / "b")))
    await _until(lambda: pool.stats().queued == 1)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert pool.stats().queued == 0
    await first
    assert await pool.submit(pool_jobs.add, 1, 2) == 3  # runs next: the cancelled job is gone
    assert (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert pool.stats().restarts == 0


async def test_full_queue_says_busy_and_close_can_cancel(make_pool):
    before = _children()
    pool = await make_pool(workers=1, max_queue=1)
    running = asyncio.create_task(pool.submit(pool_jobs.hang))
    waiting = asyncio.create_task(pool.submit(pool_jobs.hang))
    await _until(lambda: pool.stats().queued == 1)
    with pytest.raises(PoolBusy, match=r"busy: 1 jobs waiting, try again in ~\d+ s") as err:
        await pool.submit(pool_jobs.pid)
    assert err.value.retry_after_s > 0

    await pool.close(cancel_pending=True)
    for task in (running, waiting):
        with pytest.raises(PoolClosed):
            await task
    assert _children() <= before
    with pytest.raises(PoolClosed):
        await pool.submit(pool_jobs.pid)


async def test_graceful_close_finishes_jobs_and_leaves_no_children():
    before = _children()
    async with WorkerPool(workers=2, job_timeout_s=10, max_queue=8, threads_per_worker=1) as pool:
        pids = set(await pool.warmup())
        jobs = [asyncio.create_task(pool.submit(pool_jobs.timed_sleep, 0.2)) for _ in range(3)]
        await _until(lambda: pool.stats().busy == 2)
        await pool.close()
        assert all(job.done() and not job.exception() for job in jobs)
    assert _children() <= before
    assert not any(psutil.pid_exists(pid) for pid in pids)


async def test_initializer_failure_makes_start_fail_clearly():
    before = _children()
    pool = WorkerPool(workers=2, initializer=pool_jobs.failing_init, job_timeout_s=5, max_queue=1)
    with pytest.raises(JobError, match=r"initializer failed: RuntimeError: models missing"):
        await pool.start()
    assert _children() <= before
    with pytest.raises(PoolClosed):
        await pool.submit(pool_jobs.pid)


async def test_hung_initializer_times_out_at_start():
    before = _children()
    pool = WorkerPool(workers=1, initializer=time.sleep, initargs=(30,), start_timeout_s=0.5)
    with pytest.raises(JobError, match=r"did not finish starting within 0.5 s"):
        await pool.start()
    assert _children() <= before


async def test_close_while_a_replacement_is_starting():
    before = _children()
    pool = WorkerPool(workers=1, job_timeout_s=5, max_queue=1, threads_per_worker=1)
    await pool.start()
    with pytest.raises(WorkerCrashed):
        await pool.submit(pool_jobs.crash_exit)
    await pool.close()  # the replacement is still starting: it must not be left behind
    assert _children() <= before
    assert pool.stats().alive == 0


async def test_workers_ignore_sigint(make_pool):
    pool = await make_pool(workers=1)
    pid = await pool.submit(pool_jobs.pid)
    os.kill(pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    await asyncio.sleep(0.1)
    assert await pool.submit(pool_jobs.pid) == pid


_DYING_PARENT = """
import asyncio, os, signal, time
from inference.pool import WorkerPool

async def main():
    pool = WorkerPool(workers=2, job_timeout_s=60, max_queue=1, threads_per_worker=1)
    await pool.start()
    print(*await pool.warmup(), flush=True)
    asyncio.create_task(pool.submit(time.sleep, 60))  # one worker busy, one idle
    await asyncio.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)  # no chance to clean up

asyncio.run(main())
"""


async def test_workers_exit_when_the_parent_dies():
    root = Path(__file__).resolve().parents[2]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DYING_PARENT, cwd=root, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    pids = [int(p) for p in out.split()]
    assert len(pids) == 2 and proc.returncode == -signal.SIGKILL

    def orphans_gone() -> bool:
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    return False
            except psutil.NoSuchProcess:
                pass
        return True

    await _until(orphans_gone, within_s=5.0)


async def test_forkserver_context_works(make_pool):
    pool = await make_pool(
        workers=1, mp_context="forkserver", initializer=pool_jobs.init_state, initargs=("fs",)
    )
    state = await pool.submit(pool_jobs.get_state)
    assert (state["init_calls"], state["token"]) == (1, "fs")
    with pytest.raises(WorkerCrashed):
        await pool.submit(pool_jobs.crash_exit)
    assert await pool.submit(pool_jobs.add, 2, 2) == 4
