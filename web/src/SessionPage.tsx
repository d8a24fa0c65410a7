import { memo, useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { ReactFlow, Background, Controls, Handle, MarkerType, Position, useStore, type Edge, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  connect,
  getGraph,
  getStatus,
  request,
  subjectsOf,
  type CellEvent,
  type Graph,
  type GraphError,
  type InputSpec,
  type QueryResult,
  type StatusCell,
  type Subjects,
} from "./api";
import { CellStore, cellKey } from "./store";
import { LiveSession, type ConnState } from "./live";
import { layout, quickLayout, NODE_H, NODE_W, QUICK_FIRST, type Placed } from "./layout";

function artifactPos(p: Placed, nodeId: string): { x: number; y: number } {
  const a = p.artifacts.find((x) => `artifact:${x.id}` === nodeId);
  return a ? { x: a.x, y: a.y } : { x: 0, y: 0 };
}

/** What the page knows of a cell besides its state. */
type Meta = {
  key: string;
  artifact: string;
  cell: string;
  title: string;
  type: string;
  sql: string | null;
  input: InputSpec | null;
  resultName?: string;
  planError: GraphError | null;
  // An external cell's refresh policy and when its result was fetched,
  // as the status reply gave them.
  refresh?: string;
  fetchedAt?: string;
};

type Probe = {
  ready: boolean;
  cells: number;
  edges: number;
  firstPaintMs: number | null;
  layoutMs: number | null;
  elkMs: number | null;
  marks: Record<string, number>;
  store: CellStore | null;
  live: LiveSession | null;
  conn: ConnState;
  error: string | null;
};

declare global {
  interface Window {
    __cellsd: Probe;
  }
}

window.__cellsd = { ready: false, cells: 0, edges: 0, firstPaintMs: null, layoutMs: null, elkMs: null, marks: {}, store: null, live: null, conn: "connected", error: null };

function fmtMs(ms: number | null | undefined): string {
  if (ms == null) return "";
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** errorPosition finds a cell's error line and column: the graph's, else the message's. */
export function errorPosition(meta: Meta | undefined, ev: CellEvent | undefined): { line: number; column: number } | null {
  if (meta?.planError && meta.planError.line > 0) return { line: meta.planError.line, column: meta.planError.column };
  const msg = ev?.status === "error" ? ev.error ?? "" : "";
  let m = /line (\d+), column (\d+)/i.exec(msg);
  if (m) return { line: Number(m[1]), column: Number(m[2]) };
  m = /LINE (\d+):/.exec(msg);
  if (m) return { line: Number(m[1]), column: 0 };
  return null;
}

type CellData = { meta: Meta; store: CellStore };

const farOut = (s: { transform: [number, number, number] }) => s.transform[2] < 0.3;

const CellNode = memo(function CellNode({ data }: NodeProps<Node<CellData>>) {
  const { meta, store } = data;
  const ev = useSyncExternalStore(
    useCallback((f: () => void) => store.subscribeKey(meta.key, f), [store, meta.key]),
    () => store.get(meta.key),
  );
  const status = ev?.status ?? "idle";
  const pos = errorPosition(meta, ev);
  // Zoomed far out (a big notebook fitted to the screen) the text could
  // not be read anyway: a node is then only its coloured box, which keeps
  // repainting a thousand of them cheap.
  const far = useStore(farOut);
  if (far) {
    return (
      <div className={`cell far status-${status}`} data-cell={meta.cell} data-artifact={meta.artifact} data-status={status} data-seq={ev?.seq ?? 0}>
        <Handle type="target" position={Position.Left} isConnectable={false} />
        <Handle type="source" position={Position.Right} isConnectable={false} />
      </div>
    );
  }
  return (
    <div
      className={`cell status-${status}`}
      data-cell={meta.cell}
      data-artifact={meta.artifact}
      data-status={status}
      data-seq={ev?.seq ?? 0}
      title={ev?.reason ?? ""}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="cell-title">
        {meta.title}
        {meta.type !== "sql" && <span className="kind"> {meta.type}</span>}
      </div>
      <div className="cell-line">
        <span className="badge">{status}</span>
        {ev?.durationMs != null && <span className="dur">{fmtMs(ev.durationMs)}</span>}
        {ev?.rows != null && <span className="rows">{ev.rows.toLocaleString("en-US")} rows</span>}
        {ev?.cached && (
          <span className="cached" title="served from cache">
            cached
          </span>
        )}
        {status === "error" && pos && (
          <span className="errpos" data-error-line={pos.line} data-error-column={pos.column}>
            L{pos.line}:{pos.column}
          </span>
        )}
      </div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const ArtifactLabel = memo(function ArtifactLabel({ data }: NodeProps<Node<{ label: string }>>) {
  return <div className="artifact-label">{data.label}</div>;
});

const arrow = { type: MarkerType.ArrowClosed, width: 16, height: 16 };

const nodeTypes = { cell: CellNode, artifact: ArtifactLabel };

export function SessionPage({ sessionId }: { sessionId: string }) {
  const store = useMemo(() => new CellStore(), []);
  const [nc, setNc] = useState<NatsConnection | null>(null);
  const [subjects] = useState<Subjects>(() => subjectsOf(sessionId));
  const [conn, setConn] = useState<ConnState>("connected");
  const [error, setError] = useState<string | null>(null);
  const [metas, setMetas] = useState<Map<string, Meta>>(new Map());
  const [nodes, setNodes] = useState<Node[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [viewport, setViewport] = useState<{ x: number; y: number; zoom: number } | null>(null);
  const canvasRef = useRef<HTMLDivElement>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    document.title = `cellsd · ${sessionId}`;
    let live: LiveSession | null = null;
    let cancelled = false;
    (async () => {
      const mark = (k: string) => (window.__cellsd.marks[k] = Math.round(performance.now()));
      mark("start");
      const c = await connect(sessionId);
      mark("connected");
      if (cancelled) return;
      setNc(c);
      live = new LiveSession(c, subjects, store, (s) => {
        setConn(s);
        window.__cellsd.conn = s;
      });
      window.__cellsd.store = store;
      window.__cellsd.live = live;
      const started = live.start();
      const [g, st] = await Promise.all([getGraph(c, subjects.api), getStatus(c, subjects.api).catch(() => null)]);
      mark("graph+status");
      // A status reply is a snapshot too, complete up to its seq.
      for (const ev of st?.cells ?? []) store.offer(ev);
      const m = buildMetas(g, st?.cells ?? [], st?.inputs ?? []);
      setMetas(m);
      const t0 = performance.now();
      const big = m.size > QUICK_FIRST;
      const elkDone = layout(g, cellKey);
      const placed = big ? quickLayout(g, cellKey) : await elkDone;
      window.__cellsd.layoutMs = performance.now() - t0;
      if (big) {
        // ELK's drawing replaces the quick one when it is ready.
        void elkDone.then((p) => {
          if (cancelled) return;
          window.__cellsd.elkMs = performance.now() - t0;
          setNodes((prev) => prev.map((n) => (n.type === "cell" && p.positions.has(n.id) ? { ...n, position: p.positions.get(n.id)! } : n.type === "artifact" ? { ...n, position: artifactPos(p, n.id) } : n)));
        });
      } else window.__cellsd.elkMs = window.__cellsd.layoutMs;
      const ns: Node[] = [];
      for (const a of placed.artifacts) {
        ns.push({ id: `artifact:${a.id}`, type: "artifact", position: { x: a.x, y: a.y }, data: { label: a.id }, selectable: false, draggable: false, width: 400, height: 24 });
      }
      for (const meta of m.values()) {
        const p = placed.positions.get(meta.key) ?? { x: 0, y: 0 };
        ns.push({ id: meta.key, type: "cell", position: p, data: { meta, store }, width: NODE_W, height: NODE_H, draggable: false, connectable: false });
      }
      const es: Edge[] = [];
      for (const a of g.artifacts) {
        for (const c2 of a.cells) {
          for (const d of c2.deps ?? []) {
            es.push({ id: `${a.id}\u0000${d}->${c2.id}`, source: cellKey(a.id, d), target: cellKey(a.id, c2.id), markerEnd: arrow });
          }
        }
      }
      // The whole graph fitted to the canvas from the first frame (fitView
      // would first draw it at zoom 1, then again).
      const box = canvasRef.current?.getBoundingClientRect();
      const w = Math.max(...placed.artifacts.map((a) => a.width), NODE_W);
      const h = placed.artifacts.reduce((y, a) => Math.max(y, a.y + a.height), NODE_H);
      const cw = box?.width || window.innerWidth - 440;
      const chh = box?.height || window.innerHeight - 40;
      const zoom = Math.max(0.02, Math.min(1.5, (0.92 * cw) / w, (0.92 * chh) / h));
      setViewport({ zoom, x: (cw - w * zoom) / 2, y: (chh - h * zoom) / 2 });
      window.__cellsd.cells = m.size;
      window.__cellsd.edges = es.length;
      setNodes(ns);
      setEdges(es);
      mark("nodes");
      void started.then(() => mark("bucket"));
      // First paint: every cell's element is in the page.
      const want = m.size;
      const check = () => {
        if (document.querySelectorAll("[data-cell]").length >= want) {
          window.__cellsd.firstPaintMs = performance.now();
          mark("painted");
          window.__cellsd.ready = true;
        } else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    })().catch((e) => {
      setError(String(e?.message ?? e));
      window.__cellsd.error = String(e);
    });
    return () => {
      cancelled = true;
      live?.close();
    };
  }, [sessionId, subjects, store]);

  const send = useCallback(
    async (op: string, body: unknown) => {
      if (!nc) return;
      setNotice(null);
      try {
        await request(nc, `${subjects.api}.${op}`, body);
      } catch (e) {
        setNotice(`${op}: ${e instanceof Error ? e.message : e}`);
      }
    },
    [nc, subjects],
  );

  const updateMeta = useCallback((key: string, patch: Partial<Meta>) => {
    setMetas((prev) => {
      const next = new Map(prev);
      const m = next.get(key);
      if (m) next.set(key, { ...m, ...patch });
      return next;
    });
  }, []);

  const sel = selected ? metas.get(selected) : undefined;
  const inputs = useMemo(() => [...metas.values()].filter((m) => m.input), [metas]);

  return (
    <div className="session-page">
      <header className="topbar">
        <a className="brand" href="/">
          cellsd
        </a>
        <span className="session-id" data-testid="session-id">
          {sessionId}
        </span>
        <SessionSummary store={store} />
        <span className="spacer" />
        <button data-testid="run-all" onClick={() => void send("run", {})} disabled={!nc}>
          Run all
        </button>
        <button data-testid="cancel-all" onClick={() => void send("cancel", {})} disabled={!nc}>
          Cancel
        </button>
      </header>
      {conn !== "connected" && (
        <div className="banner" data-testid="banner" data-conn={conn}>
          Connection to NATS lost ({conn}). The page shows the last state it saw and catches up when the connection returns.
        </div>
      )}
      {error && (
        <div className="error-box" data-testid="error">
          {error}
        </div>
      )}
      {notice && (
        <div className="notice" data-testid="notice" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}
      <div className="main">
        <div className="canvas" ref={canvasRef}>
          {viewport && (
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            defaultViewport={viewport}
            minZoom={0.02}
            maxZoom={2}
            nodesDraggable={false}
            nodesConnectable={false}
            onNodeClick={(_, n) => n.type === "cell" && setSelected(n.id)}
            onPaneClick={() => setSelected(null)}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
          )}
        </div>
        <aside className="side">
          {inputs.length > 0 && <Inputs inputs={inputs} send={send} updateMeta={updateMeta} />}
          {sel ? (
            <CellPanel key={sel.key} meta={sel} store={store} nc={nc} api={subjects.api} send={send} updateMeta={updateMeta} />
          ) : (
            <p className="muted">Click a cell to see its SQL, state and rows.</p>
          )}
        </aside>
      </div>
    </div>
  );
}

function buildMetas(g: Graph, statusCells: StatusCell[], inputs: { cellId: string; artifact: string; kind: string; varName: string; value: unknown; title?: string }[]): Map<string, Meta> {
  const fromStatus = new Map(statusCells.map((c) => [cellKey(c.artifact, c.cell), c]));
  const fromInputs = new Map(inputs.map((i) => [cellKey(i.artifact, i.cellId), i]));
  const out = new Map<string, Meta>();
  for (const a of g.artifacts) {
    const errs = new Map((a.errors ?? []).map((e) => [e.cellId, e]));
    for (const c of a.cells) {
      const key = cellKey(a.id, c.id);
      const s = fromStatus.get(key);
      const inp = fromInputs.get(key);
      out.set(key, {
        key,
        artifact: a.id,
        cell: c.id,
        title: c.title || s?.title || inp?.title || c.id,
        type: c.type,
        sql: c.sql ?? s?.sql ?? null,
        input: c.input ?? (inp ? { kind: inp.kind, varName: inp.varName, value: inp.value, ...(inp as object) } : null),
        resultName: c.resultName,
        planError: errs.get(c.id) ?? null,
        refresh: s?.refresh,
        fetchedAt: s?.fetchedAt,
      });
    }
  }
  return out;
}

function SessionSummary({ store }: { store: CellStore }) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const ev = store.sessionEvent;
  if (!ev) return null;
  return (
    <span className="summary" data-testid="session-state" data-status={ev.status}>
      {ev.reason}
    </span>
  );
}

function Inputs({ inputs, send, updateMeta }: { inputs: Meta[]; send: (op: string, body: unknown) => Promise<void>; updateMeta: (k: string, p: Partial<Meta>) => void }) {
  return (
    <section className="inputs" data-testid="inputs">
      <h3>Inputs</h3>
      {inputs.map((m) => (
        <InputControl key={m.key} meta={m} send={send} updateMeta={updateMeta} />
      ))}
    </section>
  );
}

function InputControl({ meta, send, updateMeta }: { meta: Meta; send: (op: string, body: unknown) => Promise<void>; updateMeta: (k: string, p: Partial<Meta>) => void }) {
  const spec = meta.input!;
  const [value, setValue] = useState<string>(String(spec.value ?? ""));
  const commit = (v: string) => {
    const val: unknown = spec.kind === "slider" ? Number(v) : v;
    updateMeta(meta.key, { input: { ...spec, value: val } });
    void send("update", { cellId: meta.cell, value: val });
  };
  return (
    <label className="input" data-input={meta.cell} data-artifact={meta.artifact}>
      <span>
        {meta.title} <code>{`{{${spec.varName}}}`}</code>
      </span>
      {spec.kind === "slider" ? (
        <span className="slider">
          <input
            type="range"
            min={spec.min ?? 0}
            max={spec.max ?? 100}
            step={spec.step ?? 1}
            value={value}
            onChange={(e) => setValue(e.target.value)}
            onPointerUp={(e) => commit((e.target as HTMLInputElement).value)}
            onKeyUp={(e) => commit((e.target as HTMLInputElement).value)}
          />
          <output>{value}</output>
        </span>
      ) : spec.kind === "dropdown" ? (
        <select
          value={value}
          onChange={(e) => {
            setValue(e.target.value);
            commit(e.target.value);
          }}
        >
          {(spec.options ?? []).map((o) => (
            <option key={String(o)} value={String(o)}>
              {String(o)}
            </option>
          ))}
        </select>
      ) : (
        <input
          type="text"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={(e) => e.key === "Enter" && commit(value)}
          onBlur={() => value !== String(spec.value ?? "") && commit(value)}
        />
      )}
    </label>
  );
}

function CellPanel({
  meta,
  store,
  nc,
  api,
  send,
  updateMeta,
}: {
  meta: Meta;
  store: CellStore;
  nc: NatsConnection | null;
  api: string;
  send: (op: string, body: unknown) => Promise<void>;
  updateMeta: (k: string, p: Partial<Meta>) => void;
}) {
  const ev = useSyncExternalStore(
    useCallback((f: () => void) => store.subscribeKey(meta.key, f), [store, meta.key]),
    () => store.get(meta.key),
  );
  const [draft, setDraft] = useState(meta.sql ?? "");
  const status = ev?.status ?? "idle";
  const pos = errorPosition(meta, ev);
  return (
    <section className="panel" data-testid="panel" data-cell={meta.cell} data-artifact={meta.artifact} data-panel-status={status}>
      <h3 data-testid="panel-title">{meta.title}</h3>
      <div className="muted">
        {meta.artifact} / {meta.cell}
        {meta.resultName ? ` → ${meta.resultName}` : ""}
      </div>
      <div className={`state status-${status}`}>
        <span className="badge">{status}</span> <span data-testid="reason">{ev?.reason ?? "never run"}</span>
        {ev?.durationMs != null && <span> · {fmtMs(ev.durationMs)}</span>}
        {ev?.rows != null && <span> · {ev.rows} rows</span>}
        {ev?.cached && <span> · cached</span>}
      </div>
      {meta.refresh && <Freshness meta={meta} ev={ev} />}
      {status === "error" && ev?.error && (
        <pre className="error-msg" data-testid="error-message" data-error-line={pos?.line ?? ""} data-error-column={pos?.column ?? ""}>
          {pos ? `line ${pos.line}, column ${pos.column}: ` : ""}
          {ev.error}
        </pre>
      )}
      {meta.type !== "input" && (
        <>
          <SqlView sql={meta.sql} pos={status === "error" || meta.planError ? pos : null} />
          <div className="buttons">
            <button data-testid="run-cell" onClick={() => void send("run", { cellId: meta.cell, artifact: meta.artifact })}>
              Run
            </button>
            <button data-testid="cancel-cell" onClick={() => void send("cancel", { cellId: meta.cell })}>
              Cancel
            </button>
          </div>
          <details className="editor" open={meta.sql == null}>
            <summary>Edit SQL</summary>
            <textarea data-testid="sql-editor" value={draft} spellCheck={false} rows={Math.min(16, Math.max(4, draft.split("\n").length + 1))} onChange={(e) => setDraft(e.target.value)} />
            <button
              data-testid="apply-sql"
              onClick={() => {
                updateMeta(meta.key, { sql: draft, planError: null });
                void send("update", { cellId: meta.cell, sql: draft });
              }}
            >
              Apply
            </button>
          </details>
          <Rows nc={nc} api={api} meta={meta} ev={ev} />
        </>
      )}
    </section>
  );
}

// Freshness shows an external cell's refresh policy and the age of its
// result: fetched when the status reply said, or at the latest success
// event that was not served from cache.
function Freshness({ meta, ev }: { meta: Meta; ev: CellEvent | undefined }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);
  let fetched = meta.fetchedAt ? Date.parse(meta.fetchedAt) : NaN;
  if (ev?.status === "success" && !ev.cached && ev.ts) fetched = Math.max(Number.isNaN(fetched) ? 0 : fetched, Date.parse(ev.ts));
  return (
    <div className="muted" data-testid="refresh" data-refresh={meta.refresh}>
      refresh {meta.refresh} · {Number.isNaN(fetched) ? "not fetched yet" : `fetched ${fmtAge(now - fetched)} ago`}
    </div>
  );
}

// fmtAge prints an age as the engine's FormatAge does: 42s, 3m, 2h5m.
function fmtAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function SqlView({ sql, pos }: { sql: string | null; pos: { line: number; column: number } | null }) {
  if (sql == null) return <p className="muted">(this daemon's graph op gives no SQL)</p>;
  const lines = sql.split("\n");
  return (
    <pre className="sql" data-testid="sql">
      {lines.map((l, i) => {
        const n = i + 1;
        const bad = pos != null && pos.line === n;
        return (
          <div key={i} className={bad ? "line err-line" : "line"} data-line={n}>
            <span className="ln">{n}</span>
            <span className="code">{l || " "}</span>
            {bad && pos!.column > 0 && (
              <div className="caret" data-testid="error-caret">
                <span className="ln" />
                <span className="code">{" ".repeat(Math.max(0, pos!.column - 1))}^ column {pos!.column}</span>
              </div>
            )}
          </div>
        );
      })}
    </pre>
  );
}

function Rows({ nc, api, meta, ev }: { nc: NatsConnection | null; api: string; meta: Meta; ev: CellEvent | undefined }) {
  const [res, setRes] = useState<QueryResult | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const seq = ev?.status === "success" ? ev.seq : -1;
  const asked = useRef(-2);
  useEffect(() => {
    if (!nc || seq < 0 || asked.current === seq) return;
    asked.current = seq;
    setErr(null);
    request<QueryResult>(nc, `${api}.query`, { cellId: meta.cell, limit: 100 })
      .then(setRes)
      .catch((e) => {
        setRes(null);
        setErr(String(e?.message ?? e));
      });
  }, [nc, api, meta.cell, seq]);
  if (seq < 0) return <p className="muted">Rows appear when the cell succeeds.</p>;
  if (err) return <p className="muted" data-testid="rows-error">rows: {err}</p>;
  if (!res) return <p className="muted">Loading rows…</p>;
  return (
    <div className="rows-box">
      <div className="muted" data-testid="rows-total" data-total={res.total}>
        first {res.rows.length} of {res.total} rows
      </div>
      <table className="rows" data-testid="rows">
        <thead>
          <tr>
            {res.columns.map((c) => (
              <th key={c.name} data-type={c.type}>
                {c.name}
                <div className="type">{c.type}</div>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {res.rows.map((r, i) => (
            <tr key={i}>
              {r.map((v, j) => (
                <td key={j}>{v === null ? <span className="null">NULL</span> : typeof v === "object" ? JSON.stringify(v) : String(v)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
