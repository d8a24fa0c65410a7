// Drives a cellsd bridge server with the published SQLRooms client:
// createHttpDbBridge of @sqlrooms/db 0.29.0, bundled by esbuild into
// bridge.bundle.mjs next to this file (the Go package internal/sqlroomstest
// does that, for TestSQLRoomsClient and TestServe_SQLRoomsClient). It calls
// every method of the bridge and prints what the client decoded as one JSON
// document on stdout, for the Go test to check against Postgres.
//
// Environment: BRIDGE_URL (base URL), BRIDGE_TOKEN (bearer token),
// PG_SCHEMA (the schema holding table people), E2E_MARKER (a string put in
// the SQL of the query this script aborts, to find it in pg_stat_activity).
// Connections: 'pg' (read-only Postgres; sqlroomstest.ConnectionID) and
// 'duckdb-core'.

import * as arrow from 'apache-arrow';
import { createHttpDbBridge } from './bridge.bundle.mjs';

const { BRIDGE_URL: baseUrl, BRIDGE_TOKEN: token, PG_SCHEMA: schema, E2E_MARKER: marker } = process.env;
const headers = { Authorization: `Bearer ${token}` };
const bridge = createHttpDbBridge({ id: 'cellsd', baseUrl, runtimeSupport: 'server', headers });
const out = {};

// errorOf returns the message of the error fn throws, or null.
async function errorOf(fn) {
  try {
    await fn();
    return null;
  } catch (e) {
    return String(e?.message ?? e);
  }
}

// plain turns a value the Arrow client decoded into JSON: 64-bit integers
// as decimal text, decimals as their text at the column's scale, dates and
// timestamps as ISO text (dates without a time), binary as hex, lists as
// arrays.
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
  if (arrow.DataType.isList(type)) return Array.from(v, (e) => plain(e, type.children[0].type));
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

// rowsOf returns a table's rows as arrays of plain values.
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

const peopleSQL = `SELECT id, name, amount, at, flag, ratio, day, u FROM ${schema}.people ORDER BY id`;

// testConnection
out.testConnection = {
  pg: await bridge.testConnection('pg'),
  core: await bridge.testConnection('duckdb-core'),
  unknown: await errorOf(() => bridge.testConnection('nope')),
  noToken: await errorOf(() => createHttpDbBridge({ id: 'x', baseUrl }).testConnection('pg')),
};

// listCatalog
out.listCatalog = {
  pg: await bridge.listCatalog('pg'),
  core: await bridge.listCatalog('duckdb-core'),
};

// executeQuery
out.executeQuery = {
  json: (await bridge.executeQuery({ connectionId: 'pg', sql: peopleSQL, queryType: 'json' })).jsonData,
  execCore: await bridge.executeQuery({
    connectionId: 'duckdb-core',
    sql: 'CREATE TABLE e2e_answers AS SELECT 42 AS answer',
    queryType: 'exec',
  }),
  coreJson: (
    await bridge.executeQuery({ connectionId: 'duckdb-core', sql: 'SELECT answer FROM e2e_answers', queryType: 'json' })
  ).jsonData,
  execReadOnly: await errorOf(() =>
    bridge.executeQuery({ connectionId: 'pg', sql: `INSERT INTO ${schema}.people (id) VALUES (99)`, queryType: 'exec' }),
  ),
  sqlError: await errorOf(() => bridge.executeQuery({ connectionId: 'pg', sql: 'SELECT * FROM nowhere', queryType: 'json' })),
};

// fetchArrow
{
  const pg = await bridge.fetchArrow({ connectionId: 'pg', sql: peopleSQL });
  const core = await bridge.fetchArrow({
    connectionId: 'duckdb-core',
    sql: "SELECT 1::BIGINT AS a, 'x' AS b, 2.50::DECIMAL(5,2) AS c, [1, 2] AS d",
  });
  out.fetchArrow = {
    pg: { fields: fieldsOf(pg), rows: rowsOf(pg) },
    core: { fields: fieldsOf(core), rows: rowsOf(core) },
    sqlError: await errorOf(() => bridge.fetchArrow({ connectionId: 'pg', sql: 'SELECT * FROM nowhere' })),
  };
}

// fetchArrowStream: several batches, each a complete IPC stream.
{
  const batches = [];
  for await (const payload of bridge.fetchArrowStream({
    connectionId: 'pg',
    sql: "SELECT g::bigint AS id, 'row ' || g AS name FROM generate_series(1, 10500) AS g ORDER BY g",
    chunkRows: 1000,
  })) {
    const t = arrow.tableFromIPC(payload);
    const ids = Array.from(t.getChild('id'), (v) => Number(v));
    batches.push({ rows: t.numRows, first: ids[0], last: ids[ids.length - 1] });
  }
  out.fetchArrowStream = {
    batches,
    sqlError: await errorOf(async () => {
      for await (const _ of bridge.fetchArrowStream({ connectionId: 'pg', sql: 'SELECT * FROM nowhere' })) {
        // no batch expected
      }
    }),
  };
}

// An aborted stream cancels the query on the server: the client calls
// cancel-query with the stream's queryId and drops the response.
{
  const activeSQL = `SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, '${marker}') > 0`;
  const active = async () =>
    Number((await bridge.executeQuery({ connectionId: 'pg', sql: activeSQL, queryType: 'json' })).jsonData[0].n);
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
      connectionId: 'pg',
      sql: `SELECT g, CASE WHEN g = 5000 THEN pg_sleep(60)::text END AS /* ${marker} */ s FROM generate_series(1, 10000) AS g`,
      chunkRows: 1000,
      queryId: `e2e-${marker}`,
      signal: controller.signal,
    })
    [Symbol.asyncIterator]();
  const first = await stream.next();
  const runningAfterMs = await waitFor((n) => n > 0);
  const started = Date.now();
  controller.abort();
  // Batches already received may still come out; then the stream fails.
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

// cancelQuery of a query that is not running.
out.cancelQuery = { unknown: await bridge.cancelQuery('never-ran') };

// list-connections is part of the contract but not of createHttpDbBridge.
{
  const res = await fetch(`${baseUrl}/api/db/list-connections`, { headers });
  out.listConnections = { status: res.status, body: await res.json() };
}

process.stdout.write(JSON.stringify(out));
