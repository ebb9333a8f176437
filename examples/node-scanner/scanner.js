// A minimal IntelliDox scanner in Node.js, written against nothing but
// Dapr's HTTP API and the scanner contract (docs/scanner-contract.md):
//
//   GET  /dapr/subscribe                 programmatic subscription to file.extracted
//   POST /events/file-extracted          one event; reply SUCCESS, RETRY or DROP
//   POST {sidecar}/v1.0/state/scanresults/bulk   cached result, if any
//   POST {sidecar}/v1.0/bindings/blobstore       presign a GET for the object
//   GET  {presigned URL}                         stream the object, then its decoded views
//   POST {sidecar}/v1.0/state/scanresults        store the result
//   POST {sidecar}/v1.0/publish/events/scan.completed
//
// Its "engine" flags files containing a marker string. Plain Node 20: http,
// fetch and crypto, no dependencies.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

const ENGINE = process.env.ENGINE_NAME || 'node-marker';
const ENGINE_VERSION = 'node-example/1';
const MARKER = Buffer.from(process.env.MARKER || 'INTELLIDOX-TEST-MALWARE-7f3a9c');
const MAX_SIZE = Number(process.env.MAX_SIZE || 100 * 1024 * 1024);
const APP_PORT = Number(process.env.APP_PORT || 8090);
// Loopback unless told otherwise: in a pod, LISTEN_HOST=0.0.0.0 lets the
// kubelet's probes reach the app on the pod's address.
const LISTEN_HOST = process.env.LISTEN_HOST || '127.0.0.1';
const SIDECAR = `http://127.0.0.1:${process.env.DAPR_HTTP_PORT || 3500}`;
// Dapr API token auth: the app sends DAPR_API_TOKEN to its sidecar, and
// accepts calls only from a sidecar that sends APP_API_TOKEN. Both unset:
// token auth is off.
const DAPR_API_TOKEN = process.env.DAPR_API_TOKEN || '';
const APP_API_TOKEN = process.env.APP_API_TOKEN || '';
const sidecarHeaders = DAPR_API_TOKEN ? { 'dapr-api-token': DAPR_API_TOKEN } : {};
// The signature version names the "signatures": change the marker, and
// earlier results are stale.
const SIGNATURE_VERSION = 'marker-' + crypto.createHash('sha256').update(MARKER).digest('hex').slice(0, 12);

const log = (level, msg, fields = {}) =>
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, engine: ENGINE, ...fields }) + '\n');

// Transient failures: the event is retried.
class Retry extends Error {}

async function sidecar(path, body) {
  let res;
  try {
    res = await fetch(SIDECAR + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sidecarHeaders },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new Retry(`sidecar ${path}: ${err.message}`);
  }
  if (!res.ok) throw new Retry(`sidecar ${path}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

const stateKey = (sha256) => `result/${ENGINE}/${sha256}`;

// A stored result stands unless it is an error or a timeout, which a
// redelivery should try again.
const reusable = (r) => r && r.signatureVersion === SIGNATURE_VERSION && r.result !== 'error' &&
  !(r.result === 'skipped' && String(r.detail).startsWith('timeout: '));

async function cached(sha256) {
  const items = await sidecar('/v1.0/state/scanresults/bulk', { keys: [stateKey(sha256)] });
  const item = items && items[0];
  return item && item.data ? item.data : null;
}

// search streams one object and looks for the marker, holding one chunk
// and the marker's length of the previous one. It answers {found, seen},
// {missing} for an object not in storage, or {tooLarge}.
async function search(key) {
  const presigned = await sidecar('/v1.0/bindings/blobstore', {
    operation: 'presign',
    metadata: { key, presignTTL: '15m' },
  });
  let res;
  try {
    res = await fetch(presigned.presignURL);
  } catch (err) {
    throw new Retry(`object store: ${err.message}`);
  }
  if (res.status === 404) return { missing: true };
  if (!res.ok) throw new Retry(`object store: ${res.status}`);
  let tail = Buffer.alloc(0);
  let seen = 0;
  try {
    for await (const chunk of res.body) {
      seen += chunk.length;
      // Returning from the loop cancels the download.
      if (seen > MAX_SIZE) return { tooLarge: true };
      const window = Buffer.concat([tail, chunk]);
      if (window.includes(MARKER)) return { found: true, seen };
      tail = window.subarray(Math.max(0, window.length - MARKER.length + 1));
    }
  } catch (err) {
    throw new Retry(`reading the object: ${err.message}`);
  }
  return { found: false, seen };
}

// scan searches the object, then the decoded views the extractor stored
// beside it, if any (docs/scanner-contract.md, "Decoded views"): this
// engine opts in by reading them. A hit in a view names it.
async function scan(ev) {
  if (ev.size > MAX_SIZE) {
    return { result: 'skipped', detail: `too large: ${ev.size} bytes exceeds this engine's limit of ${MAX_SIZE} bytes` };
  }
  const raw = await search(ev.objectKey);
  if (raw.missing) {
    return { result: 'error', detail: `unreadable: object ${JSON.stringify(ev.objectKey)} is not in storage` };
  }
  if (raw.tooLarge) {
    return { result: 'skipped', detail: `too large: more than ${MAX_SIZE} bytes, this engine's limit` };
  }
  if (raw.found) return { result: 'malicious', threats: ['NodeExample.Marker'], detail: 'marker string found' };
  const views = Array.isArray(ev.views) ? ev.views : [];
  for (const v of views) {
    const hit = await search(v.objectKey);
    // A view that is gone (or too large) is not this file's content:
    // the raw bytes were searched whole.
    if (hit.found) {
      return { result: 'malicious', threats: ['NodeExample.Marker'], detail: `marker string found in ${v.name}` };
    }
  }
  const also = views.length ? ` and ${views.length} decoded views` : '';
  return { result: 'clean', detail: `no marker in ${raw.seen} bytes${also}` };
}

