import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { api } from '../lib/api';
import { apiKey, subscribeAuth } from '../lib/auth';
import { explain } from '../lib/errors';
import { formatBytes, formatTime } from '../lib/format';
import { Link, navigate } from '../lib/router';
import type { FileInfo } from '../lib/types';
import { ErrorMessage } from './ErrorMessage';
import { VerdictBadge } from './VerdictBadge';

/** History lists my files, newest first, with search by name or any hash. */
export function History({ q }: { q: string }) {
  const [query, setQuery] = useState(q);
  const [items, setItems] = useState<FileInfo[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [failedMore, setFailedMore] = useState(false);
  const key = useSyncExternalStore(subscribeAuth, apiKey);
  const heading = useRef<HTMLHeadingElement>(null);
  const ctl = useRef<AbortController | null>(null);

  const load = useCallback(async (search: string, after: string | null) => {
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    setLoading(true);
    setError(null);
    setFailedMore(false);
    try {
      const page = await api.list({ q: search, limit: 20, cursor: after }, c.signal);
      setItems((cur) => (after ? [...cur, ...page.items] : page.items));
      setCursor(page.nextCursor);
    } catch (e) {
      if (c.signal.aborted) return;
      setError(e);
      setFailedMore(after !== null);
    } finally {
      if (ctl.current === c) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setQuery(q);
    void load(q, null);
    return () => ctl.current?.abort();
  }, [q, key, load]);

  useEffect(() => heading.current?.focus(), []);

  return (
    <section className="history" aria-labelledby="history-h">
      <h1 id="history-h" ref={heading} tabIndex={-1}>History</h1>
      <form
        className="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const s = query.trim();
          navigate(s ? `/history?q=${encodeURIComponent(s)}` : '/history', true);
        }}
      >
        <label htmlFor="history-q">Search by file name or any hash (SHA-256, SHA-1, MD5)</label>
        <div className="search-row">
          <input id="history-q" type="search" value={query} onChange={(e) => setQuery(e.target.value)}
            placeholder="invoice.pdf or 44d88612fea8a8f36de82e1278abb02f" autoComplete="off" spellCheck={false} />
          <button type="submit" className="btn">Search</button>
        </div>
      </form>

      <div aria-live="polite" className="visually-hidden">
        {loading ? 'Loading…' : `${items.length} file${items.length === 1 ? '' : 's'} shown${cursor ? ', more available' : ''}`}
      </div>

      {error && !failedMore ? <ErrorMessage error={explain(error)} onRetry={() => void load(q, null)} /> : null}

      {items.length ? (
        <table className="history-table">
          <caption className="visually-hidden">My files, newest first</caption>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Verdict</th><th scope="col">Size</th><th scope="col">Uploaded</th><th scope="col">SHA-256</th></tr>
          </thead>
          <tbody>
            {items.map((f) => (
              <tr key={f.id} data-file-id={f.id}>
                <th scope="row" data-label="Name" className="file-name"><Link href={`/files/${f.id}`}>{f.name}</Link></th>
                <td data-label="Verdict"><VerdictBadge verdict={f.verdict} status={f.status} /></td>
                <td data-label="Size">{formatBytes(f.size)}</td>
                <td data-label="Uploaded">{formatTime(f.createdAt)}</td>
                <td data-label="SHA-256"><code title={f.sha256}>{f.sha256.slice(0, 16)}…</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : !loading && !error ? (
        <p className="muted">{q ? `No file matches “${q}”.` : 'No files yet. Scanned files appear here.'}</p>
      ) : null}

      {failedMore && error ? <ErrorMessage error={explain(error)} onRetry={() => void load(q, cursor)} /> : null}
      <div className="paging">
        {loading ? <span className="muted">Loading…</span> : null}
        {cursor && !loading ? <button type="button" className="btn" onClick={() => void load(q, cursor)}>Show older files</button> : null}
      </div>
    </section>
  );
}
