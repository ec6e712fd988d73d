// A small client for the Assistants API v2: every call carries the user's key and the assistants=v2 header,
// and every failure becomes an ApiError built from OpenAI's envelope {"error": {message, type, param, code}}.
import { readServerSentEvents } from "./sse.js";

export const TERMINAL_RUN_STATUSES = new Set([
  "completed", "failed", "cancelled", "expired", "incomplete", "requires_action",
]);

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.type = error.type || null;
    this.param = error.param || null;
    this.code = error.code || null;
  }

  /** "401 invalid_request_error (invalid_api_key): Incorrect API key provided." */
  describe() {
    const kind = [this.status || "", this.type || ""].filter(Boolean).join(" ");
    const code = this.code ? ` (${this.code})` : "";
    return `${kind}${code}: ${this.message}`;
  }
}

export class AssistantsClient {
  constructor({ baseUrl, apiKey }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
  }

  async request(method, path, { body, query, signal, accept = "application/json" } = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers = {
      Authorization: `Bearer ${this.apiKey}`,
      "OpenAI-Beta": "assistants=v2",
      Accept: accept,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, {
        message: `Could not reach ${url.origin} (${error.message}). Check the base URL and CORS settings.`,
        type: "connection_error",
      });
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).json();
  }

  listAssistants() {
    return this.json("GET", "/assistants", { query: { limit: 100, order: "desc" } });
  }

  createAssistant({ name, model, instructions }) {
    return this.json("POST", "/assistants", { body: { name, model, instructions } });
  }

  createThread() {
    return this.json("POST", "/threads", { body: {} });
  }

  addUserMessage(threadId, text) {
    return this.json("POST", `/threads/${threadId}/messages`, { body: { role: "user", content: text } });
  }

  createRun(threadId, assistantId) {
    return this.json("POST", `/threads/${threadId}/runs`, { body: { assistant_id: assistantId } });
  }

  retrieveRun(threadId, runId) {
    return this.json("GET", `/threads/${threadId}/runs/${runId}`);
  }

  cancelRun(threadId, runId) {
    return this.json("POST", `/threads/${threadId}/runs/${runId}/cancel`);
  }

  listRunMessages(threadId, runId) {
    return this.json("GET", `/threads/${threadId}/messages`, { query: { run_id: runId, order: "asc" } });
  }

  /** Creates a run with `stream: true` and yields its events as `{ event, data }` (data parsed as JSON,
   *  except the final `done` / `[DONE]`). Throws ApiError (e.g. param "stream" where streaming is off). */
  async *streamRun(threadId, assistantId, { signal } = {}) {
    const response = await this.request("POST", `/threads/${threadId}/runs`, {
      body: { assistant_id: assistantId, stream: true }, accept: "text/event-stream", signal,
    });
    const contentType = response.headers.get("content-type") || "";
    if (!contentType.startsWith("text/event-stream")) {
      throw new ApiError(response.status, {
        message: `Expected an event stream, got ${contentType || "no content type"}.`,
        type: "invalid_response", param: "stream",
      });
    }
    for await (const { event, data } of readServerSentEvents(response.body)) {
      yield { event, data: data === "[DONE]" ? data : JSON.parse(data) };
    }
  }
}

async function errorFrom(response) {
  const text = await response.text();
  try {
    const envelope = JSON.parse(text);
    if (envelope && typeof envelope.error === "object" && envelope.error !== null) {
      return new ApiError(response.status, envelope.error);
    }
  } catch {
    // not JSON: fall through to the raw body
  }
  return new ApiError(response.status, { message: text.slice(0, 300) || response.statusText, type: "http_error" });
}

/** The text of a message object's content parts (or of a delta's). */
export function textOf(content) {
  return (content || [])
    .filter((part) => part.type === "text" && part.text)
    .map((part) => part.text.value || "")
    .join("");
}
