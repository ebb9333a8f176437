// Live status of one file: Server-Sent Events from /v1/files/{id}/events,
// with a fallback to polling GET /v1/files/{id} and /scans when the stream
// fails repeatedly (or cannot carry the API key).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api as realApi, type Api } from './api';
import { apiKey } from './auth';
import type { EngineResult, FileInfo, Scans, StatusEvent } from './types';
import { isFinal } from './types';

export type Channel = 'connecting' | 'live' | 'polling' | 'rescanning' | 'closed';

export interface LiveState {
  file: FileInfo | null;
  scans: Scans | null;
  channel: Channel;
  /** The last failure to fetch, while polling keeps trying. */
  error: unknown;
}

/**
 * Browsers allow about six HTTP/1.1 connections per origin, and each open
 * EventSource holds one. Past this many streams, files are polled instead, so
 * that API calls are never starved by many files being watched at once.
 */
export const maxStreams = 3;
let openStreams = 0;

/** For tests: how many streams are open. */
export function streamsOpen(): number {
  return openStreams;
}

export interface WatchOptions {
  api?: Pick<Api, 'get' | 'scans'>;
  eventSource?: (url: string) => EventSource;
  /** Consecutive stream errors after which polling takes over. */
  maxStreamErrors?: number;
  pollMs?: number;
  maxPollMs?: number;
  /**
   * After a rescan the file stays final, so there is no stream to follow:
   * poll /scans until every engine asked for has a newer result, or until
   * the deadline (engines may reuse a result for unchanged signatures).
   */
  rescan?: RescanWatch;
  /** Streams allowed at once across all watches (default maxStreams). */
  streamLimit?: number;
}

export interface RescanWatch {
  /** Engines asked to rescan; empty means every engine that has a result. */
  engines: string[];
  /** Each engine's scannedAt before the rescan. */
  before: Record<string, string>;
  deadlineMs: number;
}

/** stale lists the engines of w whose result has not changed since the rescan. */
export function staleEngines(scans: Scans | null, w: RescanWatch): string[] {
  const targets = w.engines.length ? w.engines : Object.keys(w.before);
  return targets.filter((e) => {
    const r = scans?.engines.find((x) => x.engine === e);
    return !r || (w.before[e] !== undefined && r.scannedAt === w.before[e]);
  });
}

/** mergeScan puts one engine result into scans, replacing that engine's older one. */
export function mergeScan(scans: Scans | null, r: EngineResult): Scans {
  const base: Scans = scans ?? { verdict: 'pending', complete: false, engines: [], pending: [] };
  const engines = base.engines.filter((e) => e.engine !== r.engine);
  engines.push(r);
  engines.sort((a, b) => a.engine.localeCompare(b.engine));
  const pending = (base.pending ?? []).filter((p) => p !== r.engine);
  return { ...base, engines, pending };
}

/**
 * watchFile reports a file's state through onChange until its verdict is
 * final, then stops. It returns a function that stops it early.
 */
