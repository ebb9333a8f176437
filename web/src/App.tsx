import { useEffect, useRef, useState } from 'react';
import { onAnnounce } from './lib/announce';
import { Link, useRoute } from './lib/router';
import { useUploads } from './lib/useUploads';
import { ApiKeyBar } from './components/ApiKeyBar';
import { DropZone } from './components/DropZone';
import { FileDetails } from './components/FileDetails';
import { History } from './components/History';
import { ShieldIcon } from './components/Icons';
import { UploadRow } from './components/UploadRow';
import { VerdictBadge } from './components/VerdictBadge';
import type { Verdict } from './lib/types';
import type { UploadState } from './lib/uploader';

const order: Verdict[] = ['malicious', 'suspicious', 'clean', 'unscanned'];

/** Summary counts the final verdicts of this page's files, worst first. */
function Summary({ items }: { items: UploadState[] }) {
  const counts = new Map<Verdict, number>();
  for (const it of items) if (it.verdict) counts.set(it.verdict, (counts.get(it.verdict) ?? 0) + 1);
  const busy = items.filter((it) => !it.verdict && it.stage !== 'failed' && it.stage !== 'cancelled').length;
  const failed = items.filter((it) => it.stage === 'failed').length;
  return (
    <ul className="summary" aria-label="Summary">
      {order.filter((v) => counts.get(v)).map((v) => (
        <li key={v}><VerdictBadge verdict={v} /> <span className="count">{counts.get(v)}</span></li>
      ))}
      {busy ? <li className="muted small">{busy} in progress</li> : null}
      {failed ? <li className="muted small">{failed} failed</li> : null}
    </ul>
  );
}

export function App() {
  const route = useRoute();
  const uploads = useUploads();
  const [said, setSaid] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);

  useEffect(() => {
    onAnnounce((msg) => setSaid((prev) => (prev === msg ? msg + '\u00a0' : msg)));
    return () => onAnnounce(null);
  }, []);

  useEffect(() => {
    if (route.page === 'upload' && !first.current) heading.current?.focus();
    first.current = false;
    const title = route.page === 'history' ? 'History' : route.page === 'file' ? 'File details' : 'Scan files';
    document.title = `${title} — IntelliDox`;
  }, [route]);

  return (
    <>
      <a href="#main" className="skip">Skip to content</a>
      <header className="top">
        <div className="top-inner">
          <Link href="/" className="brand"><ShieldIcon /><span>IntelliDox</span></Link>
          <nav aria-label="Main">
            <Link href="/" aria-current={route.page === 'upload' ? 'page' : undefined}>Scan files</Link>
            <Link href="/history" aria-current={route.page === 'history' ? 'page' : undefined}>History</Link>
          </nav>
        </div>
      </header>
      <main id="main">
        <ApiKeyBar />
        {route.page === 'upload' ? (
          <>
            <h1 ref={heading} tabIndex={-1}>What is in these files?</h1>
            <p className="lede">IntelliDox tells you what each file is and whether it is malicious, with every engine's result as it arrives.</p>
            <DropZone onFiles={uploads.add} compact={uploads.items.length > 0} />
            {uploads.items.length ? (
              <section aria-labelledby="results-h">
                <div className="results-head">
                  <h2 id="results-h" className="results-h">
                    Results <span className="muted small">({uploads.items.length} file{uploads.items.length === 1 ? '' : 's'})</span>
                  </h2>
                  <Summary items={uploads.items} />
                  {uploads.items.some((it) => it.verdict) ? (
                    <button type="button" className="btn btn-small btn-secondary"
                      onClick={() => uploads.items.filter((it) => it.verdict).forEach((it) => uploads.remove(it.key))}>
                      Clear finished
                    </button>
                  ) : null}
                </div>
                <ul className="uploads">
                  {uploads.items.map((it) => (
                    <UploadRow key={it.key} item={it} onRetry={() => uploads.retry(it.key)} onRemove={() => uploads.remove(it.key)}
                      onVerdict={(verdict) => uploads.report(it.key, { verdict })} />
                  ))}
                </ul>
              </section>
            ) : null}
          </>
        ) : route.page === 'history' ? (
          <History q={route.q} />
        ) : (
          <FileDetails key={route.id} id={route.id} />
        )}
      </main>
      <div className="visually-hidden" aria-live="polite" aria-atomic="true" data-testid="announcer">{said}</div>
    </>
  );
}
