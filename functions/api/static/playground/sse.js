// Server-Sent Events over a fetch() body (EventSource cannot POST or send an Authorization header).
// Follows the WHATWG event-stream rules: lines end in \n, \r\n or \r; "field: value" (one leading space
// dropped); lines starting with ":" are comments; "data" lines join with "\n"; a blank line dispatches.

/** Yields `{ event, data }` for every event in `body` (a ReadableStream of bytes). */
export async function* readServerSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let lineEnd;
      while ((lineEnd = findLineEnd(buffer)) !== null) {
        const line = buffer.slice(0, lineEnd.index);
        buffer = buffer.slice(lineEnd.index + lineEnd.length);
        if (line === "") {
          if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let fieldValue = colon === -1 ? "" : line.slice(colon + 1);
        if (fieldValue.startsWith(" ")) fieldValue = fieldValue.slice(1);
        if (field === "event") event = fieldValue;
        else if (field === "data") data.push(fieldValue);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// The first line ending in `text`; a trailing "\r" may be half of "\r\n", so it waits for more input.
function findLineEnd(text) {
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (char === "\n") return { index, length: 1 };
    if (char === "\r") {
      if (index + 1 === text.length) return null;
      return { index, length: text[index + 1] === "\n" ? 2 : 1 };
    }
  }
  return null;
}
