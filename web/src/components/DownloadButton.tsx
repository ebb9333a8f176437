import { useState } from 'react';
import { api } from '../lib/api';
import { announce } from '../lib/announce';
import { ApiError, explain, type Explained } from '../lib/errors';
import { ErrorMessage } from './ErrorMessage';

/**
 * DownloadButton asks the api's download gate for the file and follows the
 * short-lived URL it hands out (storage answers it as an attachment). When
 * the gate refuses, it says why: the verdict and the engines' reasons.
 */
export function DownloadButton({ id, name, disabled }: { id: string; name: string; disabled?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<{ verdict: string; reasons: string[] } | null>(null);
  const [error, setError] = useState<Explained | null>(null);

  const download = async () => {
    setBusy(true);
    setRefusal(null);
    setError(null);
    try {
      const d = await api.download(id);
      const a = document.createElement('a');
      a.href = d.url;
      a.rel = 'noopener';
      a.download = d.name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      announce(`Downloading ${name}`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'verdict_blocks_download') {
        setRefusal({ verdict: e.verdict ?? 'blocked', reasons: e.reasons ?? [] });
        announce(`Download of ${name} refused: the file is ${e.verdict}`);
      } else {
        setError(explain(e));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="download">
      <button type="button" className="btn" onClick={download} disabled={busy || disabled}>
        {busy ? 'Preparing…' : 'Download'}
      </button>
      {refusal ? (
        <div className="refusal" role="alert" data-refused-verdict={refusal.verdict}>
          <p><strong>Download blocked.</strong> {refusal.verdict === 'malicious'
            ? 'This file is malicious: IntelliDox never lets it be downloaded.'
            : `This file is ${refusal.verdict}, and your organisation's download policy does not allow that.`}</p>
          {refusal.reasons.length ? <ul>{refusal.reasons.map((r) => <li key={r}>{r}</li>)}</ul> : null}
        </div>
      ) : null}
      {error ? <ErrorMessage error={error} onRetry={download} /> : null}
    </div>
  );
}
