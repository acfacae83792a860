"""The worker threads of the server process: each claims the next task from the queue and
runs it; stopping interrupts running tasks at their next checkpoint and requeues them."""

from __future__ import annotations

import logging
import threading
import time

from stores import Registry, errors

from .base import Job, TaskFailed
from .catalog import WorkerCatalog
from .execution import execute, fail_unprepared, prepare_job, release_recovered
from .queue import PROCESSING, NewTask, Task, TaskQueue

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # seconds between looks at the queue when nobody wakes the pool
STOP_WAIT = 10.0  # seconds `stop` waits for running tasks to reach a checkpoint


class WorkerPool:
    """`threads` threads over one queue; 0 threads queue tasks without running them."""

    def __init__(
        self, queue: TaskQueue, registry: Registry, catalog: WorkerCatalog, threads: int
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.catalog = catalog
        self.threads = threads
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._guard = threading.Lock()
        self._running: dict[int, Job] = {}
        self._threads: list[threading.Thread] = []
        self._last_unavailable_report = -60.0
        if hasattr(queue, "on_cancel"):  # a cluster's queue: cancels asked for elsewhere
            queue.on_cancel = self._cancel_running

    def start(self) -> None:
        """Recover what a crash or restart left `processing`, then start the threads."""
        for task in self.queue.recover():
            log.info("task %d was interrupted by a restart; it is %s again", task.id, task.status)
            release_recovered(self.registry, task)
        for number in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def interrupt(self) -> None:
        """Tell running tasks to stop at their next checkpoint (they go back to `new`), at
        once: called as soon as the server is asked to stop, not after its requests drain."""
        self._stopping.set()
        self.wake()

    def stop(self) -> None:
        """Stop promptly: running tasks stop at their next checkpoint and go back to `new`."""
        self.interrupt()
        for thread in self._threads:
            thread.join(STOP_WAIT)
        if any(thread.is_alive() for thread in self._threads):
            log.warning("a worker did not stop in time; its task runs again after the restart")
            return
        self.queue.close()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def add(self, new: NewTask) -> Task:
        task = self.queue.add(new)
        self.wake()
        return task

    def cancel(self, task_id: int) -> str | None:
        """Cancel a task; returns the status it had (None: no such task)."""
        with self._guard:
            before = self.queue.cancel(task_id)
            job = self._running.get(task_id)
            if before == PROCESSING and job is not None:
                job.request_cancel()
        return before

    def _cancel_running(self, task_id: int) -> None:
        with self._guard:
            job = self._running.get(task_id)
        if job is not None:
            job.request_cancel()

    def reset(self, task_id: int) -> str | None:
        """Put a finished or new task back to `new`; returns the status it had."""
        before = self.queue.reset(task_id)
        if before not in (None, PROCESSING):
            self.wake()
        return before

    def _report_claim_failure(self, exc: Exception) -> None:
        """A shared queue that does not answer is said once a minute in one line (the
        connection's own log says when it is back); anything else with its traceback."""
        if errors.unavailable_from(exc) is None:
            log.exception("could not take a task from the queue")
            return
        now = time.monotonic()
        if now - self._last_unavailable_report >= 60:
            self._last_unavailable_report = now
            log.warning("the task queue does not answer (%s): no task is taken until it does",
                        exc)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            names = self.catalog.names_by_type()
            try:
                task = self.queue.claim(names.keys(), names)
            except Exception as exc:  # noqa: BLE001 - a broken database must not end the thread
                self._report_claim_failure(exc)
                task = None
            if task is None:
                with self._wake:
                    if not self._stopping.is_set():
                        self._wake.wait(IDLE_POLL)
                continue
            try:
                self._run(task)
            except Exception:  # noqa: BLE001 - the thread goes on with the next task
                log.exception("task %d could not be run to its end", task.id)
            self.wake()  # another task of the same asset may be next

    def _run(self, task: Task) -> None:
        worker = self.catalog.of_type(task.worker_type)
        if worker is None:  # removed between the claim and now
            self.queue.requeue(task.id)
            return
        try:
            job = prepare_job(task, self.registry, worker, self._stopping)
        except TaskFailed as exc:
            fail_unprepared(self.queue, task, str(exc))
            return
        with self._guard:
            self._running[task.id] = job
            if self.queue.is_cancel_requested(task.id):
                job.request_cancel()
        self.catalog.started(worker.name)
        crashed = True
        try:
            log.info("task %d (%s on %s) started", task.id, worker.name, job.source.url_path())
            _status, crashed = execute(self.queue, job, worker)
        finally:
            self.catalog.ended(worker.name, crashed=crashed)
            with self._guard:
                self._running.pop(task.id, None)
