import { useEffect, useRef, useState } from 'react';
import { api } from '../lib/api';
import { announce } from '../lib/announce';
import { explain, type Explained } from '../lib/errors';
import { formatBytes, formatTime } from '../lib/format';
import { staleEngines, useFile, type Channel, type RescanWatch } from '../lib/live';
import type { Scans } from '../lib/types';
import { Link } from '../lib/router';
import { isFinal } from '../lib/types';
import { DownloadButton } from './DownloadButton';
import { EngineTable } from './EngineTable';
import { ErrorMessage } from './ErrorMessage';
import { Hashes } from './Hashes';
import { MetadataView } from './MetadataView';
import { VerdictBadge } from './VerdictBadge';

const statusWords = {
  awaiting_upload: 'Waiting for the upload',
  processing: 'Being analysed',
  done: 'Analysis finished',
  rejected: 'Rejected',
} as const;

/** FileDetails is the full view of one file: verdict, engines, hashes, metadata. */
export function FileDetails({ id }: { id: string }) {
  const live = useFile(id);
  const { file, scans } = live;
  const [rescanEngine, setRescanEngine] = useState('');
  const [rescanning, setRescanning] = useState(false);
  const [rescanError, setRescanError] = useState<Explained | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
  }, [id]);

  const rescan = async () => {
    setRescanning(true);
    setRescanError(null);
    try {
      const engines = rescanEngine ? [rescanEngine] : [];
      const before = Object.fromEntries((scans?.engines ?? []).map((e) => [e.engine, e.scannedAt]));
      await api.rescan(id, engines);
      announce(`Rescan requested for ${file?.name ?? 'this file'}`);
      live.restart({ engines, before, deadlineMs: 15_000 });
    } catch (e) {
      setRescanError(explain(e));
    } finally {
      setRescanning(false);
    }
  };

  if (!file) {
    return (
      <section className="details" aria-busy={!live.error}>
        <p><Link href="/">← Back to scanning</Link></p>
        <h1 ref={heading} tabIndex={-1}>File details</h1>
        {live.error ? <ErrorMessage error={explain(live.error)} onRetry={live.restart} /> : <p className="muted">Loading…</p>}
      </section>
    );
  }

  const final = isFinal(file.status) && file.verdict !== 'pending';
  const typeInfo = (file.metadata?.type ?? {}) as { description?: string; mime?: string };
  const engineNames = Array.from(new Set([...(scans?.engines ?? []).map((e) => e.engine), ...(scans?.pending ?? [])]));

  return (
    <section className="details" data-file-id={file.id} data-verdict={final ? file.verdict : ''} data-status={file.status}>
      <p className="crumbs"><Link href="/">← Scan files</Link> · <Link href="/history">History</Link></p>
      <div className="details-head">
        <h1 ref={heading} tabIndex={-1} className="file-name-lg">{file.name}</h1>
        <VerdictBadge verdict={file.verdict} status={file.status} size="lg" />
      </div>
      <dl className="facts">
        <div><dt>Status</dt><dd>{statusWords[file.status] ?? file.status}{!final ? <span className="muted"> · {live.channel === 'polling' ? 'checking for updates' : 'live'}</span> : null}</dd></div>
        <div><dt>Size</dt><dd>{formatBytes(file.size)}{file.size >= 1000 ? <span className="muted"> ({file.size.toLocaleString()} bytes)</span> : null}</dd></div>
        <div><dt>Type</dt><dd>{typeInfo.description || file.mimeType || typeInfo.mime || file.contentType || 'Not determined yet'}</dd></div>
        <div><dt>Uploaded</dt><dd>{formatTime(file.createdAt)}</dd></div>
        <div><dt>Last change</dt><dd>{formatTime(file.updatedAt)}</dd></div>
      </dl>
      <DownloadButton id={file.id} name={file.name} />
      {file.reason ? <p className="reason"><strong>{file.status === 'rejected' ? 'Rejected: ' : 'Reason: '}</strong>{file.reason}</p> : null}
      {live.error ? <ErrorMessage error={{ ...explain(live.error), title: 'Live updates interrupted', retryable: false }} /> : null}

      <section className="card" aria-labelledby="engines-h">
        <div className="section-head">
          <h2 id="engines-h">Engines</h2>
          <div className="rescan">
            <label htmlFor="rescan-engine" className="visually-hidden">Engines to rescan</label>
            <select id="rescan-engine" value={rescanEngine} onChange={(e) => setRescanEngine(e.target.value)}>
              <option value="">All engines</option>
              {engineNames.map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
            <button type="button" className="btn" onClick={rescan} disabled={rescanning}>
              {rescanning ? 'Requesting…' : 'Rescan'}
            </button>
          </div>
        </div>
        {rescanError ? <ErrorMessage error={rescanError} onRetry={rescan} /> : null}
        {live.rescan ? <RescanNote scans={scans} watch={live.rescan} channel={live.channel} /> : null}
        <EngineTable scans={live.rescan && live.channel === 'rescanning' ? asPending(scans, staleEngines(scans, live.rescan)) : scans}
          caption={`Engine results for ${file.name}`} hideCaption />
      </section>

      <section className="card" aria-labelledby="hashes-h">
        <h2 id="hashes-h">Hashes</h2>
        <Hashes hashes={[['SHA-256', file.sha256], ['SHA-1', file.sha1], ['MD5', file.md5]]} />
      </section>

      <section className="card" aria-labelledby="meta-h">
        <h2 id="meta-h">Metadata</h2>
        <MetadataView metadata={file.metadata} />
      </section>
    </section>
  );
}

/** asPending shows the engines being rescanned as pending rows. */
function asPending(scans: Scans | null, engines: string[]): Scans | null {
  if (!scans || !engines.length) return scans;
  return {
    ...scans,
    engines: scans.engines.filter((e) => !engines.includes(e.engine)),
    pending: Array.from(new Set([...(scans.pending ?? []), ...engines])),
  };
}

function RescanNote({ scans, watch, channel }: { scans: Scans | null; watch: RescanWatch; channel: Channel }) {
  const stale = staleEngines(scans, watch);
  let text: string;
  if (channel === 'rescanning') text = `Rescan requested: waiting for ${stale.join(', ') || 'the engines'}…`;
  else if (stale.length) text = `Rescan requested. No new result yet from ${stale.join(', ')}: an engine reuses its result while its signatures are unchanged.`;
  else text = 'Rescan finished: the table shows the new results.';
  return <p className="note small" role="status">{text}</p>;
}
