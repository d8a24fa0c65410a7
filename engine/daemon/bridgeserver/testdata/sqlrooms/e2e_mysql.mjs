// Drives a cellsd bridge server's MySQL connection with the published
// SQLRooms client, as e2e.mjs does its Postgres one: createHttpDbBridge of
// @sqlrooms/db, bundled into bridge.bundle.mjs next to this file by the Go
// package internal/sqlroomstest (for TestSQLRoomsClient_MySQL). It calls
// every method of the bridge on connection 'my' (read-only MariaDB;
// sqlroomstest.MySQLConnectionID) and prints what the client decoded as one
// JSON document on stdout, for the Go test to check against MariaDB.
//
// Environment: BRIDGE_URL (base URL), BRIDGE_TOKEN (bearer token), MY_DB
// (the database holding table e2e_people), E2E_MARKER (a string put in the SQL
// of the query this script aborts, to find it in the processlist).

import * as arrow from 'apache-arrow';
import { createHttpDbBridge } from './bridge.bundle.mjs';

const { BRIDGE_URL: baseUrl, BRIDGE_TOKEN: token, MY_DB: db, E2E_MARKER: marker } = process.env;
const headers = { Authorization: `Bearer ${token}` };
const bridge = createHttpDbBridge({ id: 'cellsd', baseUrl, runtimeSupport: 'server', headers });
const out = {};

async function errorOf(fn) {
  try {
    await fn();
    return null;
  } catch (e) {
    return String(e?.message ?? e);
  }
}

// plain turns a value the Arrow client decoded into JSON, as e2e.mjs does:
// 64-bit integers as decimal text, decimals as their text at the column's
// scale, dates and timestamps as ISO text, binary as hex; an interval as
// the client gives it.
function plain(v, type) {
  if (v === null || v === undefined) return null;
  if (arrow.DataType.isDecimal(type)) {
    const digits = arrow.util.bigNumToString(v).replace('-', '');
    const neg = arrow.util.bigNumToString(v).startsWith('-');
    const s = digits.padStart(type.scale + 1, '0');
    const text = type.scale > 0 ? `${s.slice(0, s.length - type.scale)}.${s.slice(s.length - type.scale)}` : s;
    return (neg ? '-' : '') + text;
  }
  if (arrow.DataType.isTimestamp(type)) return new Date(Number(v)).toISOString();
  if (arrow.DataType.isDate(type)) return new Date(Number(v)).toISOString().slice(0, 10);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Int32Array || v instanceof BigInt64Array) return Array.from(v, (e) => e.toString());
  return v;
}

function rowsOf(table) {
  const fields = table.schema.fields;
  const rows = [];
  for (let i = 0; i < table.numRows; i++) {
    const row = table.get(i);
    rows.push(fields.map((f) => plain(row[f.name], f.type)));
  }
  return rows;
}

const fieldsOf = (table) => table.schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));

const peopleSQL = `SELECT id, name, amount, at, ts, flag, ratio, day, u, b, j, e FROM \`${db}\`.e2e_people ORDER BY id`;

out.testConnection = {
  my: await bridge.testConnection('my'),
  unknown: await errorOf(() => bridge.testConnection('nope')),
  noToken: await errorOf(() => createHttpDbBridge({ id: 'x', baseUrl }).testConnection('my')),
};

out.listCatalog = { my: await bridge.listCatalog('my') };

out.executeQuery = {
  json: (await bridge.executeQuery({ connectionId: 'my', sql: peopleSQL, queryType: 'json' })).jsonData,
  execReadOnly: await errorOf(() =>
    bridge.executeQuery({ connectionId: 'my', sql: `INSERT INTO \`${db}\`.e2e_people (id) VALUES (99)`, queryType: 'exec' }),
  ),
  sqlError: await errorOf(() => bridge.executeQuery({ connectionId: 'my', sql: 'SELECT * FROM nowhere', queryType: 'json' })),
};

