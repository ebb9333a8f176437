import { Fragment } from 'react';
import { formatMs, formatTime } from '../lib/format';
import type { Scans } from '../lib/types';
import { OutcomeBadge } from './VerdictBadge';

/**
 * EngineTable lists each engine's result; engines that have not reported yet
 * appear as "Scanning" rows and fill in as results arrive.
 */
export function EngineTable({ scans, caption, compact = false, hideCaption = compact }: {
  scans: Scans | null;
  caption: string;
  compact?: boolean;
  hideCaption?: boolean;
}) {
  const engines = scans?.engines ?? [];
  const pending = (scans?.pending ?? []).filter((p) => !engines.some((e) => e.engine === p));
  if (!engines.length && !pending.length) {
    return <p className="muted engines-empty">{scans ? 'No engine has reported yet.' : 'Loading engine results…'}</p>;
  }
  return (
    <table className={`engines${compact ? ' compact' : ''}`}>
      <caption className={hideCaption ? 'visually-hidden' : undefined}>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Engine</th>
          <th scope="col">Result</th>
          <th scope="col">Threats</th>
          {!compact && <th scope="col">Versions</th>}
          <th scope="col">{compact ? 'Time' : 'Scanned'}</th>
        </tr>
      </thead>
      <tbody>
        {engines.map((e) => (
          <tr key={e.engine} data-engine={e.engine} data-result={e.result}>
            <th scope="row" data-label="Engine">{e.engine}</th>
            <td data-label="Result"><OutcomeBadge result={e.result} /></td>
            <td data-label="Threats" className="threats">
              {e.threats?.length ? <span>{breakable(e.threats.join(', '))}</span> : e.detail ? <span className="muted">{e.detail}</span> : <span className="muted">None</span>}
            </td>
            {!compact && (
              <td data-label="Versions" className="mono small">
                <span>
                  {e.engineVersion || '—'}
                  {e.signatureVersion ? <><br /><span className="muted">signatures {e.signatureVersion}</span></> : null}
                </span>
              </td>
            )}
            <td data-label={compact ? 'Time' : 'Scanned'} className="small">
              {compact ? formatMs(e.durationMs) : <span>{formatTime(e.scannedAt)}<br /><span className="muted">took {formatMs(e.durationMs)}</span></span>}
            </td>
          </tr>
        ))}
        {pending.map((p) => (
          <tr key={p} data-engine={p} data-result="pending">
            <th scope="row" data-label="Engine">{p}</th>
            <td data-label="Result"><OutcomeBadge result="pending" /></td>
            <td data-label="Threats"><span className="muted">Waiting for this engine…</span></td>
            {!compact && <td data-label="Versions">—</td>}
            <td data-label={compact ? 'Time' : 'Scanned'}>—</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** breakable lets long threat names (A.B.C) wrap after their dots, without
 * inserting characters that a copy would pick up. */
function breakable(s: string) {
  return s.split('.').map((part, i, all) => (
    <Fragment key={i}>
      {part}
      {i < all.length - 1 ? <>.<wbr /></> : null}
    </Fragment>
  ));
}