export function watchFile(id: string, onChange: (s: LiveState) => void, opts: WatchOptions = {}): () => void {
  const a = opts.api ?? realApi;
  const mkES = opts.eventSource ?? ((url: string) => new EventSource(url));
  const maxErrors = opts.maxStreamErrors ?? 3;
  const pollMs = opts.pollMs ?? 1500;
  const maxPollMs = opts.maxPollMs ?? 5000;
  const ctl = new AbortController();
  let state: LiveState = { file: null, scans: null, channel: 'connecting', error: null };
  let es: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const set = (p: Partial<LiveState>) => {
    if (stopped) return;
    state = { ...state, ...p };
    onChange(state);
  };
  const closeStream = () => {
    if (!es) return;
    es.close();
    es = null;
    openStreams--;
  };
  const stop = () => {
    stopped = true;
    ctl.abort();
    closeStream();
    clearTimeout(timer);
  };

  const snapshot = async () => {
    const [file, scans] = await Promise.all([a.get(id, ctl.signal), a.scans(id, ctl.signal)]);
    set({ file, scans, error: null });
    return file;
  };

  const finish = async () => {
    closeStream();
    try {
      await snapshot();
    } catch (e) {
      if (!ctl.signal.aborted) set({ error: e });
    }
    set({ channel: 'closed' });
    stopped = true;
  };

  const poll = (delay: number) => {
    set({ channel: 'polling' });
    timer = setTimeout(async () => {
      try {
        const f = await snapshot();
        if (isFinal(f.status) && f.verdict !== 'pending') {
          set({ channel: 'closed' });
          stopped = true;
          return;
        }
        poll(pollMs);
      } catch (e) {
        if (ctl.signal.aborted) return;
        set({ error: e });
        poll(Math.min(maxPollMs, delay * 1.5));
      }
    }, delay);
  };

  const stream = () => {
    let errors = 0;
    // EventSource cannot send an Authorization header: the api accepts the
    // key as ?access_token= on event streams (and only there).
    const key = apiKey();
    const query = key ? `?access_token=${encodeURIComponent(key)}` : '';
    const src = mkES(`/v1/files/${encodeURIComponent(id)}/events${query}`);
    es = src;
    openStreams++;
    const onStatus = (ev: MessageEvent) => {
      errors = 0;
      const d = JSON.parse(ev.data) as StatusEvent;
      const before = state.file;
      if (before) set({ file: { ...before, status: d.status, verdict: d.verdict }, channel: 'live' });
      else set({ channel: 'live' });
      if (before && before.status !== d.status) {
        // A new status can bring metadata and hashes: refresh the record.
        a.get(id, ctl.signal).then(
          (file) => set({ file: { ...file, status: state.file?.status ?? file.status, verdict: state.file?.verdict ?? file.verdict } }),
          () => undefined,
        );
      }
    };
    src.addEventListener('open', () => set({ channel: 'live' }));
    src.addEventListener('status', onStatus as EventListener);
    src.addEventListener('scan', ((ev: MessageEvent) => {
      errors = 0;
      set({ scans: mergeScan(state.scans, JSON.parse(ev.data) as EngineResult), channel: 'live' });
    }) as EventListener);
    src.addEventListener('done', ((ev: MessageEvent) => {
      onStatus(ev);
      void finish();
    }) as EventListener);
    src.onerror = () => {
      if (stopped) return;
      errors++;
      // CLOSED: the browser gave up (404, wrong content type). Otherwise it
      // reconnects by itself, resuming with Last-Event-ID, until we give up.
      if (src.readyState === 2 || errors >= maxErrors) {
        closeStream();
        poll(0);
      } else {
        set({ channel: 'connecting' });
      }
    };
  };

  const followRescan = (w: RescanWatch) => {
    const end = Date.now() + w.deadlineMs;
    const tick = async () => {
      try {
        await snapshot();
      } catch (e) {
        if (ctl.signal.aborted) return;
        set({ error: e });
      }
      if (!staleEngines(state.scans, w).length || Date.now() >= end) {
        set({ channel: 'closed' });
        stopped = true;
        return;
      }
      set({ channel: 'rescanning' });
      timer = setTimeout(tick, pollMs);
    };
    set({ channel: 'rescanning' });
    timer = setTimeout(tick, pollMs);
  };

  (async () => {
    if (opts.rescan) return followRescan(opts.rescan);
    try {
      const f = await snapshot();
      if (isFinal(f.status) && f.verdict !== 'pending') {
        set({ channel: 'closed' });
        stopped = true;
        return;
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      set({ error: e });
    }
    if (stopped) return;
    const noStream = !opts.eventSource && typeof EventSource === 'undefined';
    if (noStream || openStreams >= (opts.streamLimit ?? maxStreams)) poll(pollMs);
    else stream();
  })();

  return stop;
}

/**
 * useFile watches file id live. restart() watches again; with a RescanWatch
 * it follows a rescan of a final file.
 */
export function useFile(id: string | undefined, opts?: WatchOptions) {
  const [state, setState] = useState<LiveState>({ file: null, scans: null, channel: 'connecting', error: null });
  const [round, setRound] = useState<{ n: number; rescan?: RescanWatch }>({ n: 0 });
  const optsRef = useRef(opts);
  useEffect(() => {
    if (!id) return;
    return watchFile(id, (s) => setState((prev) => ({ ...s, file: s.file ?? prev.file, scans: s.scans ?? prev.scans })), {
      ...optsRef.current,
      rescan: round.rescan,
    });
  }, [id, round]);
  const restart = useCallback((rescan?: RescanWatch) => setRound((r) => ({ n: r.n + 1, rescan })), []);
  return { ...state, restart, rescan: round.rescan };
}
