// Calls to the IntelliDox api: same-origin relative URLs, problem+json
// errors, and the API key when one is set.
import { apiKey, markAuthRequired } from './auth';
import { ApiError, NetworkError } from './errors';
import type { CreateRequest, CreateResponse, Download, FileInfo, FileList, Scans, UploadStateResponse } from './types';

async function request<T>(path: string, init: RequestInit = {}, signal?: AbortSignal): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json, application/problem+json');
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  const key = apiKey();
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let resp: Response;
  try {
    resp = await fetch(path, { ...init, headers, signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new NetworkError('api', e);
  }
  if (!resp.ok) throw await problem(resp);
  if (resp.status === 204) return undefined as T;
  return (await resp.json()) as T;
}

async function problem(resp: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    const text = await resp.text();
    if (text) body = JSON.parse(text);
  } catch {
    // Not JSON: a proxy's error page, for example. Status alone must do.
  }
  const retryAfter = Number(resp.headers.get('Retry-After')) || undefined;
  const err = new ApiError({
    status: typeof body.status === 'number' ? body.status : resp.status,
    code: str(body.code) || (resp.status === 401 ? 'unauthorized' : ''),
    title: str(body.title) || resp.statusText,
    detail: str(body.detail),
    field: str(body.field) || undefined,
    retryAfter,
    verdict: str(body.verdict) || undefined,
    reasons: Array.isArray(body.reasons) ? body.reasons.filter((r): r is string => typeof r === 'string') : undefined,
  });
  if (err.status === 401) markAuthRequired();
  return err;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

const enc = encodeURIComponent;

export const api = {
  create: (req: CreateRequest, signal?: AbortSignal) =>
    request<CreateResponse>('/v1/files', { method: 'POST', body: JSON.stringify(req) }, signal),
  confirm: (id: string, signal?: AbortSignal) =>
    request<{ id: string; status: string }>(`/v1/files/${enc(id)}/confirm`, { method: 'POST', body: '{}' }, signal),
  get: (id: string, signal?: AbortSignal) => request<FileInfo>(`/v1/files/${enc(id)}`, {}, signal),
  uploadState: (id: string, signal?: AbortSignal) =>
    request<UploadStateResponse>(`/v1/files/${enc(id)}/upload`, {}, signal),
  scans: (id: string, signal?: AbortSignal) => request<Scans>(`/v1/files/${enc(id)}/scans`, {}, signal),
  list: (p: { q?: string; limit?: number; cursor?: string | null }, signal?: AbortSignal) => {
    const qs = new URLSearchParams();
    if (p.q) qs.set('q', p.q);
    qs.set('limit', String(p.limit ?? 20));
    if (p.cursor) qs.set('cursor', p.cursor);
    return request<FileList>(`/v1/files?${qs}`, {}, signal);
  },
  rescan: (id: string, engines?: string[], signal?: AbortSignal) =>
    request<unknown>(
      `/v1/files/${enc(id)}/rescan`,
      { method: 'POST', body: JSON.stringify(engines?.length ? { engines } : {}) },
      signal,
    ),
  download: (id: string, signal?: AbortSignal) => request<Download>(`/v1/files/${enc(id)}/download`, {}, signal),
};

export type Api = typeof api;