async function onExtracted(ce) {
  let ev = ce.data;
  if (ev === undefined && ce.data_base64) ev = JSON.parse(Buffer.from(ce.data_base64, 'base64').toString());
  if (typeof ev === 'string') ev = JSON.parse(ev);
  if (!ev || ev.version !== 1) {
    log('warn', 'event with unknown schema version dropped', { event_id: ce.id });
    return 'DROP';
  }
  if (ev.rejection) return 'SUCCESS'; // nothing verified to scan
  if (Array.isArray(ev.engines) && ev.engines.length > 0 && !ev.engines.includes(ENGINE)) return 'SUCCESS';
  if (!/^[0-9a-f]{64}$/.test(ev.sha256 || '') || !ev.objectKey) {
    log('warn', 'file.extracted without a sha256 or object key dropped', { event_id: ce.id });
    return 'DROP';
  }
  let result = await cached(ev.sha256);
  if (!reusable(result)) {
    const start = Date.now();
    const found = await scan(ev);
    result = {
      engine: ENGINE,
      result: found.result,
      threats: found.threats || [],
      engineVersion: ENGINE_VERSION,
      signatureVersion: SIGNATURE_VERSION,
      scannedAt: new Date(start).toISOString(),
      durationMs: Date.now() - start,
      detail: found.detail,
    };
    await sidecar('/v1.0/state/scanresults', [{ key: stateKey(ev.sha256), value: result }]);
  }
  const completed = { version: 1, sha256: ev.sha256, result };
  if (ev.fileId) completed.fileId = ev.fileId;
  await sidecar('/v1.0/publish/events/scan.completed', completed);
  log('info', 'scanned', { file_id: ev.fileId, sha256: ev.sha256, result: result.result });
  return 'SUCCESS';
}

const subscriptions = [{
  pubsubname: 'events',
  topic: 'file.extracted',
  route: '/events/file-extracted',
  deadLetterTopic: 'deadletter',
}];

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/dapr/subscribe') return reply(res, 200, subscriptions);
  if (req.method === 'GET' && req.url === '/healthz') return reply(res, 204);
  if (APP_API_TOKEN && req.headers['dapr-api-token'] !== APP_API_TOKEN) {
    return reply(res, 401, { code: 'unauthorized', detail: 'Only the Dapr sidecar may call this app.' });
  }
  if (req.method !== 'POST' || req.url !== '/events/file-extracted') return reply(res, 404, { error: 'not found' });
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let status;
    try {
      status = await onExtracted(JSON.parse(Buffer.concat(chunks).toString()));
    } catch (err) {
      if (err instanceof Retry) {
        log('warn', 'transient failure; will retry', { err: err.message });
        status = 'RETRY';
      } else {
        log('error', 'poison event dropped', { err: err.message });
        status = 'DROP';
      }
    }
    reply(res, 200, { status });
  });
});

server.listen(APP_PORT, LISTEN_HOST, () => log('info', 'listening', { port: APP_PORT, signature_version: SIGNATURE_VERSION }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
