// The upload state machine of one file:
//
//   queued → hashing → creating ─┬─ upload null (known content) ───────────┐
//                                └→ uploading → confirming → processing ◄──┘
//   any step → failed (with the step to resume from) → retry → that step
//
// It knows nothing of React: the caller passes its dependencies and
// receives every change as a patch, which keeps it testable with mocks.
//
// Files over MULTIPART_THRESHOLD go up in parts. Such an upload is noted
// (Deps.resume) until it is confirmed, so that after a reload, the same
// file chosen again resumes it: the api lists the parts storage holds and
// only the others are sent.
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
  /** For a file sent in parts: the part size and each part's SHA-256. */
  partSize?: number;
  partSha256?: string[];
  /** True when this upload continues one an earlier page started, whose
   * parts holding resumedBytes storage had already. */
  resumed?: boolean;
  resumedBytes?: number;
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

/** What is kept of an upload in parts, to resume it after a reload. */
export interface ResumeEntry {
  id: string;
  sha256: string;
}

/** ResumeStore keeps ResumeEntry by file identity (name, size, modified). */
export interface ResumeStore {
  find(key: string): ResumeEntry | undefined;
  save(key: string, e: ResumeEntry): void;
  drop(key: string): void;
}

/** localResume keeps the entries in localStorage, for a week. */
export const localResume: ResumeStore = {
  find(key) {
    try {
      const raw = localStorage.getItem(`intellidox.upload.${key}`);
      if (!raw) return undefined;
      const e = JSON.parse(raw) as ResumeEntry & { at: number };
      if (Date.now() - e.at > 7 * 24 * 3600 * 1000) return undefined;
      return { id: e.id, sha256: e.sha256 };
    } catch {
      return undefined;
    }
  },
  save(key, e) {
    try {
      localStorage.setItem(`intellidox.upload.${key}`, JSON.stringify({ ...e, at: Date.now() }));
    } catch {
      // Storage full or disabled: the upload works, it just cannot resume.
    }
  },
  drop(key) {
    try {
      localStorage.removeItem(`intellidox.upload.${key}`);
    } catch {
      // as above
    }
  },
};

/** Files over this many bytes are sent in parts (the api's default threshold). */
export const MULTIPART_THRESHOLD = 64 << 20;
const MAX_PARTS = 10_000;

/** partSizeFor mirrors the Go client: 64 MiB, or more to stay within 10 000 parts. */
export function partSizeFor(size: number): number {
  const need = Math.ceil(size / MAX_PARTS);
  if (need <= MULTIPART_THRESHOLD) return MULTIPART_THRESHOLD;
  const mib = 1 << 20;
  return Math.ceil(need / mib) * mib;
}

/** fileKey names a chosen file across page loads. */
export function fileKey(file: Blob, name: string): string {
  const modified = (file as Partial<File>).lastModified ?? 0;
  return `${name}|${file.size}|${modified}`;
}

export interface Deps {
  hash: Hasher;
  put: Putter;
  api: Pick<Api, 'create' | 'confirm'> & Partial<Pick<Api, 'uploadState'>>;
  /** Notes uploads in parts so that a reload can resume them. */
  resume?: ResumeStore;
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

  const key = fileKey(file, s.name);
  const hash = async (partSize?: number) => {
    set({ stage: 'hashing', hashed: 0, sha256: undefined, id: undefined, upload: undefined });
    const r = await deps.hash(file, (done) => set({ hashed: done }), signal, partSize);
    set({ sha256: r.sha256, partSize, partSha256: r.parts, hashMs: r.ms, hashed: s.size });
  };
  // resume continues the upload in parts noted under this file's key, if
  // the api still awaits it; it reports whether it did.
  const resume = async (): Promise<boolean> => {
    const saved = deps.resume?.find(key);
    if (!saved || !deps.api.uploadState) return false;
    try {
      const st = await deps.api.uploadState(saved.id, signal);
      set({ id: saved.id, sha256: saved.sha256, status: st.status, upload: st.upload, resumed: true,
        resumedBytes: st.receivedBytes, hashed: s.size });
      return true;
    } catch (e) {
      if (e instanceof Aborted || signal?.aborted) throw e;
      deps.resume?.drop(key); // confirmed, expired or gone: start afresh
      return false;
    }
  };

  try {
    if (at('hashing') || !s.sha256) {
      if (await resume()) from = 'uploading';
      else {
        await hash(s.size > MULTIPART_THRESHOLD ? partSizeFor(s.size) : undefined);
        from = 'creating';
      }
    }
    await slot(async () => {
      if (at('uploading') && s.upload && Date.parse(s.upload.expiresAt) < Date.now() + 5000) {
        // The presigned URLs have expired (or are about to): an upload in
        // parts gets fresh ones for the same id; another, a new upload.
        if (!(s.upload.parts && (await resume()))) from = 'creating';
      }
      if (at('creating') || !s.id) {
        set({ stage: 'creating' });
        const req = () => ({
          name: s.name,
          size: s.size,
          sha256: s.sha256!,
          contentType: s.type || undefined,
          partSize: s.partSize,
          partSha256: s.partSha256,
        });
        let c;
        try {
          c = await deps.api.create(req(), signal);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 'parts_required' && !s.partSize)) throw e;
          // The api takes smaller files in parts than this page thought.
          await hash(partSizeFor(s.size));
          set({ stage: 'creating' });
          c = await deps.api.create(req(), signal);
        }
        set({ id: c.id, status: c.status, upload: c.upload });
        if (!c.upload) {
          set({ stage: 'processing', skipped: true });
          return;
        }
        if (c.upload.parts?.length) deps.resume?.save(key, { id: c.id, sha256: s.sha256! });
      }
      if (at('uploading') && s.upload) {
        const already = s.resumed ? (s.resumedBytes ?? 0) : 0;
        set({ stage: 'uploading', sent: already, rate: 0, uploadMs: undefined });
        const meter = new RateMeter();
        const t0 = now();
        meter.add(t0, already);
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
        const sent = s.size - already;
        set({ sent: s.size, uploadMs: ms, rate: ms > 0 ? (sent * 1000) / ms : s.rate });
      }
      set({ stage: 'confirming' });
      const c = await deps.api.confirm(s.id!, signal);
      deps.resume?.drop(key);
      set({ stage: 'processing', status: c.status as FileStatus });
    }, signal);
  } catch (e) {
    if (e instanceof Aborted || signal?.aborted) {
      set({ stage: 'cancelled' });
      return s;
    }
    if (e instanceof StorageError && e.status === 400) deps.resume?.drop(key); // the file changed: start afresh
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
  // Parts are missing: the upload's state (reached through hashing, which
  // resumes a noted upload) lists them.
  if (err instanceof ApiError && err.code === 'upload_incomplete') return 'hashing';
  if (stage === 'queued') return 'hashing';
  return stage;
}
