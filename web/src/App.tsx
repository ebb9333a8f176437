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
                <h2 id="results-h" className="results-h">
                  Results <span className="muted small">({uploads.items.length} file{uploads.items.length === 1 ? '' : 's'})</span>
                </h2>
                <ul className="uploads">
                  {uploads.items.map((it) => (
                    <UploadRow key={it.key} item={it} onRetry={() => uploads.retry(it.key)} onRemove={() => uploads.remove(it.key)} />
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
