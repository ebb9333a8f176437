import type { ReactElement } from 'react';
import type { EngineOutcome, FileStatus, Verdict } from '../lib/types';
import { BlockIcon, CheckIcon, CrossIcon, QuestionIcon, SkipIcon, Spinner, WarnIcon } from './Icons';

type Kind = Verdict | EngineOutcome | 'rejected' | 'scanning' | 'awaiting';

const looks: Record<Kind, { word: string; icon: () => ReactElement; tone: string }> = {
  clean: { word: 'Clean', icon: CheckIcon, tone: 'good' },
  malicious: { word: 'Malicious', icon: CrossIcon, tone: 'bad' },
  suspicious: { word: 'Suspicious', icon: WarnIcon, tone: 'warn' },
  unscanned: { word: 'Not scanned', icon: QuestionIcon, tone: 'neutral' },
  pending: { word: 'Pending', icon: Spinner, tone: 'neutral' },
  scanning: { word: 'Scanning', icon: Spinner, tone: 'neutral' },
  error: { word: 'Error', icon: WarnIcon, tone: 'neutral' },
  skipped: { word: 'Skipped', icon: SkipIcon, tone: 'neutral' },
  rejected: { word: 'Rejected', icon: BlockIcon, tone: 'bad' },
  awaiting: { word: 'Not uploaded', icon: SkipIcon, tone: 'neutral' },
};

/**
 * VerdictBadge shows a verdict with colour, icon and word together, so that
 * it never relies on colour alone.
 */
export function VerdictBadge({ verdict, status, size = 'md' }: { verdict: Verdict; status?: FileStatus; size?: 'md' | 'lg' }) {
  let kind: Kind = verdict;
  if (status === 'rejected') kind = 'rejected';
  else if (verdict === 'pending' && status === 'processing') kind = 'scanning';
  else if (verdict === 'pending' && status === 'awaiting_upload') kind = 'awaiting';
  return <Badge kind={kind} size={size} label="Verdict" />;
}

/** OutcomeBadge shows one engine's result. */
export function OutcomeBadge({ result }: { result: EngineOutcome | 'pending' }) {
  return <Badge kind={result === 'pending' ? 'scanning' : result} label="Result" />;
}

function Badge({ kind, size = 'md', label }: { kind: Kind; size?: 'md' | 'lg'; label: string }) {
  const l = looks[kind] ?? looks.unscanned;
  const Icon = l.icon;
  return (
    <span className={`badge badge-${l.tone} badge-${size}`} data-verdict={kind} title={`${label}: ${l.word}`}>
      <Icon />
      <span>{l.word}</span>
    </span>
  );
}
