// Every call the console makes goes through here: the public HTTP API, with the user's key.
const KEY_ITEM = "modelmart.key";
const ORG_ITEM = "modelmart.org";

// sessionStorage, not localStorage: the key leaves with the tab.
export const session = {
  get key() { return sessionStorage.getItem(KEY_ITEM); },
  set key(value) { store(KEY_ITEM, value); },
  get org() { return sessionStorage.getItem(ORG_ITEM); },
  set org(value) { store(ORG_ITEM, value); },
  me: null,
};

function store(item, value) {
  if (value) sessionStorage.setItem(item, value);
  else sessionStorage.removeItem(item);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The API's messages already say how to fix a request; these add what to do in the console.
const HINTS = {
  401: "Sign in again with a valid key (it may have expired or been revoked).",
  402: "See Usage & invoices for the organisation's quota and budget.",
};

/** The API's error body (`error.message`, ModelMart's or OpenAI's shape) as an ApiError. */
export async function errorOf(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "the request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || body.error.type || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: keep the status line
  }
  const hint = HINTS[response.status];
  return new ApiError(response.status, code, hint ? `${message}. ${hint}` : message);
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  return headers;
}

/** fetch with the key; `json` is sent as a JSON body. Resolves to the raw Response. */
export async function send(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const all = authHeaders(headers);
  if (json !== undefined) {
    all["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers: all, body, signal });
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** The decoded answer: JSON, text, or null for 204. */
export async function api(path, options = {}) {
  const response = await send(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** The answer and the round trip measured in the browser, in milliseconds. */
export async function timed(path, options = {}) {
  const started = performance.now();
  const data = await api(path, options);
  return { data, ms: performance.now() - started };
}

/** A multipart upload with progress (fetch cannot report upload progress; XHR can). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onerror = () => reject(new ApiError(0, "network", "the upload did not reach the server"));
    request.onload = async () => {
      const response = new Response(request.responseText, {
        status: request.status,
        headers: { "content-type": request.getResponseHeader("content-type") || "" },
      });
      if (response.ok) resolve(await response.json());
      else reject(await errorOf(response));
    };
    request.send(form);
  });
}

/** Server-sent events from a GET that needs the key (EventSource cannot send headers). */
export async function* events(path, signal) {
  const response = await send(path, { headers: { accept: "text/event-stream" }, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event.event = line.slice(6).trim();
        else if (line.startsWith("data:")) event.data += line.slice(5).trimStart();
      }
      if (event.data) yield event;
    }
  }
}

/** Fetch a document with the key and hand it to the browser as a file download. */
export async function download(path, filename) {
  const blob = await (await send(path)).blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
