// Drives the playground in Debian's Chromium (playwright-core, no browser download) and prints what it
// observed as one JSON line; the pytest side (test_playground.py) asserts on it.
//
//   node drive_playground.mjs '{"pageUrl": ..., "apiKey": ..., "message": ..., "confirmLinkedServer": ...,
//                              "streamRoute": ..., "screenshotPath": ..., "viewport": {"width": ..., "height": ...}}'
//
// confirmLinkedServer: the page was opened with `?base_url=` of another origin; the driver records what the
// page shows (and sends) before pressing "Use this server", then presses it. streamRoute rewrites the
// answer to the page's `stream: true` run POST: "refuse" answers OpenAI's 400 on param "stream" (the page
// must fall back to polling), "truncate" cuts the event stream after its first message delta (the page must
// poll the run to its end).
import { runDriver } from "./chromium.mjs";

const STEP_TIMEOUT_MS = 30_000;
const STREAMING_REFUSED = {
  error: {
    message: "Streaming is not supported by this server.", type: "invalid_request_error", param: "stream",
    code: null,
  },
};

// Records every distinct text the assistant's reply bubble shows, to tell token-by-token rendering from a
// reply that appears at once.
function recordReplyTexts() {
  window.__replyTexts = [];
  new MutationObserver(() => {
    const replies = document.querySelectorAll('#transcript li[data-role="assistant"] .text');
    const last = replies[replies.length - 1];
    const text = last ? last.textContent : "";
    const seen = window.__replyTexts;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  }).observe(document, { childList: true, subtree: true, characterData: true });
}

// Intercepts the page's `stream: true` run POSTs as `mode` says; returns how many it intercepted.
async function routeStreamRequests(page, mode) {
  const intercepted = { count: 0 };
  await page.route("**/threads/*/runs", async (route) => {
    const request = route.request();
    if (request.method() !== "POST" || !(request.postDataJSON() || {}).stream) return route.continue();
    intercepted.count += 1;
    if (mode === "refuse") {
      return route.fulfill({ status: 400, contentType: "application/json", body: JSON.stringify(STREAMING_REFUSED) });
    }
    const response = await route.fetch();  // the whole stream: it ends with the run
    const frames = (await response.text()).split("\n\n");
    const firstDelta = frames.findIndex((frame) => frame.includes("event: thread.message.delta"));
    return route.fulfill({ response, body: `${frames.slice(0, firstDelta + 1).join("\n\n")}\n\n` });
  });
  return intercepted;
}

// Records what the page shows for a `?base_url=` of another origin, and that it sends nothing there (not
// even on "Reload"), then presses "Use this server".
async function confirmLinkedServer(page, requestedUrls, listLoaded) {
  const linkedBaseUrl = await page.inputValue("#base-url");
  const noticeVisible = await page.isVisible("#linked-server");
  const noticeServer = await page.textContent("#linked-server-url");
  await page.click("#refresh-assistants");
  await page.waitForSelector(listLoaded);
  const shown = {
    noticeVisible,
    noticeServer,
    optionBeforeConfirm: await page.textContent("#assistant-select option"),
    requestsBeforeConfirm: requestedUrls.filter((url) => url.startsWith(linkedBaseUrl)).length,
  };
  await page.click("#use-linked-server");
  shown.noticeHiddenAfterConfirm = await page.isHidden("#linked-server");
  return shown;
}

async function drive(context, options) {
  const consoleErrors = [];
  let failurePage = null;
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("pageerror", (error) => consoleErrors.push(String(error)));
    page.on("console", (message) => {
      // A failed request (the 401 below, on purpose) is logged by Chromium itself: not a page error.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        consoleErrors.push(message.text());
      }
    });
    failurePage = page;
    const requestedUrls = [];
    page.on("request", (request) => requestedUrls.push(request.url()));
    const streamRequests = options.streamRoute ? await routeStreamRequests(page, options.streamRoute) : null;
    await page.addInitScript(recordReplyTexts);
    await page.goto(options.pageUrl);
    const listLoaded = '#assistant-select[aria-busy="false"]';
    await page.waitForSelector(listLoaded);
    const defaultBaseUrl = await page.inputValue("#base-url");
    const defaultApiKey = await page.inputValue("#api-key");
    const linkedServer = options.confirmLinkedServer ? await confirmLinkedServer(page, requestedUrls, listLoaded) : null;

    // The default key (sk-local-dev) is not one this stack knows: the API's 401 envelope must show.
    await page.click("#refresh-assistants");
    await page.waitForSelector(listLoaded);
    const unauthorizedError = await page.textContent("#error");

    await page.fill("#api-key", options.apiKey);
    await page.dispatchEvent("#api-key", "change");
    await page.waitForSelector(listLoaded);
    const errorAfterKey = await page.isVisible("#error");

    await page.fill("#assistant-name", "Browser test assistant");
    await page.fill("#assistant-instructions", "Repeat what the user said.");
    // Another test's assistant may be selected already: wait for the list to select a new one.
    const selectedBefore = await page.inputValue("#assistant-select");
    await page.click("#create-assistant");
    await page.waitForFunction((before) => {
      const selected = document.querySelector("#assistant-select").value;
      return selected.startsWith("asst_") && selected !== before;
    }, selectedBefore);
    const assistantId = await page.inputValue("#assistant-select");
    const createdStatus = await page.textContent("#status");

    await page.fill("#message-input", options.message);
    await page.press("#message-input", "Enter");  // keyboard: Enter sends
    const reply = page.locator('#transcript li[data-role="assistant"][data-state="done"]');
    await reply.waitFor();

    const result = {
      defaultBaseUrl,
      defaultApiKey,
      linkedServer,
      unauthorizedError,
      errorAfterKey,
      assistantId,
      createdStatus,
      userText: await page.textContent('#transcript li[data-role="user"] .text'),
      replyText: await reply.locator(".text").textContent(),
      transport: await reply.getAttribute("data-transport"),
      deltaEvents: Number((await reply.getAttribute("data-deltas")) || 0),
      replyTexts: await page.evaluate(() => window.__replyTexts),
      threadId: await page.textContent("#thread-id"),
      status: await page.textContent("#status"),
      errorVisible: await page.isVisible("#error"),
      inputFocused: await page.evaluate(() => document.activeElement.id === "message-input"),
      streamRequestsIntercepted: streamRequests ? streamRequests.count : null,
      consoleErrors,
    };
    if (options.screenshotPath) await page.screenshot({ path: options.screenshotPath });
    return result;
  } catch (error) {
    // What the page showed when a step failed: its error banner, status line and transcript.
    if (failurePage) {
      const shown = await failurePage.evaluate(() => ({
        error: document.querySelector("#error").textContent,
        status: document.querySelector("#status").textContent,
        transcript: document.querySelector("#transcript").innerText,
      })).catch(() => null);
      error.message += `\npage: ${JSON.stringify(shown)}\nconsole errors: ${JSON.stringify(consoleErrors)}`;
    }
    throw error;
  }
}

runDriver(drive, (options) => ({ viewport: options.viewport }));
