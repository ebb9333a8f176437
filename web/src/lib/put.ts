// The direct PUT of a file's bytes to its presigned storage URL, or of each
// of its parts to their own URLs. It uses XMLHttpRequest because fetch
// cannot report upload progress.
import { Aborted, NetworkError, StorageError } from './errors';
import type { PresignedUpload, UploadPart } from './types';

export interface PutProgress {
  sent: number;
  total: number;
}

export type Putter = (
  file: Blob,
  upload: PresignedUpload,
  onProgress: (p: PutProgress) => void,
  signal?: AbortSignal,
) => Promise<void>;

// The browser sets these itself and refuses to let scripts do it.
const forbidden = new Set(['host', 'content-length', 'connection', 'accept-encoding']);

/** Parts sent at once. */
export const PARALLEL_PARTS = 4;

/** xhrPut sends body to url, reporting the bytes of it sent so far. */
function xhrPut(
  body: Blob,
  url: string,
  headers: Record<string, string> | undefined,
  onLoaded: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Aborted());
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers ?? {})) {
      if (!forbidden.has(k.toLowerCase())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (ev) => onLoaded(ev.loaded);
    const abort = () => xhr.abort();
    signal?.addEventListener('abort', abort, { once: true });
    const done = () => signal?.removeEventListener('abort', abort);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        onLoaded(body.size);
        resolve();
        return;
      }
      const text = typeof xhr.responseText === 'string' ? xhr.responseText : '';
      const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? '';
      reject(new StorageError(xhr.status, code, text));
    };
    xhr.onerror = () => {
      done();
      reject(new NetworkError('storage'));
    };
    xhr.onabort = () => {
      done();
      reject(new Aborted());
    };
    xhr.send(body);
  });
}

/**
 * putWithXHR sends the file: in one PUT, or, when the upload lists parts,
 * the parts storage does not hold yet, PARALLEL_PARTS at a time. Progress
 * counts the parts already received as sent.
 */
export const putWithXHR: Putter = async (file, upload, onProgress, signal) => {
  if (!upload.parts?.length) {
    await xhrPut(file, upload.url ?? '', upload.headers, (sent) => onProgress({ sent, total: file.size }), signal);
    return;
  }
  const partSize = upload.partSize ?? upload.parts[0].size;
  const loaded = new Map<number, number>();
  let base = 0;
  const todo: UploadPart[] = [];
  for (const p of upload.parts) {
    if (p.received) base += p.size;
    else todo.push(p);
  }
  const report = () => {
    let sent = base;
    for (const v of loaded.values()) sent += v;
    onProgress({ sent, total: file.size });
  };
  report();
  const inner = new AbortController();
  const stop = () => inner.abort();
  signal?.addEventListener('abort', stop, { once: true });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const p = todo[next++];
      const start = (p.number - 1) * partSize;
      await xhrPut(
        file.slice(start, start + p.size),
        p.url ?? '',
        p.headers,
        (n) => {
          loaded.set(p.number, n);
          report();
        },
        inner.signal,
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, todo.length) }, worker));
  } catch (e) {
    inner.abort(); // the first failure stops the other parts
    throw signal?.aborted ? new Aborted() : e;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
};
