import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api } from '../src/lib/api';
import { resetAuth, setApiKey, authRequired } from '../src/lib/auth';
import { putWithXHR } from '../src/lib/put';
import { initialState, runUpload, type Deps, type Stage, type UploadState } from '../src/lib/uploader';
import { json, mockFetch, mockXHR, problem } from './mocks';

const SHA = 'a'.repeat(64);
const file = new File(['hello, world\n'], 'notes.txt', { type: 'text/plain' });
const upload = {
  url: 'http://storage.test/bucket/key?X-Amz-Signature=abc',
  method: 'PUT' as const,
  headers: { 'x-amz-checksum-sha256': 'qqqq', 'content-type': 'text/plain', 'content-length': '13' },
  expiresAt: new Date(Date.now() + 3600_000).toISOString(),
};

function deps(hashCalls: { n: number } = { n: 0 }): Deps {
  return {
    hash: async (_f, onProgress) => {
      hashCalls.n++;
      onProgress(6);
      onProgress(13);
      return { sha256: SHA, ms: 1 };
    },
    put: putWithXHR,
    api,
  };
}

async function run(d: Deps, start?: UploadState) {
  const stages: Stage[] = [];
  const patches: Array<Partial<UploadState>> = [];
  const s = await runUpload(file, start ?? initialState('k', file), d, (p) => {
    patches.push(p);
    if (p.stage && stages[stages.length - 1] !== p.stage) stages.push(p.stage);
  });
  return { s, stages, patches };
}

beforeEach(() => {
  localStorage.clear();
  resetAuth();
});
afterEach(() => vi.unstubAllGlobals());

