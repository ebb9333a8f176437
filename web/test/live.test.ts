import { afterEach, describe, expect, it, vi } from 'vitest';
import { watchFile, type LiveState } from '../src/lib/live';
import type { FileInfo, Scans } from '../src/lib/types';

class FakeES {
  static all: FakeES[] = [];
  readyState = 0;
  closed = false;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, Array<(ev: MessageEvent) => void>>();
  constructor(public url: string) {
    FakeES.all.push(this);
  }
  addEventListener(type: string, fn: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  emit(type: string, data: unknown) {
    for (const fn of this.listeners.get(type) ?? []) fn(new MessageEvent(type, { data: JSON.stringify(data) }));
  }
  fail(closed = false) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.();
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
}

const file = (p: Partial<FileInfo>): FileInfo => ({
  id: 'f1', name: 'eicar.com', size: 68, sha256: 'e'.repeat(64), contentType: '', status: 'processing',
  verdict: 'pending', metadata: {}, createdAt: '', updatedAt: '', ...p,
});
const pendingScans: Scans = { verdict: 'pending', complete: false, engines: [], pending: ['clamav'] };
const result = { engine: 'clamav', result: 'malicious' as const, threats: ['EICAR'], engineVersion: '1', signatureVersion: '2', scannedAt: '', durationMs: 3 };

async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

afterEach(() => {
  FakeES.all = [];
  vi.restoreAllMocks();
});

describe('watchFile', () => {
  it('applies status and scan events live and closes the stream on done', async () => {
    let final = false;
    const a = {
      get: vi.fn(async () => file(final ? { status: 'done', verdict: 'malicious' } : {})),
      scans: vi.fn(async () => (final ? { ...pendingScans, engines: [result], pending: [], complete: true, verdict: 'malicious' as const } : pendingScans)),
    };
    const states: LiveState[] = [];
    watchFile('f1', (s) => states.push(s), { api: a, eventSource: (u) => new FakeES(u) as unknown as EventSource });
    await until(() => FakeES.all.length === 1);
    const es = FakeES.all[0];
    expect(es.url).toBe('/v1/files/f1/events');

    es.emit('status', { id: 'f1', status: 'processing', verdict: 'pending' });
    es.emit('scan', result);
    let last = states[states.length - 1];
    expect(last.channel).toBe('live');
    expect(last.scans?.engines).toEqual([result]);
    expect(last.scans?.pending).toEqual([]);

    final = true;
    es.emit('done', { id: 'f1', status: 'done', verdict: 'malicious' });
    expect(es.closed).toBe(true);
    await until(() => states[states.length - 1].channel === 'closed');
    last = states[states.length - 1];
    expect(last.file?.verdict).toBe('malicious');
    expect(last.scans?.complete).toBe(true);
  });

  it('does not open a stream for a file that is already final', async () => {
    const a = { get: vi.fn(async () => file({ status: 'done', verdict: 'clean' })), scans: vi.fn(async () => pendingScans) };
    const states: LiveState[] = [];
    watchFile('f1', (s) => states.push(s), { api: a, eventSource: (u) => new FakeES(u) as unknown as EventSource });
    await until(() => states.some((s) => s.channel === 'closed'));
    expect(FakeES.all).toHaveLength(0);
  });

  it('falls back to polling after repeated stream errors', async () => {
    let calls = 0;
    const a = {
      get: vi.fn(async () => (++calls >= 3 ? file({ status: 'done', verdict: 'clean' }) : file({}))),
      scans: vi.fn(async () => pendingScans),
    };
    const states: LiveState[] = [];
    watchFile('f1', (s) => states.push(s), { api: a, eventSource: (u) => new FakeES(u) as unknown as EventSource, maxStreamErrors: 2, pollMs: 10 });
    await until(() => FakeES.all.length === 1);
    const es = FakeES.all[0];
    es.fail();
    expect(es.closed).toBe(false); // the browser reconnects by itself once
    es.fail();
    expect(es.closed).toBe(true);
    await until(() => states[states.length - 1].channel === 'closed');
    expect(states.some((s) => s.channel === 'polling')).toBe(true);
    expect(states[states.length - 1].file?.verdict).toBe('clean');
  });

  it('polls at once when the browser gives the stream up (404)', async () => {
    const a = { get: vi.fn(async () => file({})), scans: vi.fn(async () => pendingScans) };
    const states: LiveState[] = [];
    const stop = watchFile('f1', (s) => states.push(s), { api: a, eventSource: (u) => new FakeES(u) as unknown as EventSource, pollMs: 10 });
    await until(() => FakeES.all.length === 1);
    FakeES.all[0].fail(true);
    await until(() => a.get.mock.calls.length >= 3);
    expect(states.some((s) => s.channel === 'polling')).toBe(true);
    stop();
  });
});

describe('staleEngines', () => {
  const r = (engine: string, scannedAt: string) => ({ engine, result: 'clean' as const, threats: [], engineVersion: '', signatureVersion: '', scannedAt, durationMs: 1 });
  it('lists engines whose result has not changed since the rescan', async () => {
    const { staleEngines } = await import('../src/lib/live');
    const before = { clamav: 't1', yara: 't1' };
    const scans = { verdict: 'clean' as const, complete: true, engines: [r('clamav', 't2'), r('yara', 't1')], pending: [] };
    expect(staleEngines(scans, { engines: [], before, deadlineMs: 1 })).toEqual(['yara']);
    expect(staleEngines(scans, { engines: ['clamav'], before, deadlineMs: 1 })).toEqual([]);
  });
});

describe('stream budget', () => {
  it('polls instead of opening a stream past the limit, and frees the slot on done', async () => {
    const { streamsOpen } = await import('../src/lib/live');
    const a = { get: vi.fn(async () => file({})), scans: vi.fn(async () => pendingScans) };
    const mk = (u: string) => new FakeES(u) as unknown as EventSource;
    const s1: LiveState[] = [];
    const s2: LiveState[] = [];
    const stop1 = watchFile('f1', (s) => s1.push(s), { api: a, eventSource: mk, streamLimit: 1, pollMs: 10 });
    await until(() => FakeES.all.length === 1);
    const stop2 = watchFile('f2', (s) => s2.push(s), { api: a, eventSource: mk, streamLimit: 1, pollMs: 10 });
    await until(() => s2.some((s) => s.channel === 'polling'));
    expect(FakeES.all).toHaveLength(1);
    expect(streamsOpen()).toBe(1);
    FakeES.all[0].emit('done', { id: 'f1', status: 'done', verdict: 'clean' });
    expect(streamsOpen()).toBe(0);
    stop1();
    stop2();
  });
});
