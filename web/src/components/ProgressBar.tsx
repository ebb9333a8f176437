/** ProgressBar is an accessible determinate progress bar with a visible label. */
export function ProgressBar({ value, max, label, text, tone = 'upload' }: {
  value: number;
  max: number;
  label: string;
  text: string;
  tone?: 'hash' | 'upload' | 'done';
}) {
  const pct = max > 0 ? Math.min(100, (value * 100) / max) : 100;
  return (
    <div className="progress-wrap">
      <div
        className={`progress progress-${tone}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.floor(pct)}
        aria-valuetext={text}
      >
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <div className="progress-text">{text}</div>
    </div>
  );
}