describe('runUpload', () => {
  it('hashes, creates, uploads with every presigned header, confirms', async () => {
    const calls = mockFetch({
      'POST /v1/files': () => json(201, { id: 'f1', status: 'awaiting_upload', sha256: SHA, upload }),
      'POST /v1/files/f1/confirm': () => json(202, { id: 'f1', status: 'processing' }),
    });
    const puts = mockXHR([{ status: 200 }]);
    const { s, stages, patches } = await run(deps());

    expect(stages).toEqual(['hashing', 'creating', 'uploading', 'confirming', 'processing']);
    expect(s.stage).toBe('processing');
    expect(s.id).toBe('f1');
    expect(s.skipped).toBe(false);
    expect(JSON.parse(calls[0].init.body as string)).toEqual({ name: 'notes.txt', size: 13, sha256: SHA, contentType: 'text/plain' });
    expect(puts).toHaveLength(1);
    expect(puts[0].method).toBe('PUT');
    expect(puts[0].url).toBe(upload.url);
    expect(puts[0].headers['x-amz-checksum-sha256']).toBe('qqqq');
    expect(puts[0].headers['content-type']).toBe('text/plain');
    expect(puts[0].headers['content-length']).toBeUndefined(); // the browser sets it
    expect(puts[0].body).toBe(file);
    expect(patches.some((p) => p.sent !== undefined && p.sent > 0 && p.sent < 13)).toBe(true);
    expect(s.sent).toBe(13);
  });

  it('skips the upload when the content is already known', async () => {
    mockFetch({ 'POST /v1/files': () => json(201, { id: 'f2', status: 'done', sha256: SHA, upload: null }) });
    const puts = mockXHR([{ status: 200 }]);
    const { s, stages } = await run(deps());
    expect(stages).toEqual(['hashing', 'creating', 'processing']);
    expect(s.skipped).toBe(true);
    expect(s.status).toBe('done');
    expect(puts).toHaveLength(0);
  });

  it('explains a storage refusal (BadDigest) and a retry hashes and creates afresh', async () => {
    const calls = mockFetch({
      'POST /v1/files': [
        () => json(201, { id: 'f3', status: 'awaiting_upload', sha256: SHA, upload }),
        () => json(201, { id: 'f4', status: 'awaiting_upload', sha256: SHA, upload }),
      ],
      'POST /v1/files/f4/confirm': () => json(202, { id: 'f4', status: 'processing' }),
    });
    mockXHR([{ status: 400, body: '<?xml version="1.0"?><Error><Code>BadDigest</Code></Error>' }, { status: 200 }]);
    const hashes = { n: 0 };
    const first = await run(deps(hashes));
    expect(first.s.stage).toBe('failed');
    expect(first.s.failedAt).toBe('hashing');
    expect(first.s.error?.message).toContain('Storage refused the bytes: the file changed while uploading?');
    expect(first.s.error?.retryable).toBe(true);

    const again = await run(deps(hashes), first.s);
    expect(again.s.stage).toBe('processing');
    expect(again.s.id).toBe('f4');
    expect(hashes.n).toBe(2);
    expect(calls.filter((c) => c.url === '/v1/files')).toHaveLength(2);
  });

  it('resumes at the upload when confirm says upload_missing', async () => {
    mockFetch({
      'POST /v1/files': () => json(201, { id: 'f5', status: 'awaiting_upload', sha256: SHA, upload }),
      'POST /v1/files/f5/confirm': [() => problem(409, 'upload_missing', 'The object is not in storage.'), () => json(202, { id: 'f5', status: 'processing' })],
    });
    const puts = mockXHR([{ status: 200 }]);
    const first = await run(deps());
    expect(first.s.stage).toBe('failed');
    expect(first.s.failedAt).toBe('uploading');
    expect(first.s.error?.code).toBe('upload_missing');
    const again = await run(deps(), first.s);
    expect(again.stages).toEqual(['uploading', 'confirming', 'processing']);
    expect(puts).toHaveLength(2);
  });

  it('reports network loss during the upload as retryable, and retry resumes the upload', async () => {
    mockFetch({
      'POST /v1/files': () => json(201, { id: 'f6', status: 'awaiting_upload', sha256: SHA, upload }),
      'POST /v1/files/f6/confirm': () => json(202, { id: 'f6', status: 'processing' }),
    });
    mockXHR([{ status: 0, networkError: true }, { status: 200 }]);
    const first = await run(deps());
    expect(first.s.stage).toBe('failed');
    expect(first.s.error?.title).toBe('Network problem');
    expect(first.s.failedAt).toBe('uploading');
    const again = await run(deps(), first.s);
    expect(again.s.stage).toBe('processing');
  });

  it('does not offer retry for a validation error', async () => {
    mockFetch({ 'POST /v1/files': () => problem(413, 'file_too_large', 'Files up to 2 GB are accepted.') });
    const { s } = await run(deps());
    expect(s.stage).toBe('failed');
    expect(s.error?.retryable).toBe(false);
    expect(s.error?.message).toContain('larger than IntelliDox accepts');
  });

  it('sends the API key on API calls but not on the storage PUT', async () => {
    setApiKey('sekret');
    const calls = mockFetch({
      'POST /v1/files': () => json(201, { id: 'f7', status: 'awaiting_upload', sha256: SHA, upload }),
      'POST /v1/files/f7/confirm': () => json(202, { id: 'f7', status: 'processing' }),
    });
    const puts = mockXHR([{ status: 200 }]);
    await run(deps());
    for (const c of calls) expect(new Headers(c.init.headers).get('Authorization')).toBe('Bearer sekret');
    expect(Object.keys(puts[0].headers).map((h) => h.toLowerCase())).not.toContain('authorization');
  });

  it('marks authentication as required on 401', async () => {
    mockFetch({ 'POST /v1/files': () => problem(401, 'unauthorized', 'An API key is required.') });
    expect(authRequired()).toBe(false);
    const { s } = await run(deps());
    expect(s.error?.title).toBe('API key needed');
    expect(authRequired()).toBe(true);
  });
});

