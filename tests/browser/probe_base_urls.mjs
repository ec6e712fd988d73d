// Opens the playground once per crafted `?base_url=` in Debian's Chromium (playwright-core) and records every
// request the page makes whose origin is not the page's own, with the Authorization header it carried. The
// pytest side (test_base_url_origin.py) asserts that no such request left the page before the user
// confirmed, and that a second loopback server received nothing.
//
//   node probe_base_urls.mjs '{"pageUrl": ..., "apiKey": ..., "baseUrls": [...], "confirm": [...]}'
//
// For each base URL the driver loads the page, types the key, presses "Reload", submits the settings and
// sends a message (everything that makes the page call the API), and records what the page shows. For the
// base URLs in "confirm" it then presses "Use this server" and reloads again (the page must use exactly the
// server it showed). Requests to hosts that do not resolve here (evil.example, IDN hosts) are answered by
// the route with an empty assistant list, so a leaking page would keep going rather than stop at an error.
import { runDriver } from "./chromium.mjs";

const STEP_TIMEOUT_MS = 15_000;
const EMPTY_LIST = JSON.stringify({ object: "list", data: [], first_id: null, last_id: null, has_more: false });
const listLoaded = '#assistant-select[aria-busy="false"]';

async function settle(page) {
  await page.waitForSelector(listLoaded);
  await page.waitForLoadState("networkidle");
}

async function probe(context, options, baseUrl, pageOrigin) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const foreign = [];
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.route("**/*", (route) => {
    const request = route.request();
    const url = new URL(request.url());
    if (url.origin === pageOrigin) return route.continue();
    foreign.push({ url: request.url(), authorization: request.headers().authorization || null });
    if (url.hostname === "127.0.0.1" || url.hostname === "localhost") return route.continue();
    return route.fulfill({ status: 200, contentType: "application/json", body: EMPTY_LIST,
      headers: { "access-control-allow-origin": "*" } });
  });
  await page.goto(`${options.pageUrl}?${new URLSearchParams({ base_url: baseUrl })}`);
  await settle(page);
  await page.fill("#api-key", options.apiKey);
  await page.dispatchEvent("#api-key", "change");
  await settle(page);
  await page.click("#refresh-assistants");
  await settle(page);
  await page.press("#base-url", "Enter");  // submits the settings form: loads the assistants
  await settle(page);
  await page.fill("#message-input", "hello");
  await page.press("#message-input", "Enter");
  await page.waitForLoadState("networkidle");
  const shown = {
    baseUrl,
    field: await page.inputValue("#base-url"),
    noticeVisible: await page.isVisible("#linked-server"),
    noticeServer: await page.textContent("#linked-server-url"),
    useButtonVisible: await page.isVisible("#use-linked-server"),
    error: (await page.isVisible("#error")) ? await page.textContent("#error") : null,
    foreignBeforeConfirm: [...foreign],
    pageErrors,
  };
  if ((options.confirm || []).includes(baseUrl)) {
    if (!shown.useButtonVisible) throw new Error(`no "Use this server" for ${baseUrl}: ${JSON.stringify(shown)}`);
    await page.click("#use-linked-server");
    await settle(page);
    shown.foreignAfterConfirm = foreign.slice(shown.foreignBeforeConfirm.length);
  }
  await page.close();
  return shown;
}

async function drive(context, options) {
  const pageOrigin = new URL(options.pageUrl).origin;
  const results = [];
  for (const baseUrl of options.baseUrls) results.push(await probe(context, options, baseUrl, pageOrigin));
  return results;
}

runDriver(drive);
