import type { ReactNode } from 'react';
import { humanize } from '../lib/format';
import { VerdictBadge } from './VerdictBadge';
import type { Verdict } from '../lib/types';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const verdicts = new Set(['clean', 'malicious', 'suspicious', 'unscanned', 'pending']);

function Value({ v, k }: { v: unknown; k?: string }): ReactNode {
  if (v === null || v === undefined || v === '') return <span className="muted">—</span>;
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  if (typeof v === 'number') return v.toLocaleString();
  if (typeof v === 'string') {
    if (k === 'effect' && verdicts.has(v)) return <VerdictBadge verdict={v as Verdict} />;
    return v;
  }
  if (Array.isArray(v)) {
    if (!v.length) return <span className="muted">None</span>;
    if (v.every(isObj)) return <ObjTable rows={v as Obj[]} />;
    return v.map((x) => (isObj(x) ? JSON.stringify(x) : String(x))).join(', ');
  }
  if (isObj(v)) return <Dl obj={v} />;
  return String(v);
}

function ObjTable({ rows, caption }: { rows: Obj[]; caption?: string }) {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return (
    <div className="table-scroll">
      <table className="meta-table">
        {caption ? <caption className="visually-hidden">{caption}</caption> : null}
        <thead>
          <tr>{cols.map((c) => <th key={c} scope="col">{humanize(c)}</th>)}</tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => <td key={c}><Value v={r[c]} k={c} /></td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Dl({ obj }: { obj: Obj }) {
  return (
    <dl className="meta-dl">
      {Object.entries(obj).map(([k, v]) => (
        <div key={k}>
          <dt>{humanize(k)}</dt>
          <dd><Value v={v} k={k} /></dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * MetadataView renders the extractor's metadata generically: one section per
 * format (a definition list), arrays of records as small tables. Plain
 * top-level values are gathered under "General".
 */
export function MetadataView({ metadata }: { metadata: Obj | null }) {
  if (!metadata || !Object.keys(metadata).length) return <p className="muted">No metadata has been extracted yet.</p>;
  const general: Obj = {};
  const sections: Array<[string, ReactNode]> = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (isObj(v)) sections.push([k, <Dl obj={v} />]);
    else if (Array.isArray(v) && v.every(isObj))
      sections.push([k, v.length ? <ObjTable rows={v as Obj[]} caption={humanize(k)} /> : <p className="muted">None.</p>]);
    else general[k] = v;
  }
  if (Object.keys(general).length) sections.unshift(['general', <Dl obj={general} />]);
  const order = (k: string) => (k === 'type' ? 0 : k === 'general' ? 1 : k === 'findings' ? 3 : 2);
  sections.sort((a, b) => order(a[0]) - order(b[0]));
  return (
    <div className="meta">
      {sections.map(([k, node]) => (
        <section key={k} className="meta-section" aria-labelledby={`meta-${k}`}>
          <h3 id={`meta-${k}`}>{k === 'type' ? 'File type' : humanize(k)}</h3>
          {node}
        </section>
      ))}
    </div>
  );
}