{
  const my = await bridge.fetchArrow({ connectionId: 'my', sql: peopleSQL });
  // TIME travels as a MONTH_DAY_NANO interval, which apache-arrow 17 (the
  // version @sqlrooms/db 0.29.0 pins) reads as YEAR_MONTH: besides what the
  // client makes of it, print the values from the column's bytes
  // (int32 months, int32 days, int64 nanoseconds, little-endian).
  const t = await bridge.fetchArrow({ connectionId: 'my', sql: `SELECT id, tm FROM \`${db}\`.e2e_people ORDER BY id` });
  const tm = t.getChild('tm');
  const raw = [];
  for (const d of tm.data) {
    const v = new DataView(d.values.buffer, d.values.byteOffset, d.length * 16);
    for (let i = 0; i < d.length; i++) {
      raw.push(d.getValid(i) ? [v.getInt32(16 * i, true), v.getInt32(16 * i + 4, true), v.getBigInt64(16 * i + 8, true).toString()] : null);
    }
  }
  out.fetchArrow = {
    my: { fields: fieldsOf(my), rows: rowsOf(my) },
    time: { fields: fieldsOf(t), rows: rowsOf(t), raw },
    sqlError: await errorOf(() => bridge.fetchArrow({ connectionId: 'my', sql: 'SELECT * FROM nowhere' })),
  };
}

// fetchArrowStream: several batches, each a complete IPC stream.
{
  const batches = [];
  for await (const payload of bridge.fetchArrowStream({
    connectionId: 'my',
    sql: "SELECT seq AS id, CONCAT('row ', seq) AS name FROM seq_1_to_10500 ORDER BY seq",
    chunkRows: 1000,
  })) {
    const t = arrow.tableFromIPC(payload);
    const ids = Array.from(t.getChild('id'), (v) => Number(v));
    batches.push({ rows: t.numRows, first: ids[0], last: ids[ids.length - 1] });
  }
  out.fetchArrowStream = {
    batches,
    sqlError: await errorOf(async () => {
      for await (const _ of bridge.fetchArrowStream({ connectionId: 'my', sql: 'SELECT * FROM nowhere' })) {
        // no batch expected
      }
    }),
  };
}

// An aborted stream cancels the query on the server (KILL QUERY).
{
  const activeSQL = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
    WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' AND INSTR(INFO, '${marker}') > 0`;
  const active = async () =>
    Number((await bridge.executeQuery({ connectionId: 'my', sql: activeSQL, queryType: 'json' })).jsonData[0].n);
  const waitFor = async (want) => {
    const start = Date.now();
    while (Date.now() - start < 10000) {
      if (want(await active())) return Date.now() - start;
      await new Promise((r) => setTimeout(r, 20));
    }
    return -1;
  };
  const controller = new AbortController();
  const stream = bridge
    .fetchArrowStream({
      connectionId: 'my',
      sql: `SELECT seq AS g, CASE WHEN seq = 5000 THEN SLEEP(60) END AS /* ${marker} */ s FROM seq_1_to_10000`,
      chunkRows: 1000,
      queryId: `e2e-${marker}`,
      signal: controller.signal,
    })
    [Symbol.asyncIterator]();
  const first = await stream.next();
  const runningAfterMs = await waitFor((n) => n > 0);
  const started = Date.now();
  controller.abort();
  let batchesAfterAbort = 0;
  const afterAbort = await errorOf(async () => {
    while (!(await stream.next()).done) batchesAfterAbort++;
  });
  const goneAfterMs = await waitFor((n) => n === 0);
  out.abort = {
    firstBatchRows: first.done ? 0 : arrow.tableFromIPC(first.value).numRows,
    runningAfterMs,
    afterAbort,
    batchesAfterAbort,
    goneAfterMs,
    tookMs: Date.now() - started,
    cancelAgain: await bridge.cancelQuery(`e2e-${marker}`),
  };
}

out.cancelQuery = { unknown: await bridge.cancelQuery('never-ran') };

{
  const res = await fetch(`${baseUrl}/api/db/list-connections`, { headers });
  out.listConnections = { status: res.status, body: await res.json() };
}

process.stdout.write(JSON.stringify(out));
