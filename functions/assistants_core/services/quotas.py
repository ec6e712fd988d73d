"""Per-tenant quotas, counted in the table so that they hold across every API instance (Lambda scales out):

- requests per minute (a fixed window). An instance takes a block of the window's requests in one
  conditional write and admits that many without writing again (``request_block``, at most a twentieth of
  the limit); near the limit it takes single requests. The table's counter never passes the limit; requests
  an instance took but did not use by the window's end are lost to the tenant (at most ``block - 1`` per
  instance and window);
- active runs: a slot per run, an index below the limit, taken in the run's create transaction and given back
  in its terminal one (``adapters/dynamodb/run_slots.py``): no request of its own. An instance draws a slot
  it does not believe held (the ones it took lately, the ones it last read); one another instance holds
  costs a refused transaction and a second draw; only after a second refusal, or when the instance believes
  every slot held, does it read the held slots (one Query) and draw a free one;
- open event streams (a leased slot per stream, taken before the stream starts and given back when it ends:
  two writes per stream).

Over a limit the request is refused with OpenAI's 429 (``type: requests``, ``code: rate_limit_exceeded``) and
a ``Retry-After``, and nothing is written. A stream slot whose holder died (a Lambda killed mid-stream) is
freed when its lease expires; a run's slot is freed by the write that ends the run, and one whose run
outlived its expiry without ending (deleted with its thread by a delete that crashed half-way) is removed
when a create reads the held slots. A limit of 0 turns that quota off.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable

from assistants_core.domain.errors import QuotaExceededError, RunSlotTakenError
from assistants_core.domain.models import Run
from assistants_core.ports import Clock, HeldRunSlot, QuotaSlot, RunSlotStore, TenantQuotaStore

REQUEST_WINDOW_SECONDS = 60
# The window's counter outlives the window by this much before DynamoDB's TTL deletes it.
REQUEST_COUNTER_TTL_SECONDS = 3600
STREAMS = "STREAMS"
# A run's slot whose run is this long past its expires_at is stale (the sweeper expires a run, and so gives
# its slot back, within about a minute).
RUN_LEASE_SLACK_SECONDS = 120
# A stream's slot is leased for the stream's longest life plus this.
STREAM_LEASE_SLACK_SECONDS = 60
# A create tries this many slots (each found taken by a concurrent create) before it answers 429.
RUN_SLOT_TRIES = 4
# An instance forgets which run slots it believes held after this long (they are freed as runs end).
RUN_SLOT_BELIEF_SECONDS = 60.0
# Retry-After when no slot frees at a known time (a stream or a run of the tenant has to end first).
SLOT_RETRY_AFTER_SECONDS = 5


class TenantQuotas:
    def __init__(
        self,
        store: TenantQuotaStore,
        run_slots: RunSlotStore,
        clock: Clock,
        *,
        requests_per_minute: int,
        max_active_runs: int,
        max_open_streams: int,
        stream_lease_seconds: float,
        request_block: int = 1,
    ) -> None:
        self._store = store
        self._run_slots = run_slots
        self._clock = clock
        self._requests_per_minute = requests_per_minute
        self._max_active_runs = max_active_runs
        self._max_open_streams = max_open_streams
        self._stream_lease_seconds = stream_lease_seconds + STREAM_LEASE_SLACK_SECONDS
        # Per tenant, when this instance formed its belief and the run slots it believes held.
        self._believed_held: dict[str, tuple[float, set[int]]] = {}
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

    # -- active runs (services/runs.py writes a new run through this) ---------------------------------------
    def create_admitted(
        self,
        run: Run,
        write: Callable[[], None],
        *,
        before_write: Callable[[], None] | None = None,
        read_first: bool = False,
    ) -> None:
        """``write`` the run holding a free active-run slot of its tenant (ports.RunAdmission)."""
        run.quota_slot = None
        if self._max_active_runs > 0:
            run.quota_slot = self._pick_run_slot(run.owner, read=read_first)
        if before_write is not None:
            try:
                before_write()
            except Exception:
                self._forget_held(run.owner, run.quota_slot)  # not taken after all
                raise
        for attempt in range(1, RUN_SLOT_TRIES + 1):
            try:
                write()
                return
            except RunSlotTakenError:  # held by a run of another instance (now believed held here too)
                if attempt == RUN_SLOT_TRIES:
                    raise self._too_many_runs() from None
                # Another draw first (most slots are free while few runs are active); then read them.
                run.quota_slot = self._pick_run_slot(run.owner, read=attempt > 1)
            except Exception:
                self._forget_held(run.owner, run.quota_slot)  # not taken after all
                raise

    def _pick_run_slot(self, tenant: str, *, read: bool) -> int:
        """A slot index this instance does not believe held (after reading the held slots when ``read`` or
        when it believes them all held); raises ``QuotaExceededError`` when none is free."""
        if not read:
            index = self._unbelieved_slot(tenant)
            if index is not None:
                return index
        now = self._clock.now()
        held: set[int] = set()
        for slot in self._run_slots.held_run_slots(tenant):
            if self._stale(slot, now):
                self._run_slots.remove_run_slot(tenant, slot)
            else:
                held.add(slot.index)
        with self._lock:
            self._believed_held[tenant] = (now, held)
        index = self._unbelieved_slot(tenant)
        if index is None:
            raise self._too_many_runs()
        return index

    def _unbelieved_slot(self, tenant: str) -> int | None:
        """A random slot index outside this instance's current belief of the held ones, believed held from
        now on (a concurrent create of this instance draws another); None when it believes every slot
        held."""
        with self._lock:
            formed_at, held = self._believed_held.get(tenant, (0.0, set()))
            if self._clock.now() - formed_at > RUN_SLOT_BELIEF_SECONDS:
                held = set()
                self._believed_held[tenant] = (self._clock.now(), held)
            free = self._max_active_runs - sum(1 for index in held if index < self._max_active_runs)
            if free <= 0:
                return None
            while True:  # at least one in ``free``/``limit`` of the draws is a free index
                index = secrets.randbelow(self._max_active_runs)
                if index not in held:
                    held.add(index)
                    return index

    def _forget_held(self, tenant: str, index: int | None) -> None:
        if index is not None:
            with self._lock:
                self._believed_held.get(tenant, (0.0, set()))[1].discard(index)

    @staticmethod
    def _stale(slot: HeldRunSlot, now: float) -> bool:
        """A slot whose run is long past its expiry: the write that ended the run would have freed it."""
        return slot.expires_at + RUN_LEASE_SLACK_SECONDS <= now

    def _too_many_runs(self) -> QuotaExceededError:
        return QuotaExceededError(
            f"Too many active runs: Limit {self._max_active_runs} per organization. Wait for a run to "
            f"finish (or cancel one) and try again in {SLOT_RETRY_AFTER_SECONDS}s.",
            retry_after_seconds=SLOT_RETRY_AFTER_SECONDS,
        )

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
