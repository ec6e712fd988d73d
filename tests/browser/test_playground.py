"""The playground page (``/playground``) in headless Chromium against the local stack with a scripted worker:
the page loads without a key, shows the API's 401 envelope for a wrong key, creates an assistant, sends a
message with the keyboard and renders the deterministic reply streamed token by token, same-origin and
cross-origin (a ``?base_url=`` of another origin is used only once the user confirms it). With the stream
POST rewritten in the browser: a server refusing ``stream`` gets create-run + polling, and a stream cut
before the run's end is followed by polling the run. A screenshot is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.browser.conftest import BrowserRuntime, run_driver
from tests.browser.png_image import decode_png
from tests.e2e.conftest import LocalStackHandle

pytestmark = pytest.mark.e2e

MESSAGE = "Name three primary colors please"
EXPECTED_REPLY = f"You said: {MESSAGE}"  # the scripted engine echoes the last user message
VIEWPORT = {"width": 1100, "height": 720}
DRIVER_TIMEOUT_SECONDS = 120
# Far above a blank page (0) or one of nothing but its panels; the chat page measures ~700.
MIN_LUMINANCE_VARIANCE = 100.0


def _drive(runtime: BrowserRuntime, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = run_driver(runtime, runtime.driver.name, options, timeout=DRIVER_TIMEOUT_SECONDS)
    return result


def _assert_chatted(result: dict[str, Any], *, expected_base_url: str) -> None:
    assert result["defaultApiKey"] == "sk-local-dev"
    assert result["defaultBaseUrl"] == expected_base_url
    assert result["unauthorizedError"] == (
        "401 invalid_request_error (invalid_api_key): Incorrect API key provided."
    )
    assert not result["errorAfterKey"]
    assert result["assistantId"].startswith("asst_")
    assert result["createdStatus"] == f"Created assistant {result['assistantId']}"
    assert result["userText"] == MESSAGE
    assert result["replyText"] == EXPECTED_REPLY
    assert result["threadId"].startswith("thread_")
    assert not result["errorVisible"]
    assert result["inputFocused"]
    assert result["consoleErrors"] == []


def _assert_streamed(result: dict[str, Any]) -> None:
    assert result["transport"] == "stream"
    assert result["deltaEvents"] > 1
    assert "(streaming)" in result["status"] and "completed" in result["status"]
    # Rendered as it streamed: the bubble showed a strict prefix of the reply before the whole reply, and
    # every text it showed was a prefix (the worker coalesces tokens into ~0.1 s deltas).
    texts = result["replyTexts"]
    assert len(texts) >= 2
    assert len(texts[0]) < len(EXPECTED_REPLY)
    assert texts[-1] == EXPECTED_REPLY
    assert all(EXPECTED_REPLY.startswith(text) for text in texts)


def test_playground_chats_same_origin_and_the_screenshot_shows_it(
    browser_runtime: BrowserRuntime,
    playground_stack: LocalStackHandle,
    scripted_worker: None,
    tmp_path: Path,
) -> None:
    origin = playground_stack.base_url.removesuffix("/v1")
    screenshot = tmp_path / "playground.png"
    result = _drive(
        browser_runtime,
        pageUrl=f"{origin}/playground",
        apiKey=playground_stack.api_key,
        message=MESSAGE,
        screenshotPath=str(screenshot),
        viewport=VIEWPORT,
    )
    _assert_chatted(result, expected_base_url=playground_stack.base_url)
    _assert_streamed(result)

    image = decode_png(screenshot.read_bytes())
    assert (image.width, image.height) == (VIEWPORT["width"], VIEWPORT["height"])
    assert image.luminance_variance() > MIN_LUMINANCE_VARIANCE


def test_playground_opened_from_another_origin_calls_the_api_once_the_user_confirms_it(
    browser_runtime: BrowserRuntime,
    playground_stack: LocalStackHandle,
    scripted_worker: None,
    other_origin: str,
) -> None:
    # README's cross-origin usage: the static folder served elsewhere, the API linked with ?base_url=.
    base_url_query = urlencode({"base_url": playground_stack.base_url})
    result = _drive(
        browser_runtime,
        pageUrl=f"{other_origin}/index.html?{base_url_query}",
        apiKey=playground_stack.api_key,
        message=MESSAGE,
        confirmLinkedServer=True,
        viewport=VIEWPORT,
    )
    assert result["linkedServer"] == {
        "noticeVisible": True,
        "noticeServer": playground_stack.base_url,
        "optionBeforeConfirm": "Confirm the server above to load assistants",
        "requestsBeforeConfirm": 0,
        "noticeHiddenAfterConfirm": True,
    }
    _assert_chatted(result, expected_base_url=playground_stack.base_url)
    _assert_streamed(result)


def _chat_same_origin_with_the_stream_rewritten(
    runtime: BrowserRuntime, stack: LocalStackHandle, stream_route: str
) -> dict[str, Any]:
    """A same-origin chat whose ``stream: true`` run POST the driver rewrites (see drive_playground.mjs)."""
    result = _drive(
        runtime,
        pageUrl=f"{stack.base_url.removesuffix('/v1')}/playground",
        apiKey=stack.api_key,
        message=MESSAGE,
        streamRoute=stream_route,
        viewport=VIEWPORT,
    )
    _assert_chatted(result, expected_base_url=stack.base_url)
    assert result["streamRequestsIntercepted"] == 1
    assert "(polling)" in result["status"] and "completed" in result["status"]
    return result


def test_playground_polls_where_the_server_refuses_to_stream(
    browser_runtime: BrowserRuntime, playground_stack: LocalStackHandle, scripted_worker: None
) -> None:
    result = _chat_same_origin_with_the_stream_rewritten(browser_runtime, playground_stack, "refuse")
    assert result["transport"] == "poll"
    assert result["replyTexts"] == [EXPECTED_REPLY]


def test_playground_polls_the_run_to_its_end_when_the_stream_stops_early(
    browser_runtime: BrowserRuntime, playground_stack: LocalStackHandle, scripted_worker: None
) -> None:
    result = _chat_same_origin_with_the_stream_rewritten(browser_runtime, playground_stack, "truncate")
    # The stream stopped after its first delta, before the run's terminal event: the page showed that
    # delta, then polled the run until it completed and showed the whole message.
    assert result["transport"] == "stream+poll"
    assert result["deltaEvents"] == 1
    texts = result["replyTexts"]
    assert len(texts) == 2
    assert len(texts[0]) < len(EXPECTED_REPLY)
    assert texts[-1] == EXPECTED_REPLY
    assert EXPECTED_REPLY.startswith(texts[0])


def test_the_page_loads_without_a_key_and_api_calls_still_need_one(
    playground_stack: LocalStackHandle,
) -> None:
    origin = playground_stack.base_url.removesuffix("/v1")
    page = httpx.get(f"{origin}/playground", follow_redirects=True, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text
    script = httpx.get(f"{origin}/playground/app.js", timeout=10)
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    unauthenticated = httpx.get(f"{playground_stack.base_url}/assistants", timeout=10)
    assert unauthenticated.status_code == 401
