import { describe, expect, it } from 'vitest';
import { ApiError, NetworkError, StorageError, explain } from '../src/lib/errors';

describe('explain', () => {
  it.each([
    [{ status: 413, code: 'file_too_large', detail: 'The limit is 2 GB.' }, /larger than IntelliDox accepts.*2 GB/, false],
    [{ status: 409, code: 'upload_missing', detail: 'No object.' }, /did not reach storage/, true],
    [{ status: 503, code: 'database_unavailable', detail: '' }, /cannot reach its database/, true],
    [{ status: 429, code: 'rate_limited', detail: '', retryAfter: 7 }, /Too many requests.*7 s/, true],
    [{ status: 400, code: 'invalid_field', detail: 'size must be a JSON number.', field: 'size' }, /^size must be a JSON number\.$/, false],
    [{ status: 500, code: 'internal', detail: 'An internal error occurred.' }, /internal error/, true],
  ])('maps problem %j to plain words', (p, text, retryable) => {
    const ex = explain(new ApiError(p));
    expect(ex.message).toMatch(text);
    expect(ex.retryable).toBe(retryable);
  });

  it('says storage refused the bytes on BadDigest', () => {
    const ex = explain(new StorageError(400, 'BadDigest', '<Error><Code>BadDigest</Code></Error>'));
    expect(ex.message).toContain('storage refused the bytes: the file changed while uploading?'.replace('storage', 'Storage'));
    expect(ex.retryable).toBe(true);
  });

  it('treats a 403 from storage as refused bytes too', () => {
    expect(explain(new StorageError(403, 'SignatureDoesNotMatch', '')).title).toBe('Storage refused the upload');
  });

  it('explains network loss and lets the user retry', () => {
    const ex = explain(new NetworkError('storage'));
    expect(ex.title).toBe('Network problem');
    expect(ex.retryable).toBe(true);
  });

  it('asks for an API key on 401', () => {
    const ex = explain(new ApiError({ status: 401, code: 'unauthorized', detail: 'Missing key.' }));
    expect(ex.title).toBe('API key needed');
  });
});
