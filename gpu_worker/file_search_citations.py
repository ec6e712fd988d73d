"""Citations of a reply after file_search calls (FILE_SEARCH_CONTRACT item 4).

The model was shown each result behind a marker ``【turn:index†file】`` and asked to cite with it. Every
marker in the reply that names a result of this run becomes a ``file_citation`` annotation of the message's
text part (``text == value[start_index:end_index]``, ``file_citation.file_id``); a marker that names no
result stays plain text.

A weak model (the local 135M) often cites nothing. Then, with ``file_search_fallback_citations`` on (the
default), the reply gets the markers of the results it was shown appended after a blank line (one per file
with a score above 0, best-ranked first), each annotated the same way, so the user still sees which files
the answer came from.
A reply cut short (``incomplete``) gets none appended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from assistants_core.domain.models import JSONDict
from gpu_worker.file_search import Source
from gpu_worker.outcomes import RunOutcome

MARKER = re.compile(r"【(\d+):(\d+)†[^】\n]*】")


def annotations_of(text: str, sources: Mapping[tuple[int, int], Source]) -> list[JSONDict]:
    annotations = []
    for match in MARKER.finditer(text):
        source = sources.get((int(match.group(1)), int(match.group(2))))
        if source is None:
            continue
        annotations.append(
            {
                "type": "file_citation",
                "text": match.group(0),
                "start_index": match.start(),
                "end_index": match.end(),
                "file_citation": {"file_id": source.file_id},
            }
        )
    return annotations


def fallback_markers(shown: Sequence[Source]) -> str:
    """One marker per file the model was shown that matched at all (score above 0), in the order first shown
    (results come best first)."""
    files: dict[str, Source] = {}
    for source in shown:
        if source.score > 0:
            files.setdefault(source.file_id, source)
    return " ".join(source.marker for source in files.values())


@dataclass(frozen=True, slots=True)
class CitedReply:
    outcome: RunOutcome
    appended: str  # text added to the reply (to stream as its last delta), "" when none


def cite_reply(
    outcome: RunOutcome,
    sources: Mapping[tuple[int, int], Source],
    shown: Sequence[Source],
    *,
    fallback: bool,
) -> CitedReply:
    """``outcome`` with its message's text annotated (and, when it cites nothing, the fallback appended)."""
    message = outcome.message
    if message is None or not sources or not message.content:
        return CitedReply(outcome, "")
    part: dict[str, Any] = message.content[0]
    text = str(part.get("text", {}).get("value", ""))
    annotations = annotations_of(text, sources)
    appended = ""
    markers = fallback_markers(shown) if fallback and not annotations else ""
    if markers and message.status == "completed":
        appended = ("\n\n" if text else "") + markers
        text += appended
        annotations = annotations_of(text, sources)
    content = [{"type": "text", "text": {"value": text, "annotations": annotations}}, *message.content[1:]]
    return CitedReply(replace(outcome, message=replace(message, content=content)), appended)
