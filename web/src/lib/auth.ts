// The API key lives in localStorage and is sent only on API calls, never on
// the storage PUT. The key field appears only after the api answers 401.

const KEY = 'intellidox.apiKey';

type Listener = () => void;
const listeners = new Set<Listener>();
let required = false;

function read(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

let key = read();

export function apiKey(): string {
  return key;
}

export function setApiKey(value: string): void {
  key = value.trim();
  try {
    if (key) localStorage.setItem(KEY, key);
    else localStorage.removeItem(KEY);
  } catch {
    // Private mode: the key lasts for this page only.
  }
  notify();
}

/** authRequired reports whether the api has answered 401 in this page. */
export function authRequired(): boolean {
  return required;
}

export function markAuthRequired(): void {
  if (!required) {
    required = true;
    notify();
  }
}

export function subscribeAuth(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify() {
  for (const fn of listeners) fn();
}

/** For tests. */
export function resetAuth(): void {
  required = false;
  key = read();
  notify();
}
