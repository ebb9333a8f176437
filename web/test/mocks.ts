// Test doubles for fetch and XMLHttpRequest.
import { vi } from 'vitest';

export type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

export function json(status: number, body: unknown, type = 'application/json'): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}

export function problem(status: number, code: string, detail = ''): Response {
  return json(status, { type: 'about:blank', title: 'Problem', status, detail, code }, 'application/problem+json');
}

/** mockFetch routes "METHOD path" to handlers and records every call. */
export function mockFetch(routes: Record<string, Handler | Handler[]>) {
  const calls: Array<{ method: string; url: string; init: RequestInit }> = [];
  const fn = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    calls.push({ method, url, init });
    const path = url.split('?')[0];
    const r = routes[`${method} ${path}`];
    if (!r) throw new Error(`unexpected fetch ${method} ${url}`);
    const h = Array.isArray(r) ? (r.length > 1 ? r.shift()! : r[0]) : r;
    return h(url, init);
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

export interface XHRBehaviour {
  status: number;
  body?: string;
  networkError?: boolean;
  chunks?: number;
}

/** FakeXHR plays a scripted storage answer and records each request. */
export function mockXHR(behaviours: XHRBehaviour[]) {
  const sent: Array<{ method: string; url: string; headers: Record<string, string>; body: unknown }> = [];
  class FakeXHR {
    status = 0;
    responseText = '';
    upload: { onprogress: ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: (() => void) | null = null;
    private req = { method: '', url: '', headers: {} as Record<string, string>, body: undefined as unknown };
    open(method: string, url: string) {
      this.req.method = method;
      this.req.url = url;
    }
    setRequestHeader(k: string, v: string) {
      this.req.headers[k] = v;
    }
    abort() {
      this.onabort?.();
    }
    send(body: Blob) {
      this.req.body = body;
      sent.push(this.req);
      const b = behaviours.length > 1 ? behaviours.shift()! : behaviours[0];
      queueMicrotask(() => {
        const n = b.chunks ?? 4;
        for (let i = 1; i <= n; i++) {
          const loaded = Math.floor((body.size * i) / n);
          this.upload.onprogress?.({ loaded, total: body.size, lengthComputable: true });
          if (b.networkError && i === 2) {
            this.onerror?.();
            return;
          }
        }
        this.status = b.status;
        this.responseText = b.body ?? '';
        this.onload?.();
      });
    }
  }
  vi.stubGlobal('XMLHttpRequest', FakeXHR);
  return sent;
}
