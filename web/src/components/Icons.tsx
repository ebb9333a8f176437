// Small inline icons. They are decorative: the word beside them carries the meaning.
import type { ReactElement } from 'react';

const base = { width: 16, height: 16, viewBox: '0 0 16 16', 'aria-hidden': true, focusable: false } as const;

export const CheckIcon = () => (
  <svg {...base}><path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" /></svg>
);
export const CrossIcon = () => (
  <svg {...base}><path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" /></svg>
);
export const WarnIcon = () => (
  <svg {...base}><path d="M8 1.5l7 13H1z" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" /><path d="M8 6v4M8 12v.5" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" /></svg>
);
export const QuestionIcon = () => (
  <svg {...base}><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" /><path d="M6.2 6.2a1.9 1.9 0 113 1.5c-.8.5-1.2.9-1.2 1.8M8 11.6v.4" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" /></svg>
);
export const SkipIcon = () => (
  <svg {...base}><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" /><path d="M5 8h6" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" /></svg>
);
export const BlockIcon = () => (
  <svg {...base}><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" /><path d="M3.5 12.5l9-9" stroke="currentColor" strokeWidth="1.5" /></svg>
);
export const Spinner = (): ReactElement => <span className="spinner" aria-hidden="true" />;
export const CopyIcon = () => (
  <svg {...base}><rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" strokeWidth="1.5" /><path d="M11 3.5V3a1 1 0 00-1-1H3a1 1 0 00-1 1v7a1 1 0 001 1h.5" fill="none" stroke="currentColor" strokeWidth="1.5" /></svg>
);
export const UploadIcon = () => (
  <svg width="40" height="40" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M12 16V4m0 0l-4.5 4.5M12 4l4.5 4.5M4 15v3.5A1.5 1.5 0 005.5 20h13a1.5 1.5 0 001.5-1.5V15" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" /></svg>
);
export const ShieldIcon = () => (
  <svg width="26" height="26" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M8 1l6 2.5v4C14 11 11.4 14 8 15 4.6 14 2 11 2 7.5v-4z" fill="currentColor" /><path d="M5.3 8.2l1.9 1.9 3.6-3.8" fill="none" stroke="#fff" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" /></svg>
);
