// Hashes one File at a time with SHA-256, streaming: the file is read in
// slices, so memory stays constant whatever its size. With a part size it
// also hashes each part (for uploads in parts), in the same pass.
import { createSHA256 } from 'hash-wasm';

export interface HashRequest {
  file: Blob;
  chunkSize?: number;
  /** When set, the SHA-256 of every part of this many bytes is returned too. */
  partSize?: number;
}

export type HashMessage =
  | { type: 'progress'; done: number }
  | { type: 'done'; sha256: string; parts?: string[]; ms: number }
  | { type: 'error'; message: string };

const ctx = self as unknown as DedicatedWorkerGlobalScope;

ctx.onmessage = async (ev: MessageEvent<HashRequest>) => {
  const { file, chunkSize = 8 << 20, partSize } = ev.data;
  const started = performance.now();
  try {
    const hasher = await createSHA256();
    hasher.init();
    const part = partSize ? await createSHA256() : undefined;
    part?.init();
    const parts: string[] = [];
    let inPart = 0;
    let lastPost = 0;
    for (let off = 0; off < file.size; off += chunkSize) {
      const bytes = new Uint8Array(await file.slice(off, off + chunkSize).arrayBuffer());
      hasher.update(bytes);
      if (part && partSize) {
        // A chunk may end one part and start the next.
        for (let i = 0; i < bytes.length; ) {
          const n = Math.min(bytes.length - i, partSize - inPart);
          part.update(bytes.subarray(i, i + n));
          i += n;
          inPart += n;
          if (inPart === partSize) {
            parts.push(part.digest('hex'));
            part.init();
            inPart = 0;
          }
        }
      }
      const done = Math.min(off + chunkSize, file.size);
      const now = performance.now();
      if (now - lastPost > 50 || done === file.size) {
        ctx.postMessage({ type: 'progress', done } satisfies HashMessage);
        lastPost = now;
      }
    }
    if (part && (inPart > 0 || parts.length === 0)) parts.push(part.digest('hex'));
    const sha256 = hasher.digest('hex');
    ctx.postMessage({ type: 'done', sha256, parts: part ? parts : undefined, ms: performance.now() - started } satisfies HashMessage);
  } catch (e) {
    ctx.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies HashMessage);
  }
};
