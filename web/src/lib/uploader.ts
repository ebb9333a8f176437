// The upload state machine of one file:
//
//   queued → hashing → creating ─┬─ upload null (known content) ───────────┐
//                                └→ uploading → confirming → processing ◄──┘
//   any step → failed (with the step to resume from) → retry → that step
//
// It knows nothing of React: the caller passes its dependencies and
// receives every change as a patch, which keeps it testable with mocks.
import type { Api } from './api';
import { Aborted, ApiError, StorageError, explain, type Explained } from './errors';
import type { Hasher } from './hashing';
import type { Putter } from './put';
import type { FileStatus, PresignedUpload, Verdict } from './types';

export type Stage =
  | 'queued'
  | 'hashing'
  | 'creating'
  | 'uploading'
  | 'confirming'
  | 'processing'
  | 'failed'
  | 'cancelled';

export interface UploadState {
  key: string;
  name: string;
  size: number;
  type: string;
  stage: Stage;
  /** Bytes hashed so far. */
  hashed: number;
  hashMs?: number;
  sha256?: string;
  id?: string;
  /** Status the api gave when the file was created or confirmed. */
  status?: FileStatus;
  upload?: PresignedUpload | null;
  /** Bytes sent to storage so far, and the recent rate in bytes per second. */
  sent: number;
  rate: number;
  uploadMs?: number;
  /** True when the api already had the content, so nothing was uploaded. */
  skipped: boolean;
  failedAt?: Stage;
  error?: Explained;
  /** The final verdict, once the live watch has reported it. */
  verdict?: Verdict;
}

export interface Deps {
  hash: Hasher;
  put: Putter;
  api: Pick<Api, 'create' | 'confirm'>;
  /** Runs the network part of an upload; a limiter bounds how many run at once. */
  slot?: <T>(task: () => Promise<T>, signal?: AbortSignal) => Promise<T>;
  now?: () => number;
}

export function initialState(key: string, file: File): UploadState {
  return {
    key,
    name: file.name,
    size: file.size,
    type: file.type,
    stage: 'queued',
    hashed: 0,
    sent: 0,
    rate: 0,
    skipped: false,
  };
}

/** RateMeter smooths bytes per second over the last couple of seconds. */
export class RateMeter {
  private samples: Array<[number, number]> = [];
  constructor(private windowMs = 2000) {}
  add(t: number, bytes: number): number {
    this.samples.push([t, bytes]);
    while (this.samples.length > 2 && t - this.samples[1][0] >= this.windowMs) this.samples.shift();
    const [t0, b0] = this.samples[0];
    return t > t0 ? ((bytes - b0) * 1000) / (t - t0) : 0;
  }
}

const resumeOrder: Stage[] = ['hashing', 'creating', 'uploading', 'confirming'];

/**
 * runUpload drives one file from its current state to `processing` (or
 * `failed`/`cancelled`), emitting a patch on every change. Called again on a
 * failed state it resumes from the step that failed.
 */
export async function runUpload(
  file: Blob,
  start: UploadState,
  deps: Deps,
  emit: (patch: Partial<UploadState>) => void,
  signal?: AbortSignal,
): Promise<UploadState> {
  const now = deps.now ?? (() => performance.now());
  const slot = deps.slot ?? ((task) => task());
  let s: UploadState = { ...start };
  const set = (p: Partial<UploadState>) => {
    s = { ...s, ...p };
    emit(p);
  };
  let from: Stage = s.failedAt ?? 'hashing';
  const at = (stage: Stage) => resumeOrder.indexOf(from) <= resumeOrder.indexOf(stage);
  set({ error: undefined, failedAt: undefined });

  try {
    if (at('hashing') || !s.sha256) {
      set({ stage: 'hashing', hashed: 0, sha256: undefined, id: undefined, upload: undefined });
      const r = await deps.hash(file, (done) => set({ hashed: done }), signal);
      set({ sha256: r.sha256, hashMs: r.ms, hashed: s.size });
      from = 'creating';
    }
    await slot(async () => {
      if (at('uploading') && s.upload && Date.parse(s.upload.expiresAt) < Date.now() + 5000) {
        from = 'creating'; // the presigned URL has expired (or is about to): ask for a new one
      }
      if (at('creating') || !s.id) {
        set({ stage: 'creating' });
        const c = await deps.api.create(
          { name: s.name, size: s.size, sha256: s.sha256!, contentType: s.type || undefined },
          signal,
        );
        set({ id: c.id, status: c.status, upload: c.upload });
        if (!c.upload) {
          set({ stage: 'processing', skipped: true });
          return;
        }
      }
      if (at('uploading') && s.upload) {
        set({ stage: 'uploading', sent: 0, rate: 0, uploadMs: undefined });
        const meter = new RateMeter();
        const t0 = now();
        meter.add(t0, 0);
        let lastEmit = 0;
        await deps.put(
          file,
          s.upload,
          ({ sent }) => {
            const t = now();
            const rate = meter.add(t, sent);
            if (t - lastEmit >= 100 || sent >= s.size) {
              lastEmit = t;
              set({ sent, rate });
            }
          },
          signal,
        );
        const ms = now() - t0;
        set({ sent: s.size, uploadMs: ms, rate: ms > 0 ? (s.size * 1000) / ms : s.rate });
      }
      set({ stage: 'confirming' });
      const c = await deps.api.confirm(s.id!, signal);
      set({ stage: 'processing', status: c.status as FileStatus });
    }, signal);
  } catch (e) {
    if (e instanceof Aborted || signal?.aborted) {
      set({ stage: 'cancelled' });
      return s;
    }
    set({ stage: 'failed', failedAt: resumeFrom(s.stage, e), error: explain(e) });
  }
  return s;
}

/** resumeFrom picks the step a retry starts from after err at stage. */
function resumeFrom(stage: Stage, err: unknown): Stage {
  if (err instanceof StorageError && (err.status === 400 || err.status === 403)) {
    // The bytes no longer match what was declared, or the link expired:
    // hash again and ask for a new presigned URL.
    return 'hashing';
  }
  if (err instanceof ApiError && err.code === 'upload_missing') return 'uploading';
  if (stage === 'queued') return 'hashing';
  return stage;
}
