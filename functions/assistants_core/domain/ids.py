"""Time-sortable, OpenAI-prefixed object ids.

An id is ``<prefix>_<10 chars of milliseconds><14 random chars>`` in lowercase Crockford base32, whose
alphabet is in ASCII order, so string order == creation order (DynamoDB sort keys rely on it). Ids made in
one process within the same millisecond stay strictly increasing (the random part is incremented).
"""

from __future__ import annotations

import secrets
import threading
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 10
_RANDOM_CHARS = 14
_RANDOM_BITS = _RANDOM_CHARS * 5

ASSISTANT = "asst"
THREAD = "thread"
MESSAGE = "msg"
RUN = "run"
STEP = "step"

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return a new id such as ``msg_01jd4...``; later calls in this process sort after earlier ones."""
    global _last_ms, _last_random
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            random_part = _last_random + 1
        else:
            random_part = secrets.randbits(_RANDOM_BITS - 1)  # headroom so increments never overflow
        _last_ms, _last_random = ms, random_part
    return f"{prefix}_{_encode(ms, _TIME_CHARS)}{_encode(random_part, _RANDOM_CHARS)}"


def derived_id(prefix: str, source_id: str, purpose: str = "") -> str:
    """A deterministic id of another kind derived from ``source_id`` (e.g. a run's reply message).

    Keeps the source's time part, so the derived object sorts where its source does; the same source and
    purpose always give the same id, which is what makes duplicate writes detectable.
    """
    body = source_id.split("_", 1)[1]
    suffix = f"{purpose}" if purpose else ""
    return f"{prefix}_{body}{suffix}"


def has_prefix(object_id: str, prefix: str) -> bool:
    return object_id.startswith(prefix + "_") and len(object_id) > len(prefix) + 1
