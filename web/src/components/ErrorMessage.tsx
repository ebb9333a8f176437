import type { Explained } from '../lib/errors';
import { WarnIcon } from './Icons';

/** ErrorMessage shows an explained error, with Retry when retrying can help. */
export function ErrorMessage({ error, onRetry, retryLabel = 'Retry' }: { error: Explained; onRetry?: () => void; retryLabel?: string }) {
  return (
    <div className="error" role="alert">
      <WarnIcon />
      <div className="error-body">
        <strong>{error.title}.</strong> {error.message}
        {error.code ? <span className="muted small"> (code {error.code})</span> : null}
      </div>
      {onRetry && error.retryable ? (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          {retryLabel}
        </button>
      ) : null}
    </div>
  );
}
