// Shapes of the IntelliDox REST contract (v1) that the web app relies on.

export type FileStatus = 'awaiting_upload' | 'processing' | 'done' | 'rejected';
export type Verdict = 'pending' | 'clean' | 'malicious' | 'suspicious' | 'unscanned';
export type EngineOutcome = 'clean' | 'malicious' | 'suspicious' | 'error' | 'skipped';

/** One presigned PUT (url, headers), or, for a file sent in parts, one per part. */
export interface PresignedUpload {
  url?: string;
  method: 'PUT';
  headers?: Record<string, string>;
  partSize?: number;
  parts?: UploadPart[];
  expiresAt: string;
}

export interface UploadPart {
  number: number;
  size: number;
  /** Storage holds it already (in the upload's state); it has no URL then. */
  received: boolean;
  url?: string;
  headers?: Record<string, string>;
}

/** GET /v1/files/{id}/upload: what storage holds, and URLs for the rest. */
export interface UploadStateResponse {
  id: string;
  status: FileStatus;
  receivedBytes: number;
  upload: PresignedUpload;
}

export interface CreateRequest {
  name: string;
  size: number;
  sha256: string;
  contentType?: string;
  partSize?: number;
  partSha256?: string[];
}

export interface CreateResponse {
  id: string;
  status: FileStatus;
  sha256: string;
  upload: PresignedUpload | null;
}

export interface Finding {
  code: string;
  message: string;
  effect?: string;
}

export interface FileInfo {
  id: string;
  name: string;
  size: number;
  sha256: string;
  md5?: string;
  sha1?: string;
  contentType: string;
  mimeType?: string;
  status: FileStatus;
  verdict: Verdict;
  reason?: string;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

export interface EngineResult {
  engine: string;
  result: EngineOutcome;
  threats: string[] | null;
  engineVersion: string;
  signatureVersion: string;
  scannedAt: string;
  durationMs: number;
  detail?: string;
}

/** A download URL from the api's download gate (GET /v1/files/{id}/download). */
export interface Download {
  url: string;
  expiresAt: string;
  name: string;
  verdict: Verdict;
}

export interface Scans {
  verdict: Verdict;
  complete: boolean;
  engines: EngineResult[];
  pending?: string[] | null;
}

export interface FileList {
  items: FileInfo[];
  nextCursor: string | null;
}

/** Data of the `status` and `done` Server-Sent Events. */
export interface StatusEvent {
  id: string;
  status: FileStatus;
  verdict: Verdict;
}

/** A file's status is final once it is done or rejected. */
export function isFinal(status: FileStatus | undefined): boolean {
  return status === 'done' || status === 'rejected';
}
