import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyBar } from '../src/components/ApiKeyBar';
import { DownloadButton } from '../src/components/DownloadButton';
import { History } from '../src/components/History';
import { apiKey, markAuthRequired, resetAuth } from '../src/lib/auth';
import type { FileInfo } from '../src/lib/types';
import { json, mockFetch, problem } from './mocks';

beforeEach(() => {
  localStorage.clear();
  resetAuth();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const f = (i: number): FileInfo => ({
  id: `id-${i}`, name: `file-${i}.txt`, size: 10, sha256: String(i).repeat(64).slice(0, 64), contentType: 'text/plain',
  status: 'done', verdict: i % 2 ? 'clean' : 'malicious', metadata: {}, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z',
});

describe('ApiKeyBar', () => {
  it('stays hidden until the api asks for a key, then stores it', () => {
    const { container } = render(<ApiKeyBar />);
    expect(container.textContent).toBe('');
    act(() => markAuthRequired());
    expect(screen.getByText(/needs an API key/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText('API key'), { target: { value: ' k-123 ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save key' }));
    expect(apiKey()).toBe('k-123');
    expect(localStorage.getItem('intellidox.apiKey')).toBe('k-123');
    expect(screen.getByText(/Using a stored API key/)).toBeTruthy();
  });
});

describe('History', () => {
  it('lists files and follows nextCursor for older ones', async () => {
    const calls = mockFetch({
      'GET /v1/files': [
        () => json(200, { items: [f(3), f(2)], nextCursor: 'c2' }),
        () => json(200, { items: [f(1)], nextCursor: null }),
      ],
    });
    render(<History q="file" />);
    await screen.findByText('file-3.txt');
    expect(calls[0].url).toBe('/v1/files?q=file&limit=20');
    fireEvent.click(screen.getByRole('button', { name: 'Show older files' }));
    await screen.findByText('file-1.txt');
    expect(calls[1].url).toBe('/v1/files?q=file&limit=20&cursor=c2');
    expect(screen.getAllByRole('row')).toHaveLength(4); // header + 3
    expect(screen.queryByRole('button', { name: 'Show older files' })).toBeNull();
  });

  it('explains a failure with a Retry that reloads', async () => {
    mockFetch({
      'GET /v1/files': [() => problem(503, 'database_unavailable', 'The database is unavailable.'), () => json(200, { items: [f(1)], nextCursor: null })],
    });
    render(<History q="" />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('cannot reach its database');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(screen.getByText('file-1.txt')).toBeTruthy());
  });
});

describe('DownloadButton', () => {
  it('follows the URL the gate hands out', async () => {
    const calls = mockFetch({
      'GET /v1/files/id-1/download': () => json(200, { url: 'http://storage.test/blobs/k?X-Amz-Signature=s', expiresAt: '2026-01-01T00:05:00Z', name: 'a.txt', verdict: 'clean' }),
    });
    const clicked: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.href);
    });
    render(<DownloadButton id="id-1" name="a.txt" />);
    fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(clicked).toEqual(['http://storage.test/blobs/k?X-Amz-Signature=s']));
    expect(calls).toHaveLength(1);
    expect(screen.queryByRole('alert')).toBeNull();
    click.mockRestore();
  });

  it('shows the verdict and reasons when the gate refuses, and never follows a URL', async () => {
    mockFetch({
      'GET /v1/files/id-2/download': () => json(403, {
        type: 'about:blank', title: 'Forbidden', status: 403, code: 'verdict_blocks_download',
        detail: 'The file is malicious: it is never downloadable.', verdict: 'malicious', reasons: ['clamav: Win.Test.EICAR_HDB-1'],
      }, 'application/problem+json'),
    });
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click');
    render(<DownloadButton id="id-2" name="eicar.com" />);
    fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('never lets it be downloaded');
    expect(alert.textContent).toContain('clamav: Win.Test.EICAR_HDB-1');
    expect(alert.getAttribute('data-refused-verdict')).toBe('malicious');
    expect(click).not.toHaveBeenCalled();
    click.mockRestore();
  });

  it('says a file without a verdict is not ready yet', async () => {
    mockFetch({ 'GET /v1/files/id-3/download': () => problem(409, 'verdict_pending', 'The file has no verdict yet.') });
    render(<DownloadButton id="id-3" name="later.txt" />);
    fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('no verdict yet');
  });
});
