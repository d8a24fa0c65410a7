// The daemon's public contract, as an outside frontend sees it: the NATS
// job API (request/reply, JSON), the events and the status bucket. Nothing
// here is private to cellsd.
import { wsconnect, type NatsConnection } from "@nats-io/nats-core";

export const BUCKET = "CELLSD_STATUS";
export const EVENTS = "cellsd.v1.events";

/** An event as the daemon publishes it (README "Events"). */
export type CellEvent = {
  v: number;
  seq: number;
  ts: string | null;
  session: string;
  artifact: string | null;
  cell: string;
  run: string | null;
  status: string;
  prev: string | null;
  reason: string;
  relation: string | null;
  rows: number | null;
  durationMs: number | null;
  cached: boolean;
  error: string | null;
};

export type InputSpec = {
  kind: "text" | "slider" | "dropdown" | string;
  varName: string;
  value: unknown;
  options?: unknown[];
  min?: number;
  max?: number;
  step?: number;
};

export type GraphCell = {
  id: string;
  type: string;
  resultName?: string;
  connectorId?: string;
  engine?: string;
  deps: string[] | null;
  defines?: string[] | null;
  // Added to the graph op's reply for frontends (CONTRACTS.md); absent
  // from older daemons.
  title?: string;
  sql?: string | null;
  input?: InputSpec | null;
};

export type GraphError = { cellId: string; kind: string; message: string; line: number; column: number };

export type GraphArtifact = { id: string; schema: string; cells: GraphCell[]; order: string[] | null; errors: GraphError[] | null };

export type Graph = { artifacts: GraphArtifact[]; next?: number | null };

/** A cell in the status reply; an external cell also has its refresh policy and when its result was fetched (README "Refresh policies"). */
export type StatusCell = CellEvent & { title?: string; type?: string; sql?: string | null; resultName?: string; connectorId?: string; refresh?: string; fetchedAt?: string };

export type StatusInput = InputSpec & { cellId: string; artifact: string; title?: string };

export type Status = { sessionId: string; seq: number; cells: StatusCell[]; inputs?: StatusInput[]; next?: number | null };

export type SessionInfo = {
  sessionId: string;
  title?: string;
  path?: string | null;
  daemon?: { name?: string; http?: string };
  openedAt?: string;
  cells?: number;
};

export type QueryResult = { columns: { name: string; type: string }[]; rows: unknown[][]; total: number };

export class APIError extends Error {
  constructor(
    public code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * token makes an id one safe subject token, exactly as the daemon does
 * (natsbus.Token): ASCII letters, digits, '-' and '_' stay, every other
 * byte of its UTF-8 becomes "=XX". The open reply gives the subjects
 * already escaped; a page opened at /s/<id> has only the id.
 */
export function token(id: string): string {
  if (id === "") return "=";
  let out = "";
  for (const b of new TextEncoder().encode(id)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_-]/.test(c)) out += c;
    else out += "=" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

export type Subjects = { api: string; events: string; kv: string };

export function subjectsOf(id: string): Subjects {
  const t = token(id);
  return { api: `cellsd.v1.session.${t}`, events: `${EVENTS}.${t}.>`, kv: `${t}.>` };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** request sends one job API request and returns its reply, or throws its error. */
export async function request<T>(nc: NatsConnection, subject: string, body: unknown = {}, timeout = 30000): Promise<T> {
  const m = await nc.request(subject, enc.encode(JSON.stringify(body)), { timeout });
  const v = JSON.parse(dec.decode(m.data));
  if (v && typeof v === "object" && v.error) throw new APIError(v.error.code, v.error.message);
  return v as T;
}

/** paged follows a paged reply's `next` and concatenates `pick` of each page. */
async function paged<T extends { next?: number | null }>(nc: NatsConnection, subject: string, merge: (acc: T, page: T) => void): Promise<T> {
  const first = await request<T>(nc, subject, {});
  let next = first.next;
  for (let guard = 0; next != null && guard < 10000; guard++) {
    const page = await request<T>(nc, subject, { offset: next });
    merge(first, page);
    next = page.next;
  }
  return first;
}

export function getGraph(nc: NatsConnection, api: string): Promise<Graph> {
  return paged<Graph>(nc, `${api}.graph`, (acc, page) => {
    for (const a of page.artifacts) {
      const have = acc.artifacts.find((x) => x.id === a.id);
      if (!have) {
        acc.artifacts.push(a);
        continue;
      }
      have.cells.push(...a.cells);
      if (a.order) have.order = [...(have.order ?? []), ...a.order];
      if (a.errors) have.errors = [...(have.errors ?? []), ...a.errors];
    }
  });
}

export function getStatus(nc: NatsConnection, api: string): Promise<Status> {
  return paged<Status>(nc, `${api}.status`, (acc, page) => {
    acc.cells.push(...page.cells);
    if (page.inputs) acc.inputs = [...(acc.inputs ?? []), ...page.inputs];
    acc.seq = Math.max(acc.seq, page.seq);
  });
}

/** sessions gathers every daemon's reply until 250 ms pass with none, at most 2 s. */
export async function listSessions(nc: NatsConnection): Promise<SessionInfo[]> {
  const out: SessionInfo[] = [];
  const it = await nc.requestMany("cellsd.v1.api.sessions", enc.encode("{}"), { strategy: "stall", stall: 250, maxWait: 2000 });
  for await (const m of it) {
    try {
      const v = JSON.parse(dec.decode(m.data));
      if (Array.isArray(v?.sessions)) out.push(...v.sessions);
    } catch {
      // a reply that is not JSON (a status message) ends nothing
    }
  }
  out.sort((a, b) => (b.openedAt ?? "").localeCompare(a.openedAt ?? "") || a.sessionId.localeCompare(b.sessionId));
  return out;
}

export async function listNotebooks(nc: NatsConnection): Promise<{ path: string; title?: string }[]> {
  const r = await request<{ notebooks: { path: string; title?: string }[] }>(nc, "cellsd.v1.api.notebooks", {}, 5000);
  return r.notebooks ?? [];
}

export type OpenReply = { sessionId: string; subjects?: { api: string; events: string }; kv?: string; token?: string };

export function openNotebook(nc: NatsConnection, path: string): Promise<OpenReply> {
  return request<OpenReply>(nc, "cellsd.v1.api.open", { notebook: path }, 60000);
}

/**
 * connect reads the page config and opens the NATS WebSocket, retrying
 * forever. A page opened as /s/<id>#token=<session token> (the open
 * reply's token, on a daemon whose NATS lets only such clients in)
 * connects with it, and with the inbox prefix its permissions allow.
 */
export async function connect(sessionId?: string): Promise<NatsConnection> {
  const tok = new URLSearchParams(window.location.hash.slice(1)).get("token");
  const r = await fetch("/api/page-config");
  if (!r.ok) throw new Error(`GET /api/page-config: ${r.status}`);
  const cfg = (await r.json()) as { natsWebsocket?: string | null };
  if (!cfg.natsWebsocket) throw new Error("this daemon has no NATS WebSocket (it uses an outside NATS: give that server a websocket)");
  return wsconnect({
    servers: cfg.natsWebsocket,
    name: "cellsd-page",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 5000,
    maxPingOut: 2,
    ...(tok && sessionId !== undefined ? { token: tok, inboxPrefix: `_INBOX.${token(sessionId)}` } : {}),
  });
}
