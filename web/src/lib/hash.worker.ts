// Hashes one File at a time with SHA-256, streaming: the file is read in
// slices, so memory stays constant whatever its size.
import { createSHA256 } from 'hash-wasm';

export interface HashRequest {
  file: Blob;
  chunkSize?: number;
}

export type HashMessage =
  | { type: 'progress'; done: number }
  | { type: 'done'; sha256: string; ms: number }
  | { type: 'error'; message: string };

const ctx = self as unknown as DedicatedWorkerGlobalScope;

ctx.onmessage = async (ev: MessageEvent<HashRequest>) => {
  const { file, chunkSize = 8 << 20 } = ev.data;
  const started = performance.now();
  try {
    const hasher = await createSHA256();
    hasher.init();
    let lastPost = 0;
    for (let off = 0; off < file.size; off += chunkSize) {
      const buf = await file.slice(off, off + chunkSize).arrayBuffer();
      hasher.update(new Uint8Array(buf));
      const done = Math.min(off + chunkSize, file.size);
      const now = performance.now();
      if (now - lastPost > 50 || done === file.size) {
        ctx.postMessage({ type: 'progress', done } satisfies HashMessage);
        lastPost = now;
      }
    }
    const sha256 = hasher.digest('hex');
    ctx.postMessage({ type: 'done', sha256, ms: performance.now() - started } satisfies HashMessage);
  } catch (e) {
    ctx.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies HashMessage);
  }
};
