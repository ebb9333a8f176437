import { useEffect, useRef } from 'react';
import { announce } from '../lib/announce';
import { explain } from '../lib/errors';
import { formatBytes, formatMs, formatRate, percent } from '../lib/format';
import { useFile } from '../lib/live';
import { Link } from '../lib/router';
import type { UploadState } from '../lib/uploader';
import { isFinal, type Verdict } from '../lib/types';
import { EngineTable } from './EngineTable';
import { ErrorMessage } from './ErrorMessage';
import { CrossIcon } from './Icons';
import { ProgressBar } from './ProgressBar';
import { VerdictBadge } from './VerdictBadge';

const verdictWords: Record<Verdict, string> = {
  clean: 'clean',
  malicious: 'malicious',
  suspicious: 'suspicious',
  unscanned: 'not scanned',
  pending: 'pending',
};

/** UploadRow shows one dropped file: hashing, upload progress, then live results. */
export function UploadRow({ item, onRetry, onRemove, onVerdict }: {
  item: UploadState;
  onRetry: () => void;
  onRemove: () => void;
  onVerdict?: (v: Verdict) => void;
}) {
  const watching = item.stage === 'processing' ? item.id : undefined;
  const live = useFile(watching);
  const file = live.file;
  const status = file?.status ?? item.status;
  const verdict: Verdict | undefined = file?.verdict ?? (item.stage === 'processing' ? 'pending' : undefined);
  const final = isFinal(status) && verdict !== 'pending';

  const said = useRef('');
  useEffect(() => {
    if (!final || !verdict) return;
    const msg = status === 'rejected' ? `${item.name}: rejected` : `${item.name}: ${verdictWords[verdict]}`;
    if (said.current !== msg) {
      said.current = msg;
      announce(msg);
      onVerdict?.(verdict);
    }
  }, [final, verdict, status, item.name, onVerdict]);

  const running = !['processing', 'failed', 'cancelled'].includes(item.stage);

  return (
    <li
      className="card upload-row"
      data-name={item.name}
      data-id={item.id}
      data-stage={item.stage}
      data-status={status ?? ''}
      data-verdict={final ? verdict : ''}
      data-skipped={item.skipped ? 'true' : 'false'}
      data-resumed={item.resumed ? 'true' : 'false'}
      data-hash-ms={item.hashMs !== undefined ? Math.round(item.hashMs) : undefined}
      data-upload-ms={item.uploadMs !== undefined ? Math.round(item.uploadMs) : undefined}
      aria-label={item.name}
    >
      <div className="row-head">
        <div className="row-title">
          <h3 className="file-name" title={item.name}>
            {item.id && item.stage === 'processing' ? <Link href={`/files/${item.id}`}>{item.name}</Link> : item.name}
          </h3>
          <div className="muted small">
            {formatBytes(item.size)}
            {item.sha256 ? <> · SHA-256 <code title={item.sha256}>{item.sha256.slice(0, 12)}…</code></> : null}
          </div>
        </div>
        <div className="row-side">
          {verdict ? <VerdictBadge verdict={verdict} status={status} /> : null}
          <button type="button" className="btn btn-icon btn-quiet" onClick={onRemove} aria-label={`${running ? 'Cancel and remove' : 'Remove'} ${item.name} from the list`}>
            <CrossIcon />
          </button>
        </div>
      </div>

      <Progress item={item} />

      {item.stage === 'failed' && item.error ? <ErrorMessage error={item.error} onRetry={onRetry} /> : null}
      {item.stage === 'cancelled' ? (
        <p className="muted">
          Cancelled. <button type="button" className="btn btn-small" onClick={onRetry}>Start again</button>
        </p>
      ) : null}

      {item.stage === 'processing' ? (
        <>
          {status === 'rejected' ? (
            <p className="reason"><strong>Rejected:</strong> {file?.reason || 'IntelliDox refused to process this file.'}</p>
          ) : null}
          <EngineTable scans={live.scans} caption={`Engine results for ${item.name}`} compact />
          {live.error && !final ? <ErrorMessage error={{ ...explain(live.error), retryable: false, title: 'Live updates interrupted' }} /> : null}
          <div className="row-foot">
            <span className="muted small">{final ? 'Final' : live.channel === 'polling' ? 'Checking for updates…' : 'Live'}</span>
            {item.id ? <Link className="btn btn-small" href={`/files/${item.id}`}>Details<span className="visually-hidden"> of {item.name}</span></Link> : null}
          </div>
        </>
      ) : null}
    </li>
  );
}

function Progress({ item }: { item: UploadState }) {
  switch (item.stage) {
    case 'queued':
      return <p className="muted small">Waiting to start…</p>;
    case 'hashing':
      return item.sha256 ? (
        <p className="muted small">Fingerprinted; waiting for a free upload slot…</p>
      ) : (
        <ProgressBar tone="hash" value={item.hashed} max={item.size} label={`Hashing ${item.name}`}
          text={`Fingerprinting ${percent(item.hashed, item.size)} % · ${formatBytes(item.hashed)} of ${formatBytes(item.size)}`} />
      );
    case 'creating':
      return <p className="muted small">Checking whether IntelliDox knows this content…</p>;
    case 'uploading':
      return (
        <ProgressBar value={item.sent} max={item.size} label={`Upload of ${item.name}`}
          text={`${item.resumed ? 'Resuming: parts already sent are skipped · ' : ''}Uploading ${percent(item.sent, item.size)} % · ${formatBytes(item.sent)} of ${formatBytes(item.size)} · ${formatRate(item.rate)}`} />
      );
    case 'confirming':
    case 'processing':
      if (item.skipped) return <p className="known small">Already known to IntelliDox: upload skipped, results shown at once.</p>;
      return (
        <ProgressBar tone="done" value={item.size} max={item.size} label={`Upload of ${item.name}`}
          text={`Uploaded ${formatBytes(item.size)}${item.resumed ? ` (resumed: ${formatBytes(item.size - (item.resumedBytes ?? 0))} sent by this page)` : ''}${item.uploadMs !== undefined ? ` in ${formatMs(item.uploadMs)} · ${formatRate(item.rate)}` : ''}${item.stage === 'confirming' ? ' · confirming…' : ''}`} />
      );
    default:
      return null;
  }
}
