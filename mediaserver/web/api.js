// The API as the pages use it: a key from sessionStorage, JSON, clear errors.
export const keyStore = {
  get: () => sessionStorage.getItem("mediaserver.key") || "",
  set: (key) => sessionStorage.setItem("mediaserver.key", key),
  clear: () => sessionStorage.removeItem("mediaserver.key"),
};

// What an operator can do about each refusal, instead of the raw status line.
export function readableError(status, detail, retryAfter) {
  if (status === 401) return "This API key was not accepted: it is unknown or has been revoked. Sign in with another key.";
  if (status === 403) return "Your key may only view: changing this needs an admin key.";
  if (status === 429) {
    const wait = retryAfter ? ` in ${retryAfter} s` : " in a moment";
    if (/failed auth/.test(detail)) return `Too many wrong keys were tried from this address. Try again${wait}.`;
    return `Too many requests with this key. Try again${wait}.`;
  }
  if (status === 404) return `Not found: ${detail}`;
  if (status >= 500) return `The server failed (${status}): ${detail}. Try again; if it persists, check the server's log.`;
  return detail;
}

// `credential`: an API key (default: the one typed in), or a call token.
export async function api(path, options = {}, credential = keyStore.get()) {
  const headers = {
    // a FormData body (a file upload) sets its own multipart type
    ...(options.body instanceof FormData ? {} : { "Content-Type": "application/json" }),
    ...(options.headers || {}),
    Authorization: `Bearer ${credential}`,
  };
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {
    throw new Error("The server is unreachable. Check your connection and try again.");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    const message = readableError(response.status, detail, response.headers.get("Retry-After"));
    throw Object.assign(new Error(message), { status: response.status, detail });
  }
  return response;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
