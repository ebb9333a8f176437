import { useState } from 'react';
import { announce } from '../lib/announce';
import { CheckIcon, CopyIcon } from './Icons';

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API unavailable (plain http on another host): fall back.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

function CopyButton({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-icon"
      aria-label={`Copy ${label}`}
      onClick={async () => {
        const ok = await copy(value);
        setCopied(ok);
        announce(ok ? `${label} copied` : `Could not copy ${label}`);
        if (ok) setTimeout(() => setCopied(false), 1500);
      }}
    >
      {copied ? <CheckIcon /> : <CopyIcon />}
      <span>{copied ? 'Copied' : 'Copy'}</span>
    </button>
  );
}

/** Hashes lists the file's hashes, each with a copy button. */
export function Hashes({ hashes }: { hashes: Array<[string, string | undefined]> }) {
  return (
    <dl className="hashes">
      {hashes.map(([label, value]) => (
        <div key={label} className="hash-row">
          <dt>{label}</dt>
          <dd>
            {value ? (
              <>
                <code className="hash" data-hash={label}>{value}</code>
                <CopyButton label={label} value={value} />
              </>
            ) : (
              <span className="muted">Not known yet</span>
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}
