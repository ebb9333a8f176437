import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyBar } from '../src/components/ApiKeyBar';
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
