// Reads the results of a cellsd session through the published SQLRooms
// client (createHttpDbBridge of @sqlrooms/db 0.29.0, bundled into
// bridge.bundle.mjs by internal/sqlroomstest), on the connection
// "session:<id>": every relation with fetchArrow and with
// fetchArrowStream, and a statement that is not a query, which must be
// refused. Prints {relation: {arrow, stream, batches}, refused} as JSON.
//
// Environment: BRIDGE_URL (base URL), SESSION_ID, RELATIONS (a JSON array
// of relation names, as events carry them).

import * as arrow from 'apache-arrow';
import { createHttpDbBridge } from './bridge.bundle.mjs';

const { BRIDGE_URL: baseUrl, SESSION_ID: session, RELATIONS: relations } = process.env;
const bridge = createHttpDbBridge({ id: 'cellsd', baseUrl, runtimeSupport: 'server' });
const connectionId = `session:${session}`;
const out = { relations: {} };

for (const rel of JSON.parse(relations)) {
  const table = await bridge.fetchArrow({ connectionId, sql: `SELECT * FROM ${rel}` });
  let stream = 0;
  let batches = 0;
  for await (const payload of bridge.fetchArrowStream({ connectionId, sql: `FROM ${rel}`, chunkRows: 1000 })) {
    stream += arrow.tableFromIPC(payload).numRows;
    batches++;
  }
  out.relations[rel] = { arrow: table.numRows, stream, batches };
}
try {
  await bridge.executeQuery({ connectionId, sql: 'DROP TABLE sales', queryType: 'exec' });
  out.refused = null;
} catch (e) {
  out.refused = String(e?.message ?? e);
}
console.log(JSON.stringify(out));
