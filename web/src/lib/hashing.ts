// Runs SHA-256 in Web Workers so the page stays responsive. At most
// `poolSize` files hash at once; the others wait their turn.
import { Aborted } from './errors';
import type { HashMessage } from './hash.worker';

export interface HashResult {
  sha256: string;
  /** The SHA-256 of each part, when a part size was given. */
  parts?: string[];
  ms: number;
}

export type Hasher = (
  file: Blob,
  onProgress: (done: number) => void,
  signal?: AbortSignal,
  partSize?: number,
) => Promise<HashResult>;

class HashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HashError';
  }
}

/** limiter returns a function that runs at most n tasks at a time. */
export function limiter(n: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async function run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (running >= n) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener('abort', cancel);
          resolve();
        };
        const cancel = () => {
          const i = waiting.indexOf(go);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Aborted());
        };
        waiting.push(go);
        signal?.addEventListener('abort', cancel, { once: true });
      });
    }
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

const pool = limiter(Math.max(1, Math.min(2, navigator.hardwareConcurrency || 2)));

/** hashInWorker hashes file in a dedicated worker, reporting bytes hashed. */
export const hashInWorker: Hasher = (file, onProgress, signal, partSize) =>
  pool(
    () =>
      new Promise<HashResult>((resolve, reject) => {
        if (signal?.aborted) return reject(new Aborted());
        const worker = new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module' });
        const finish = () => {
          worker.terminate();
          signal?.removeEventListener('abort', abort);
        };
        const abort = () => {
          finish();
          reject(new Aborted());
        };
        signal?.addEventListener('abort', abort, { once: true });
        worker.onmessage = (ev: MessageEvent<HashMessage>) => {
          const m = ev.data;
          if (m.type === 'progress') onProgress(m.done);
          else if (m.type === 'done') {
            finish();
            resolve({ sha256: m.sha256, parts: m.parts, ms: m.ms });
          } else {
            finish();
            reject(new HashError(`The file could not be read (${m.message}). Was it moved or deleted?`));
          }
        };
        worker.onerror = (ev) => {
          finish();
          reject(new HashError(`Hashing failed: ${ev.message || 'worker error'}`));
        };
        worker.postMessage({ file, partSize });
      }),
    signal,
  );
