// The direct PUT of a file's bytes to its presigned storage URL. It uses
// XMLHttpRequest because fetch cannot report upload progress.
import { Aborted, NetworkError, StorageError } from './errors';
import type { PresignedUpload } from './types';

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

export const putWithXHR: Putter = (file, upload, onProgress, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Aborted());
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || 'PUT', upload.url);
    for (const [k, v] of Object.entries(upload.headers ?? {})) {
      if (!forbidden.has(k.toLowerCase())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (ev) => onProgress({ sent: ev.loaded, total: ev.lengthComputable ? ev.total : file.size });
    const abort = () => xhr.abort();
    signal?.addEventListener('abort', abort, { once: true });
    const done = () => signal?.removeEventListener('abort', abort);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ sent: file.size, total: file.size });
        resolve();
        return;
      }
      const body = typeof xhr.responseText === 'string' ? xhr.responseText : '';
      const code = /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? '';
      reject(new StorageError(xhr.status, code, body));
    };
    xhr.onerror = () => {
      done();
      reject(new NetworkError('storage'));
    };
    xhr.onabort = () => {
      done();
      reject(new Aborted());
    };
    xhr.send(file);
  });
