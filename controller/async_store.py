"""The store seen from the event loop: one writer thread, batched high-volume inserts.

Rows that stand for a state (what each charger holds) are replaced, not appended: the newest
per key wins, and one flush, as soon as the acknowledgements of the same instant are in, writes
all of them with the inserts, so the control cycle never waits for the disk and a controller
killed a moment later has them.

What the controller confirms to a charger is written before the answer goes out (callers
await :meth:`AsyncStore.write`); a row that fails is retried alone, so one charger's bad
row never costs another's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Table

from controller.store import Replacement, Store, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncStore:
    """The store seen from the event loop: one writer thread, batched high-volume inserts."""

    def __init__(self, store: Store, *, flush_interval_s: float = 0.25) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._pending: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        self._replacements: dict[tuple[str, tuple[Any, ...]], Replacement] = {}
        self.flush_interval_s = flush_interval_s
        self._waiters: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._soon: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.dropped_rows = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def enqueue(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Queue rows for the next batched insert (audit frames, meter values)."""
        bucket = self._pending.setdefault(table.name, (table, []))
        bucket[1].extend(rows)

    def replace(self, table: Table, key: tuple[Any, ...], row: dict[str, Any] | None) -> None:
        """Queue the row of ``table`` with primary key ``key`` to become ``row`` (None: to be
        deleted) at the next flush; a newer call for the same key supersedes an older one."""
        self._replacements[(table.name, key)] = Replacement(table, key, row)
        self.flush_soon()

    async def write(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Queue rows and return once they are committed (raise StoreError if they are not).

        For what the controller confirms to a charger: the answer follows the commit. Rows
        queued in the same instant, by any charger, share one commit.
        """
        batch = list(rows)
        self.enqueue(table, batch)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((batch, done))
        self.flush_soon()
        await done

    def flush_soon(self) -> None:
        """Flush once the handlers of this instant have queued their rows (one commit for
        all of them), without waiting for the periodic flush."""
        if self._soon is not None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop: the periodic flush or close() writes it
            return
        self._soon = asyncio.create_task(self._flush_soon(), name="store-flush-soon")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)  # let the other handlers of this instant queue their rows
        self._soon = None
        await self.flush()

    def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="store-flush")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        replacements, self._replacements = self._replacements, {}
        waiters, self._waiters = self._waiters, []
        if not pending and not replacements:
            for _rows, done in waiters:
                if not done.done():
                    done.set_result(None)
            return
        try:
            failed = await self.run(
                self.store.insert_batches, list(pending.values()), list(replacements.values())
            )
        except Exception as exc:  # e.g. the executor is gone
            log.exception("store: could not write a batch")
            failed = {id(row) for _table, rows in pending.values() for row in rows}
            cause: BaseException = exc
        else:
            cause = StoreError("rows could not be written")
        self.dropped_rows += len(failed)
        for rows, done in waiters:
            if done.done():
                continue
            if any(id(row) in failed for row in rows):
                done.set_exception(StoreError(f"{len(rows)} rows not written: {cause}"))
            else:
                done.set_result(None)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
            self._flusher = None
        await self.flush()
        await self.run(self.store.close)
        self._executor.shutdown(wait=True)
