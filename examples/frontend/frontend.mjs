// A cellsd frontend in Node, as the README's "Build a frontend" describes:
// it opens a session on a notebook, starts a run, joins it late (subscribe,
// read the KV bucket, apply the events with a greater seq), renders every
// cell's status as it changes, and prints the first rows of a cell's
// result through the SQLRooms bridge (@sqlrooms/db's createHttpDbBridge on
// connection "session:<id>").
//
//   npm ci && npm start            # against `cellsd serve` on the defaults
//
// Environment (all optional):
//   NATS_URL       nats://127.0.0.1:4222
//   BRIDGE_URL     http://127.0.0.1:8765 (cellsd serve --http)
//   AUTH_TOKEN     the daemon's --auth-token, for the bridge
//   NOTEBOOK       ../../fixtures/notebooks/quickstart.json, sent inline
//   SESSION_ID     the session id to open (the daemon picks one if unset)
//   CELL           the cell whose first rows are printed (default: daily)
//   ROWS           how many rows (default 5)
//   REPORT         a file to write what happened to, as JSON (for tests)

import { readFile, writeFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { createHttpDbBridge } from '@sqlrooms/db/bridge';
import * as arrow from 'apache-arrow';

const env = process.env;
const natsUrl = env.NATS_URL ?? 'nats://127.0.0.1:4222';
const bridgeUrl = env.BRIDGE_URL ?? 'http://127.0.0.1:8765';
const notebookPath = env.NOTEBOOK ?? new URL('../../fixtures/notebooks/quickstart.json', import.meta.url);
const cellId = env.CELL ?? 'daily';
const nRows = Number(env.ROWS ?? 5);

// request sends a job API request and returns the reply, throwing the
// daemon's {"error": {code, message}} as an Error.
async function request(nc, subject, body = {}) {
  const msg = await nc.request(subject, JSON.stringify(body), { timeout: 30_000 });
  const reply = msg.json();
  if (reply?.error) throw new Error(`${subject}: ${reply.error.code}: ${reply.error.message}`);
  return reply;
}

// 1. Open a session. The notebook goes inline (a daemon reads paths only
// under its --notebooks directory).
const nc = await connect({ servers: natsUrl, name: 'cellsd-frontend-example' });
const notebook = JSON.parse(await readFile(notebookPath, 'utf8'));
const opened = await request(nc, 'cellsd.v1.api.open', {
  notebook,
  ...(env.SESSION_ID ? { sessionId: env.SESSION_ID } : {}),
});
const { sessionId, subjects, kv: kvFilter, token } = opened;
if (!subjects?.api || !subjects?.events || !kvFilter) {
  throw new Error(`the open reply has no subjects and kv (a cellsd before 0.2?): ${JSON.stringify(opened)}`);
}
console.log(`session ${sessionId}: api ${subjects.api}, events ${subjects.events}, keys ${kvFilter}`);

// With a session token (a daemon whose NATS authenticates clients), the
// session is followed on a connection of its own that may touch only this
// session's subjects and keys, as a browser would. Its replies come to
// the session's own inboxes, _INBOX.<the session's subject token>.
const sessionToken = subjects.api.slice('cellsd.v1.session.'.length);
const sc = token
  ? await connect({ servers: natsUrl, token, inboxPrefix: `_INBOX.${sessionToken}`, name: `cellsd-frontend-example ${sessionId}` })
  : nc;

// 2. Start a run, then join it late, on purpose: the run is already going
// when this frontend starts watching, as when a page is opened mid-run.
const { run } = await request(sc, `${subjects.api}.run`, {});
console.log(`run ${run} started`);

// The state: per cell, its latest event. Keys are artifact/cell ids as
// the payload gives them, never escaped by hand.
const states = new Map(); // "artifact/cell" -> event
const keyOf = (ev) => `${ev.artifact ?? '_session'}/${ev.cell}`;
const lines = [];
let done; // resolves when the session event that ends our run is applied
const finished = new Promise((resolve) => (done = resolve));

function render(ev, from) {
  const where = ev.cell === '_session' ? 'session' : `${ev.artifact}/${ev.cell}`;
  const extra = [ev.reason, ev.rows != null ? `${ev.rows} rows` : null, ev.error].filter(Boolean).join(', ');
  const line = `seq ${String(ev.seq).padStart(3)}  ${ev.status.padEnd(8)} ${where}${extra ? `  (${extra})` : ''}  [${from}]`;
  lines.push(line);
  console.log(line);
}

function apply(ev, from) {
  const key = keyOf(ev);
  const prev = states.get(key);
  if (prev && ev.seq <= prev.seq) return; // already seen, or older than the bucket
  states.set(key, ev);
  render(ev, from);
  if (ev.cell === '_session' && ev.run === run && ['success', 'error', 'cancel'].includes(ev.status)) done(ev);
}

// (a) Subscribe first and buffer what arrives.
const buffered = [];
let live = false;
const sub = sc.subscribe(subjects.events, {
  callback: (err, msg) => {
    if (err) return;
    const ev = msg.json();
    if (live) apply(ev, 'event');
    else buffered.push(ev);
  },
});
await sc.flush(); // the subscription is on the server before the bucket is read

// (b) Read the bucket: every key of the session, each value an event.
const kvm = new Kvm(sc);
// allow_direct: the bucket allows direct gets (cellsd creates it so), which
// a session token may make for its own keys; open() alone would not know.
const bucket = await kvm.open('CELLSD_STATUS', { allow_direct: true });
for await (const key of await bucket.keys(kvFilter)) {
  const entry = await bucket.get(key);
  if (entry?.value?.length) apply(entry.json(), 'kv');
}

// (c) Apply the buffered events whose seq is greater than the bucket's
// for that cell (apply drops the others), then go live.
for (const ev of buffered) apply(ev, 'event');
live = true;

let timer;
const end = await Promise.race([
  finished,
  new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the run did not end within 60 s')), 60_000))),
]);
clearTimeout(timer);
console.log(`run ${run} ended ${end.status}: ${end.reason}`);

// The statuses as a table, one row per cell.
const cells = [...states.values()].filter((ev) => ev.cell !== '_session').sort((a, b) => a.seq - b.seq);
console.table(cells.map((ev) => ({ artifact: ev.artifact, cell: ev.cell, status: ev.status, rows: ev.rows, seq: ev.seq })));

// 3. The first rows of a cell, through the bridge, on the session's own
// DuckDB. The relation is the one its events carry.
const cell = cells.find((ev) => ev.cell === cellId);
if (!cell || cell.status !== 'success') throw new Error(`cell ${cellId} is ${cell?.status ?? 'missing'}`);
const bridge = createHttpDbBridge({
  id: 'cellsd',
  baseUrl: bridgeUrl,
  runtimeSupport: 'server',
  headers: env.AUTH_TOKEN ? { Authorization: `Bearer ${env.AUTH_TOKEN}` } : {},
});
const connectionId = `session:${sessionId}`;
const table = await bridge.fetchArrow({ connectionId, sql: `SELECT * FROM ${cell.relation} LIMIT ${nRows}` });
const fields = table.schema.fields.map((f) => f.name);
// plain makes an Arrow value printable: decimals as their text, dates and
// timestamps as ISO text, 64-bit integers as numbers when they fit.
function plain(v, type) {
  if (v === null || v === undefined) return null;
  if (arrow.DataType.isDecimal(type)) {
    const text = arrow.util.bigNumToString(v);
    const neg = text.startsWith('-');
    const digits = text.replace('-', '').padStart(type.scale + 1, '0');
    const cut = digits.length - type.scale;
    return (neg ? '-' : '') + (type.scale > 0 ? `${digits.slice(0, cut)}.${digits.slice(cut)}` : digits);
  }
  if (arrow.DataType.isDate(type)) return new Date(Number(v)).toISOString().slice(0, 10);
  if (arrow.DataType.isTimestamp(type)) return new Date(Number(v)).toISOString();
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}
const first = Array.from({ length: table.numRows }, (_, i) => {
  const row = table.get(i);
  return Object.fromEntries(table.schema.fields.map((f) => [f.name, plain(row[f.name], f.type)]));
});
console.log(`${cell.relation}: first ${table.numRows} of ${cell.rows} rows, through ${connectionId}`);
console.table(first);
// The row count the bridge sees is the one the event gave.
let counted = 0;
for await (const _ of bridge.fetchArrowStream({ connectionId, sql: `SELECT count(*) AS n FROM ${cell.relation}` })) counted++;
const count = await bridge.executeQuery({ connectionId, sql: `SELECT count(*) AS n FROM ${cell.relation}`, queryType: 'json' });

if (env.REPORT) {
  await writeFile(env.REPORT, JSON.stringify({
    sessionId, run, end: end.status, lines,
    statuses: Object.fromEntries(cells.map((ev) => [ev.cell, { status: ev.status, rows: ev.rows, seq: ev.seq }])),
    cell: cellId, relation: cell.relation, fields, first, bridgeCount: Number(count.jsonData[0].n), streamBatches: counted,
  }, null, 2));
}

// 4. Close the session and the connections. The session's token ends
// with it (the daemon then disconnects its clients), so the session's
// connection goes first and the one that opened the session closes it.
sub.unsubscribe();
if (sc !== nc) await sc.drain();
await request(nc, `${subjects.api}.close`);
await nc.drain();
