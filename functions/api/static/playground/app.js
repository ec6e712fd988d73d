// The playground UI: connection settings, pick or create an assistant, chat in a thread. Replies stream
// token by token over SSE (`stream: true`); a server without streaming gets create-run + polling instead, and
// a stream that ends before its run does (the server caps a stream's duration, a proxy cut it) is followed by
// polling the run. A `?base_url=` whose parsed origin is not the page's own is only used once the user confirms
// it (it gets the key).
import { ApiError, AssistantsClient, TERMINAL_RUN_STATUSES, textOf } from "./api.js";

const POLL_INTERVAL_MS = 400;
const byId = (id) => document.getElementById(id);
const ui = {
  settings: byId("settings"), baseUrl: byId("base-url"), apiKey: byId("api-key"),
  linkedServer: byId("linked-server"), linkedServerUrl: byId("linked-server-url"),
  useLinkedServer: byId("use-linked-server"),
  assistantForm: byId("assistant-form"), assistantSelect: byId("assistant-select"),
  refreshAssistants: byId("refresh-assistants"), name: byId("assistant-name"),
  model: byId("assistant-model"), instructions: byId("assistant-instructions"),
  threadLabel: byId("thread-id"), newThread: byId("new-thread"), transcript: byId("transcript"),
  composer: byId("composer"), messageInput: byId("message-input"), send: byId("send"), stop: byId("stop"),
  status: byId("status"), error: byId("error"),
};

// unconfirmedOrigin: the origin of a `?base_url=` that is not the page's own, until "Use this server".
const state = { threadId: null, run: null, streaming: null, busy: false, unconfirmedOrigin: null };

// A base URL exactly as requests will use it, from the browser's URL parser: an absolute URL as it parses on
// its own (`http:host/v1` is http://host/v1, as every other client reads it, though against this page's
// http: URL it would be a relative path), anything else resolved against the page (`//host`, `\\host` and
// `/\host` name another host). Whitespace, mixed case and IDN hosts come out as the host they really name.
// Null for anything but a plain http(s) URL, and for one with a user name or password
// (`http://127.0.0.1:8000@evil/` names the host `evil`; fetch refuses credentials in URLs anyway).
function resolveBaseUrl(value) {
  const text = String(value).trim();
  let url;
  try {
    url = new URL(text);
  } catch {
    try {
      url = new URL(text, window.location.href);
    } catch {
      return null;
    }
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) return null;
  return url;
}

const baseUrlText = (url) => url.href.replace(/\/+$/, "");

// Only a URL whose parsed origin equals the page's own (never an opaque "null" one) is the page's server.
function isPageOrigin(url) {
  return url !== null && window.location.origin !== "null" && url.origin === window.location.origin;
}

// Whether the base URL field still names the linked server the user has not confirmed (another server typed
// by the user is theirs to choose); an unparsable field, while a link is unconfirmed, counts as it.
function awaitingServerConfirmation() {
  if (state.unconfirmedOrigin === null) return false;
  const url = resolveBaseUrl(ui.baseUrl.value);
  return url === null || url.origin === state.unconfirmedOrigin;
}

function client() {
  const url = resolveBaseUrl(ui.baseUrl.value);
  if (url === null) throw new Error("The base URL must be an http:// or https:// URL without a user name.");
  if (awaitingServerConfirmation()) {
    throw new Error(`This link points the page at ${url.origin}: press "Use this server" ` +
      "to send requests (and your API key) there, or enter another base URL.");
  }
  return new AssistantsClient({ baseUrl: baseUrlText(url), apiKey: ui.apiKey.value.trim() });
}

