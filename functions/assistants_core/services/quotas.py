"""Per-tenant quotas, counted in the table so that they hold across every API instance (Lambda scales out):

- requests per minute (a fixed window). An instance takes a block of the window's requests in one
  conditional write and admits that many without writing again (``request_block``, at most a twentieth of
  the limit); near the limit it takes single requests. The table's counter never passes the limit; requests
  an instance took but did not use by the window's end are lost to the tenant (at most ``block - 1`` per
  instance and window);
- active runs (a leased slot per run, taken before the run is written: one conditional write per create);
- open event streams (a leased slot per stream, taken before the stream starts and given back when it ends:
  two writes per stream).

Over a limit the request is refused with OpenAI's 429 (``type: requests``, ``code: rate_limit_exceeded``) and
a ``Retry-After``, and nothing is written. A slot whose holder died (a Lambda killed mid-stream) is freed
when its lease expires; a run's slot is freed once the run ended: when a create finds the tenant at its
limit, the slots of runs that ended (or expired) are removed and the create tries once more. A limit of 0
turns that quota off.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable

from assistants_core.domain.errors import QuotaExceededError
from assistants_core.domain.models import Run
from assistants_core.ports import Clock, QuotaSlot, RunRepository, TenantQuotaStore

REQUEST_WINDOW_SECONDS = 60
# The window's counter outlives the window by this much before DynamoDB's TTL deletes it.
REQUEST_COUNTER_TTL_SECONDS = 3600
STREAMS = "STREAMS"
RUNS = "RUNS"
# A run's slot is leased until its expires_at plus this (the sweeper expires it within about a minute).
RUN_LEASE_SLACK_SECONDS = 120
# A stream's slot is leased for the stream's longest life plus this.
STREAM_LEASE_SLACK_SECONDS = 60
# A slot whose run is not stored yet may belong to a create still in flight: left alone this long.
RUN_CREATE_GRACE_SECONDS = 30
# Retry-After when no slot frees at a known time (a stream or a run of the tenant has to end first).
SLOT_RETRY_AFTER_SECONDS = 5
# An instance looks for ended runs of one tenant at most this often (each look reads every slot's run).
RECONCILE_INTERVAL_SECONDS = 2.0


class TenantQuotas:
    def __init__(
        self,
        store: TenantQuotaStore,
        runs: RunRepository,
        clock: Clock,
        *,
        requests_per_minute: int,
        max_active_runs: int,
        max_open_streams: int,
        stream_lease_seconds: float,
        request_block: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._runs = runs
        self._clock = clock
        self._requests_per_minute = requests_per_minute
        self._max_active_runs = max_active_runs
        self._max_open_streams = max_open_streams
        self._stream_lease_seconds = stream_lease_seconds + STREAM_LEASE_SLACK_SECONDS
        self._monotonic = monotonic
        self._reconciled_at: dict[str, float] = {}
        # Per tenant, the window this instance saw used up: the rest of it is refused without a write (a
        # flood over the quota costs the table nothing more).
        self._exhausted_window: dict[str, int] = {}
        # Per tenant, the window and how many requests of the block this instance took are still unused.
        self._request_block = max(1, min(request_block, requests_per_minute // 20))
        self._unused_requests: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    # -- request rate ---------------------------------------------------------------------------------------
    def admit_request(self, tenant: str) -> None:
        """Count one request of ``tenant`` in the current minute, or raise ``QuotaExceededError``."""
        if self._requests_per_minute <= 0:
            return
        now = self._clock.now()
        window = int(now // REQUEST_WINDOW_SECONDS) * REQUEST_WINDOW_SECONDS
        if self._take_unused_request(tenant, window):
            return
        expires_at = window + REQUEST_WINDOW_SECONDS + REQUEST_COUNTER_TTL_SECONDS
        if self._exhausted_window.get(tenant) != window:
            for amount in dict.fromkeys((self._request_block, 1)):  # a block; near the limit, one
                if self._store.count_request(
                    tenant, window, limit=self._requests_per_minute, expires_at=expires_at, amount=amount
                ):
                    with self._lock:  # another thread's block of this window stays usable too
                        kept = self._unused_in(tenant, window)
                        self._unused_requests[tenant] = (window, kept + amount - 1)
                    return
        self._exhausted_window[tenant] = window
        retry_after = max(1, math.ceil(window + REQUEST_WINDOW_SECONDS - now))
        raise QuotaExceededError(
            f"Rate limit reached for requests per min (RPM): Limit {self._requests_per_minute}, Used "
            f"{self._requests_per_minute}, Requested 1. Please try again in {retry_after}s.",
            retry_after_seconds=retry_after,
        )

    def _take_unused_request(self, tenant: str, window: int) -> bool:
        with self._lock:
            unused = self._unused_in(tenant, window)
            if unused <= 0:
                return False
            self._unused_requests[tenant] = (window, unused - 1)
            return True

    def _unused_in(self, tenant: str, window: int) -> int:
        """Requests of ``window`` this instance took and has not used (an older window's are gone)."""
        held_window, unused = self._unused_requests.get(tenant, (window, 0))
        return unused if held_window == window else 0

    # -- active runs (services/runs.py calls these around the run's write) ----------------------------------
    def admit_run(self, run: Run) -> None:
        """Take an active-run slot of ``run.owner`` for ``run`` (not written yet), or raise."""
        if self._max_active_runs <= 0:
            return
        now = self._clock.now()
        expires_at = (run.expires_at or int(now)) + RUN_LEASE_SLACK_SECONDS
        slot = QuotaSlot(run.id, expires_at, f"{run.thread_id} {int(now)}")
        if self._store.acquire_slot(run.owner, RUNS, slot, limit=self._max_active_runs):
            return
        if self._release_ended_runs(run.owner, now) and self._store.acquire_slot(
            run.owner, RUNS, slot, limit=self._max_active_runs
        ):
            return
        raise QuotaExceededError(
            f"Too many active runs: Limit {self._max_active_runs} per organization. Wait for a run to "
            f"finish (or cancel one) and try again in {SLOT_RETRY_AFTER_SECONDS}s.",
            retry_after_seconds=SLOT_RETRY_AFTER_SECONDS,
        )

    def release_run(self, run: Run) -> None:
        """Give back the slot of a run whose write failed (nothing was created)."""
        if self._max_active_runs > 0:
            self._store.release_slot(run.owner, RUNS, run.id)

    def _release_ended_runs(self, tenant: str, now: float) -> bool:
        """Remove the slots of the tenant's runs that ended, were deleted or outlived their lease; whether
        any was removed. At most once per ``RECONCILE_INTERVAL_SECONDS`` per tenant and instance."""
        tick = self._monotonic()
        last = self._reconciled_at.get(tenant)
        if last is not None and tick - last < RECONCILE_INTERVAL_SECONDS:
            return False
        self._reconciled_at[tenant] = tick
        ended: list[str] = []
        for slot in self._store.slots(tenant, RUNS):
            thread_id, _, taken_at = slot.note.partition(" ")
            if slot.expires_at <= now:
                ended.append(slot.slot_id)
                continue
            run = self._runs.find_run(thread_id, slot.slot_id)
            in_flight = taken_at.isdigit() and now - int(taken_at) < RUN_CREATE_GRACE_SECONDS
            if (run is None and not in_flight) or (run is not None and run.status.is_terminal):
                ended.append(slot.slot_id)
        self._store.remove_slots(tenant, RUNS, ended)
        return bool(ended)

    # -- open streams (services/run_stream.py) --------------------------------------------------------------
    def open_stream(self, tenant: str) -> str | None:
        """Take an open-stream slot of ``tenant``: its id (give it back with ``close_stream``), None when
        streams are not capped; raises over the cap."""
        if self._max_open_streams <= 0:
            return None
        now = self._clock.now()
        slot = QuotaSlot(f"stream_{secrets.token_hex(8)}", math.ceil(now + self._stream_lease_seconds))
        if self._store.acquire_slot(tenant, STREAMS, slot, limit=self._max_open_streams):
            return slot.slot_id
        expired = [held.slot_id for held in self._store.slots(tenant, STREAMS) if held.expires_at <= now]
        self._store.remove_slots(tenant, STREAMS, expired)
        if expired and self._store.acquire_slot(tenant, STREAMS, slot, limit=self._max_open_streams):
            return slot.slot_id
        raise QuotaExceededError(
            f"Too many open streams: Limit {self._max_open_streams} per organization. Close a stream and "
            f"try again in {SLOT_RETRY_AFTER_SECONDS}s.",
            retry_after_seconds=SLOT_RETRY_AFTER_SECONDS,
        )

    def close_stream(self, tenant: str, slot_id: str | None) -> None:
        if slot_id is not None:
            self._store.release_slot(tenant, STREAMS, slot_id)
