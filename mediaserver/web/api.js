// The API as the pages use it: a key from sessionStorage, JSON, clear errors.
export const keyStore = {
  get: () => sessionStorage.getItem("mediaserver.key") || "",
  set: (key) => sessionStorage.setItem("mediaserver.key", key),
};

// `credential`: an API key (default: the one typed in), or a call token.
export async function api(path, options = {}, credential = keyStore.get()) {
  const headers = {
    "Content-Type": "application/json",
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
    throw Object.assign(new Error(`${response.status}: ${detail}`), { status: response.status, detail });
  }
  return response;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