function showError(error) {
  if (error && error.name === "AbortError") return;
  ui.error.textContent = error instanceof ApiError ? error.describe() : String(error && error.message || error);
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function setStatus(text) {
  ui.status.textContent = text;
}

function setBusy(busy) {
  state.busy = busy;
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.newThread.disabled = busy;
  ui.assistantSelect.disabled = busy;
}

function addBubble(role, text = "") {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  item.dataset.role = role;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  item.append(label, body);
  ui.transcript.append(item);
  item.scrollIntoView({ block: "end" });
  return { item, body };
}

// Loads may overlap (a settings change while a create reloads): only the latest one fills the list.
let assistantLoads = 0;

async function loadAssistants(selectId) {
  clearError();
  const load = ++assistantLoads;
  const wanted = selectId || ui.assistantSelect.value;
  if (awaitingServerConfirmation()) {
    ui.assistantSelect.replaceChildren(new Option("Confirm the server above to load assistants", ""));
    ui.assistantSelect.setAttribute("aria-busy", "false");
    return;
  }
  ui.assistantSelect.setAttribute("aria-busy", "true");
  try {
    const page = await client().listAssistants();
    if (load !== assistantLoads) return;
    const options = page.data.map((assistant) => {
      const label = `${assistant.name || "(unnamed)"} · ${assistant.id.slice(-6)} · ${assistant.model}`;
      return new Option(label, assistant.id);
    });
    if (options.length === 0) options.push(new Option("No assistants yet: create one below", ""));
    ui.assistantSelect.replaceChildren(...options);
    if (wanted && page.data.some((assistant) => assistant.id === wanted)) ui.assistantSelect.value = wanted;
  } catch (error) {
    if (load !== assistantLoads) return;
    ui.assistantSelect.replaceChildren(new Option("Could not load assistants", ""));
    showError(error);
  } finally {
    if (load === assistantLoads) ui.assistantSelect.setAttribute("aria-busy", "false");
  }
}

async function createAssistant(event) {
  event.preventDefault();
  clearError();
  try {
    const assistant = await client().createAssistant({
      name: ui.name.value.trim() || null,
      model: ui.model.value.trim(),
      instructions: ui.instructions.value.trim() || null,
    });
    setStatus(`Created assistant ${assistant.id}`);
    await loadAssistants(assistant.id);
    ui.messageInput.focus();
  } catch (error) {
    showError(error);
  }
}

function startNewThread() {
  state.threadId = null;
  ui.threadLabel.textContent = "new thread";
  ui.transcript.replaceChildren();
  setStatus("");
  ui.messageInput.focus();
}

async function sendMessage(event) {
  event.preventDefault();
  const text = ui.messageInput.value.trim();
  const assistantId = ui.assistantSelect.value;
  if (state.busy || !text) return;
  clearError();
  if (!assistantId) {
    showError(new Error("Pick or create an assistant first."));
    return;
  }
  setBusy(true);
  try {
    const api = client();
    if (!state.threadId) {
      state.threadId = (await api.createThread()).id;
      ui.threadLabel.textContent = state.threadId;
    }
    await api.addUserMessage(state.threadId, text);
    addBubble("user", text);
    ui.messageInput.value = "";
    const reply = addBubble("assistant");
    reply.item.dataset.state = "pending";
    if (state.streaming !== false) {
      try {
        await streamReply(api, assistantId, reply);
        state.streaming = true;
        return;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 400 && error.param === "stream")) throw error;
        state.streaming = false;  // this server does not stream: create the run and poll it
      }
    }
    await pollReply(api, assistantId, reply);
  } catch (error) {
    showError(error);
  } finally {
    state.run = null;
    setBusy(false);
    ui.messageInput.focus();
  }
}

async function streamReply(api, assistantId, reply) {
  reply.item.dataset.transport = "stream";
  try {
    await renderStream(api, assistantId, reply);
  } catch (error) {
    if (!state.run) throw error;  // the connection broke once the run existed: follow it by polling below
  }
  if (!TERMINAL_RUN_STATUSES.has(state.run.status)) {
    // The stream ended before its run did: poll the run until it ends, then show its message.
    reply.item.dataset.transport = "stream+poll";
    await showRunReply(api, await awaitRun(api, state.run), reply);
    return;
  }
  reply.item.dataset.state = "done";
}

