"""The threads around a tracking run, so that the model never waits on input or output: frames
decoded ahead (:class:`Prefetch`) and outputs written behind (:class:`Writer`), each with the time it
spent, so that a run can say where its wall-clock went (decode, model, write)."""

from __future__ import annotations

import queue
import threading
import time

_END = object()


class Prefetch:
    """Iterate ``items`` in a reader thread, up to ``depth`` items ahead. An exception raised by
    ``items`` is raised again, in order, by the consumer. ``seconds``: the reader's time spent in
    ``next(items)`` (decoding)."""

    def __init__(self, items, depth: int = 8):
        self._items, self._q, self._stop = iter(items), queue.Queue(maxsize=depth), threading.Event()
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="pixtrack-reader", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        try:
            while not self._stop.is_set():
                t = time.perf_counter()
                try:
                    item = next(self._items)
                except StopIteration:
                    break
                finally:
                    self.seconds += time.perf_counter() - t
                if not self._put(("item", item)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(("error", e))
            return
        self._put(("end", _END))

    def __iter__(self):
        while True:
            kind, value = self._q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)


class Writer:
    """Run ``write(*job)`` for each :meth:`put` job in a writer thread, in order, at most ``depth``
    jobs behind. An error in ``write`` stops the writing and is raised by the next :meth:`put` or by
    :meth:`close`; :meth:`close` writes every job already put before it returns (Ctrl-C included:
    the jobs of frames already tracked are not lost). ``seconds``: time spent writing."""

    def __init__(self, write, depth: int = 16):
        self._write, self._q, self.error, self.seconds = write, queue.Queue(maxsize=depth), None, 0.0
        self._thread = threading.Thread(target=self._run, name="pixtrack-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            job = self._q.get()
            if job is _END:
                return
            if self.error is not None:
                continue  # drain: nothing more is written after a failure
            t = time.perf_counter()
            try:
                self._write(*job)
            except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
                self.error = e
            self.seconds += time.perf_counter() - t

    def put(self, *job):
        if self.error is not None:
            raise self.error
        self._q.put(job)

    def close(self):
        """Wait for every job put so far; raise the writing's error, if any."""
        if self._thread.is_alive():
            self._q.put(_END)
            self._thread.join()
        if self.error is not None:
            raise self.error
