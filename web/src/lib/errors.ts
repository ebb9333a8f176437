// Every failure the app can show, and how to say it in plain words.

/** ApiError is an application/problem+json answer (RFC 9457) from the api. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly field?: string;
  readonly retryAfter?: number;
  /** verdict_blocks_download: the verdict and the reasons behind it. */
  readonly verdict?: string;
  readonly reasons?: string[];

  constructor(p: {
    status: number; code?: string; title?: string; detail?: string; field?: string; retryAfter?: number;
    verdict?: string; reasons?: string[];
  }) {
    super(p.detail || p.title || `HTTP ${p.status}`);
    this.name = 'ApiError';
    this.status = p.status;
    this.code = p.code ?? '';
    this.title = p.title ?? '';
    this.detail = p.detail ?? '';
    this.field = p.field;
    this.retryAfter = p.retryAfter;
    this.verdict = p.verdict;
    this.reasons = p.reasons;
  }
}

/** NetworkError means the request never got an HTTP answer. */
export class NetworkError extends Error {
  constructor(readonly target: 'api' | 'storage', cause?: unknown) {
    super(`network error talking to ${target}`);
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

/** StorageError is a refusal from object storage of the presigned PUT. */
export class StorageError extends Error {
  constructor(readonly status: number, readonly code: string, readonly body: string) {
    super(`storage answered ${status}${code ? ' ' + code : ''}`);
    this.name = 'StorageError';
  }
}

/** Aborted means the user cancelled; it is never shown as an error. */
export class Aborted extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Aborted';
  }
}

export interface Explained {
  /** Short headline, e.g. "Network problem". */
  title: string;
  /** One or two plain sentences. */
  message: string;
  /** Whether trying again can help (network, 5xx, 429, storage refusals). */
  retryable: boolean;
  code?: string;
}

const friendly: Record<string, string> = {
  file_too_large: 'This file is larger than IntelliDox accepts.',
  upload_missing: 'The bytes did not reach storage, so the file could not be processed. Upload it again.',
  database_unavailable: 'IntelliDox cannot reach its database right now. Try again in a moment.',
  rate_limited: 'Too many requests at once. Wait a moment, then try again.',
  unauthorized: 'IntelliDox needs an API key. Enter it above, then try again.',
  forbidden: 'This API key is not allowed to do that.',
  not_found: 'IntelliDox does not know this file.',
  file_not_found: 'IntelliDox does not know this file.',
  route_not_found: 'This IntelliDox server does not offer that feature yet.',
  invalid_sha256: 'The file fingerprint (SHA-256) was not accepted.',
  invalid_name: 'The file name was not accepted.',
  too_many_auth_failures: 'Too many wrong API keys from this address. Wait a minute, then try again.',
  not_ready: 'IntelliDox is starting or missing a dependency. Try again in a moment.',
  internal: 'IntelliDox hit an internal error. It has been logged; try again.',
  verdict_pending: 'This file has no verdict yet. It can be downloaded once it is scanned and allowed.',
};

function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** explain turns any error into words a person can act on. */
export function explain(err: unknown): Explained {
  if (err instanceof ApiError) {
    const retryable = retryableStatus(err.status) || err.code === 'upload_missing' || err.status === 401;
    const known = friendly[err.code];
    let message = known ?? err.detail ?? err.title;
    if (known && err.detail && !known.includes(err.detail) && err.code !== 'internal') {
      message = `${known} (${err.detail})`;
    }
    if (!message) message = `The server answered ${err.status}.`;
    if (err.retryAfter && err.status === 429) message += ` Retry in about ${err.retryAfter} s.`;
    return { title: titleFor(err), message, retryable, code: err.code || undefined };
  }
  if (err instanceof StorageError) {
    if (err.code === 'BadDigest' || err.status === 403 || err.status === 400) {
      const expired = /expired/i.test(err.body);
      return {
        title: 'Storage refused the upload',
        message: expired
          ? 'Storage refused the bytes: the upload link expired. Try again to get a new one.'
          : 'Storage refused the bytes: the file changed while uploading? Try again to hash and upload it afresh.',
        retryable: true,
        code: err.code || String(err.status),
      };
    }
    return {
      title: 'Storage problem',
      message: `Storage answered ${err.status}${err.code ? ` (${err.code})` : ''}. Try again in a moment.`,
      retryable: retryableStatus(err.status),
      code: err.code || String(err.status),
    };
  }
  if (err instanceof NetworkError) {
    return {
      title: 'Network problem',
      message:
        err.target === 'storage'
          ? 'The connection to storage was lost during the upload. Check your network and try again.'
          : 'IntelliDox could not be reached. Check your network and try again.',
      retryable: true,
    };
  }
  if (err instanceof Error && err.name === 'HashError') {
    return { title: 'Could not read the file', message: err.message, retryable: true };
  }
  return {
    title: 'Something went wrong',
    message: err instanceof Error ? err.message : String(err),
    retryable: true,
  };
}

function titleFor(err: ApiError): string {
  if (err.status === 401) return 'API key needed';
  if (err.status === 429) return 'Slow down';
  if (err.status >= 500) return 'Server problem';
  return err.title || 'Request refused';
}