async function renderStream(api, assistantId, reply) {
  let deltas = 0;
  for await (const { event, data } of api.streamRun(state.threadId, assistantId)) {
    if (event.startsWith("thread.run.") && !event.startsWith("thread.run.step.")) {
      state.run = data;
      setStatus(`Run ${data.id}: ${data.status} (streaming)`);
      if (data.status === "failed" && data.last_error) showError(new ApiError(0, data.last_error));
    } else if (event === "thread.message.delta") {
      deltas += 1;
      reply.body.textContent += textOf(data.delta && data.delta.content);
      reply.item.dataset.deltas = String(deltas);
      reply.item.dataset.state = "streaming";
      reply.item.scrollIntoView({ block: "end" });
    } else if (event === "thread.message.completed") {
      reply.body.textContent = textOf(data.content);
    } else if (event === "error") {
      showError(new ApiError(0, data.error || data));
    } else if (event === "done") {
      break;
    }
  }
  if (!state.run) throw new Error("The event stream ended before the run was created.");
}

async function pollReply(api, assistantId, reply) {
  reply.item.dataset.transport = "poll";
  await showRunReply(api, await awaitRun(api, await api.createRun(state.threadId, assistantId)), reply);
}

// Retrieves the run until it is terminal (or requires action) and returns it.
async function awaitRun(api, run) {
  state.run = run;
  while (!TERMINAL_RUN_STATUSES.has(run.status)) {
    setStatus(`Run ${run.id}: ${run.status} (polling)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    run = await api.retrieveRun(state.threadId, run.id);
    state.run = run;
  }
  setStatus(`Run ${run.id}: ${run.status} (polling)`);
  if (run.last_error) showError(new ApiError(0, run.last_error));
  return run;
}

async function showRunReply(api, run, reply) {
  const messages = await api.listRunMessages(state.threadId, run.id);
  reply.body.textContent = messages.data
    .filter((message) => message.role === "assistant")
    .map((message) => textOf(message.content))
    .join("\n\n");
  reply.item.dataset.state = "done";
}

async function stopRun() {
  if (!state.run || !state.threadId) return;
  try {
    await client().cancelRun(state.threadId, state.run.id);
    setStatus(`Run ${state.run.id}: cancelling`);
  } catch (error) {
    showError(error);
  }
}

// A `?base_url=` whose parsed origin is the page's own is used; anything else (another origin, or a value
// the parser cannot prove is an http(s) URL) is shown as the URL it resolves to, but nothing is sent there
// (no request, no key) until the user presses "Use this server": a crafted link must not send the user's
// key elsewhere unnoticed.
function applyLinkedBaseUrl(linked) {
  if (linked === null) {
    ui.baseUrl.value = `${window.location.origin}/v1`;
    return;
  }
  const url = resolveBaseUrl(linked);
  ui.baseUrl.value = url === null ? linked : baseUrlText(url);
  if (isPageOrigin(url)) return;
  state.unconfirmedOrigin = url === null ? "null" : url.origin;
  ui.linkedServerUrl.textContent = ui.baseUrl.value;
  ui.useLinkedServer.hidden = url === null;
  ui.linkedServer.hidden = false;
}

function confirmLinkedServer() {
  if (resolveBaseUrl(ui.baseUrl.value) === null) return;
  state.unconfirmedOrigin = null;
  ui.linkedServer.hidden = true;
  loadAssistants();
}

function init() {
  applyLinkedBaseUrl(new URLSearchParams(window.location.search).get("base_url"));
  ui.baseUrl.addEventListener("input", () => {
    ui.linkedServer.hidden = !awaitingServerConfirmation();
  });
  ui.useLinkedServer.addEventListener("click", confirmLinkedServer);
  ui.settings.addEventListener("change", () => loadAssistants());
  ui.settings.addEventListener("submit", (event) => {
    event.preventDefault();
    loadAssistants();
  });
  ui.refreshAssistants.addEventListener("click", () => loadAssistants());
  ui.assistantForm.addEventListener("submit", createAssistant);
  ui.newThread.addEventListener("click", startNewThread);
  ui.composer.addEventListener("submit", sendMessage);
  ui.stop.addEventListener("click", stopRun);
  ui.messageInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.busy) stopRun();
  });
  startNewThread();
  loadAssistants();
}

init();
