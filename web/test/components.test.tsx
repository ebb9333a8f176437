import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineTable } from '../src/components/EngineTable';
import { MetadataView } from '../src/components/MetadataView';
import { UploadRow } from '../src/components/UploadRow';
import { VerdictBadge } from '../src/components/VerdictBadge';
import type { UploadState } from '../src/lib/uploader';
import type { Scans } from '../src/lib/types';

afterEach(cleanup);

describe('VerdictBadge', () => {
  it.each([
    ['clean', 'Clean'],
    ['malicious', 'Malicious'],
    ['suspicious', 'Suspicious'],
    ['unscanned', 'Not scanned'],
    ['pending', 'Pending'],
  ] as const)('shows %s as a word and an icon, not colour alone', (verdict, word) => {
    const { container } = render(<VerdictBadge verdict={verdict} />);
    const badge = container.querySelector('.badge')!;
    expect(badge.textContent).toBe(word);
    expect(badge.querySelector('svg, .spinner')).not.toBeNull();
    expect(badge.getAttribute('data-verdict')).toBe(verdict);
  });

  it('says Rejected for a rejected file whatever its verdict', () => {
    render(<VerdictBadge verdict="unscanned" status="rejected" />);
    expect(screen.getByText('Rejected')).toBeTruthy();
  });

  it('says Not uploaded, without a spinner, for a file still awaiting its bytes', () => {
    const { container } = render(<VerdictBadge verdict="pending" status="awaiting_upload" />);
    expect(screen.getByText('Not uploaded')).toBeTruthy();
    expect(container.querySelector('.spinner')).toBeNull();
  });

  it('says Scanning while a file is processing', () => {
    render(<VerdictBadge verdict="pending" status="processing" />);
    expect(screen.getByText('Scanning')).toBeTruthy();
  });
});

describe('EngineTable', () => {
  const scans: Scans = {
    verdict: 'pending',
    complete: false,
    engines: [
      { engine: 'clamav', result: 'malicious', threats: ['Eicar-Test-Signature'], engineVersion: 'ClamAV 1.0', signatureVersion: '27000', scannedAt: '2026-01-02T03:04:05Z', durationMs: 12 },
    ],
    pending: ['clamav', 'yara'],
  };

  it('lists reported engines and shows the others as pending rows', () => {
    render(<EngineTable scans={scans} caption="Engines" />);
    const rows = screen.getAllByRole('row').slice(1);
    expect(rows).toHaveLength(2);
    const clam = rows.find((r) => r.getAttribute('data-engine') === 'clamav')!;
    expect(within(clam).getByText('Malicious')).toBeTruthy();
    expect(within(clam).getByText('Eicar-Test-Signature')).toBeTruthy();
    const yara = rows.find((r) => r.getAttribute('data-engine') === 'yara')!;
    expect(yara.getAttribute('data-result')).toBe('pending');
    expect(within(yara).getByText('Scanning')).toBeTruthy();
  });

  it('says so when nothing has reported', () => {
    render(<EngineTable scans={{ verdict: 'pending', complete: false, engines: [], pending: [] }} caption="Engines" />);
    expect(screen.getByText('No engine has reported yet.')).toBeTruthy();
  });
});

describe('UploadRow', () => {
  const base: UploadState = {
    key: 'u1', name: 'report.pdf', size: 10_000_000, type: 'application/pdf', stage: 'uploading',
    hashed: 10_000_000, sha256: 'ab'.repeat(32), sent: 2_500_000, rate: 5_000_000, skipped: false,
  };

  it('shows upload progress with bytes sent, total and rate', () => {
    render(<UploadRow item={base} onRetry={() => {}} onRemove={() => {}} />);
    const bar = screen.getByRole('progressbar', { name: 'Upload of report.pdf' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(screen.getByText('Uploading 25 % · 2.50 MB of 10.0 MB · 5.0 MB/s')).toBeTruthy();
  });

  it('shows hashing progress before the upload', () => {
    render(<UploadRow item={{ ...base, stage: 'hashing', sha256: undefined, hashed: 5_000_000, sent: 0 }} onRetry={() => {}} onRemove={() => {}} />);
    expect(screen.getByRole('progressbar', { name: 'Hashing report.pdf' }).getAttribute('aria-valuenow')).toBe('50');
  });

  it('offers Retry for a retryable failure and calls back', () => {
    let retried = 0;
    render(
      <UploadRow
        item={{ ...base, stage: 'failed', failedAt: 'uploading', error: { title: 'Network problem', message: 'Lost.', retryable: true } }}
        onRetry={() => retried++}
        onRemove={() => {}}
      />,
    );
    expect(screen.getByRole('alert').textContent).toContain('Network problem');
    screen.getByRole('button', { name: 'Retry' }).click();
    expect(retried).toBe(1);
  });

  it('offers no Retry for a validation error', () => {
    render(
      <UploadRow
        item={{ ...base, stage: 'failed', failedAt: 'creating', error: { title: 'Request refused', message: 'Too big.', retryable: false } }}
        onRetry={() => {}}
        onRemove={() => {}}
      />,
    );
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
  });
});

describe('MetadataView', () => {
  it('renders sections as definition lists and arrays of records as tables', () => {
    render(
      <MetadataView
        metadata={{
          type: { mime: 'application/pdf', description: 'PDF document', extension: '.pdf' },
          pdf: { pageCount: 3, encrypted: false, fonts: ['Helvetica', 'Courier'] },
          findings: [{ code: 'pdf_javascript', message: 'The PDF runs JavaScript when opened.', effect: 'suspicious' }],
        }}
      />,
    );
    expect(screen.getByRole('heading', { name: 'File type' })).toBeTruthy();
    expect(screen.getByText('MIME type')).toBeTruthy();
    expect(screen.getByText('Page count')).toBeTruthy();
    expect(screen.getByText('No')).toBeTruthy();
    expect(screen.getByText('Helvetica, Courier')).toBeTruthy();
    const table = screen.getByRole('table');
    expect(within(table).getByText('pdf_javascript')).toBeTruthy();
    expect(within(table).getByText('Suspicious')).toBeTruthy();
  });
});
