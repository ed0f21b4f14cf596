// The API as the pages use it: a key from sessionStorage, JSON, clear errors.
export const keyStore = {
  get: () => sessionStorage.getItem("mediaserver.key") || "",
  set: (key) => sessionStorage.setItem("mediaserver.key", key),
};

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${keyStore.get()}` };
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {
    throw new Error("The server is unreachable.");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