describe('uploads in parts', () => {
  const parts = (received: number[] = []) => ({
    method: 'PUT' as const,
    partSize: 8,
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    parts: [1, 2].map((n) => ({
      number: n,
      size: n === 1 ? 8 : 5,
      received: received.includes(n),
      url: received.includes(n) ? undefined : `http://storage.test/key?partNumber=${n}`,
      headers: received.includes(n) ? undefined : { 'x-amz-checksum-sha256': `sum${n}` },
    })),
  });
  function memResume(entries: Record<string, { id: string; sha256: string }> = {}) {
    const log: string[] = [];
    return {
      entries,
      log,
      find: (k: string) => entries[k],
      save: (k: string, e: { id: string; sha256: string }) => {
        log.push(`save ${e.id}`);
        entries[k] = e;
      },
      drop: (k: string) => {
        log.push('drop');
        delete entries[k];
      },
    };
  }
  function partDeps(hashed: Array<number | undefined>, resume: ReturnType<typeof memResume>): Deps {
    return {
      hash: async (_f, onProgress, _s, partSize) => {
        hashed.push(partSize);
        onProgress(13);
        return { sha256: SHA, parts: partSize ? ['p1', 'p2'] : undefined, ms: 1 };
      },
      put: putWithXHR,
      api,
      resume,
    };
  }

  it('hashes the parts when the api asks for them, sends each slice to its URL and notes the upload until confirmed', async () => {
    const calls = mockFetch({
      'POST /v1/files': [
        () => problem(400, 'parts_required', 'files over 4 bytes are uploaded in parts'),
        () => json(201, { id: 'f9', status: 'awaiting_upload', sha256: SHA, upload: parts() }),
      ],
      'POST /v1/files/f9/confirm': () => json(202, { id: 'f9', status: 'processing' }),
    });
    const puts = mockXHR([{ status: 200 }]);
    const hashed: Array<number | undefined> = [];
    const resume = memResume();
    const { s, stages } = await run(partDeps(hashed, resume));
    expect(s.stage).toBe('processing');
    expect(stages).toEqual(['hashing', 'creating', 'hashing', 'creating', 'uploading', 'confirming', 'processing']);
    expect(hashed).toEqual([undefined, 64 << 20]);
    const body = JSON.parse(calls[1].init.body as string);
    expect(body.partSize).toBe(64 << 20);
    expect(body.partSha256).toEqual(['p1', 'p2']);
    expect(puts.map((p) => p.url).sort()).toEqual(['http://storage.test/key?partNumber=1', 'http://storage.test/key?partNumber=2']);
    const sizes = Object.fromEntries(puts.map((p) => [p.url.slice(-1), (p.body as Blob).size]));
    expect(sizes).toEqual({ '1': 8, '2': 5 });
    expect(puts.find((p) => p.url.endsWith('2'))!.headers['x-amz-checksum-sha256']).toBe('sum2');
    expect(await (puts.find((p) => p.url.endsWith('2'))!.body as Blob).text()).toBe('world\n'.slice(1));
    expect(resume.log).toEqual(['save f9', 'drop']);
    expect(s.sent).toBe(13);
  });

  it('resumes a noted upload after a reload: no hashing, only the parts storage lacks', async () => {
    const calls = mockFetch({
      'GET /v1/files/f9/upload': () => json(200, { id: 'f9', status: 'awaiting_upload', receivedBytes: 8, upload: parts([1]) }),
      'POST /v1/files/f9/confirm': () => json(202, { id: 'f9', status: 'processing' }),
    });
    const puts = mockXHR([{ status: 200 }]);
    const hashed: Array<number | undefined> = [];
    const resume = memResume({ [`notes.txt|13|${file.lastModified}`]: { id: 'f9', sha256: SHA } });
    const { s, stages, patches } = await run(partDeps(hashed, resume));
    expect(s.stage).toBe('processing');
    expect(s.resumed).toBe(true);
    expect(hashed).toEqual([]);
    expect(stages).toEqual(['uploading', 'confirming', 'processing']);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /v1/files/f9/upload', 'POST /v1/files/f9/confirm']);
    expect(puts).toHaveLength(1);
    expect(puts[0].url).toContain('partNumber=2');
    expect(patches.some((p) => p.sent === 8)).toBe(true); // the received part counts as sent
  });

  it('starts afresh when the api no longer awaits the noted upload', async () => {
    mockFetch({
      'GET /v1/files/f9/upload': () => problem(410, 'upload_expired'),
      'POST /v1/files': () => json(201, { id: 'f10', status: 'awaiting_upload', sha256: SHA, upload }),
      'POST /v1/files/f10/confirm': () => json(202, { id: 'f10', status: 'processing' }),
    });
    mockXHR([{ status: 200 }]);
    const hashed: Array<number | undefined> = [];
    const resume = memResume({ [`notes.txt|13|${file.lastModified}`]: { id: 'f9', sha256: SHA } });
    const { s } = await run(partDeps(hashed, resume));
    expect(s.stage).toBe('processing');
    expect(s.id).toBe('f10');
    expect(hashed).toEqual([undefined]);
    expect(resume.entries).toEqual({});
  });
});
