import { useCallback, useEffect, useState } from "react";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, listNotebooks, listSessions, openNotebook, type SessionInfo } from "./api";

export function sessionHref(id: string): string {
  return `/s/${encodeURIComponent(id)}`;
}

/** The sessions of every daemon on this NATS, and the notebooks one can open. */
export function SessionsPage() {
  const [nc, setNc] = useState<NatsConnection | null>(null);
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [notebooks, setNotebooks] = useState<{ path: string; title?: string }[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [opening, setOpening] = useState<string | null>(null);

  useEffect(() => {
    connect().then(setNc, (e) => setError(String(e)));
  }, []);

  const refresh = useCallback(async () => {
    if (!nc) return;
    setError(null);
    try {
      setSessions(await listSessions(nc));
    } catch (e) {
      setError(`sessions: ${e}`);
      setSessions([]);
    }
    try {
      setNotebooks(await listNotebooks(nc));
    } catch (e) {
      setNotebooks([]);
      setError((prev) => prev ?? `notebooks: ${e}`);
    }
  }, [nc]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const open = async (path: string) => {
    if (!nc) return;
    setOpening(path);
    try {
      const r = await openNotebook(nc, path);
      // This page got in without a token; a session page opened elsewhere
      // from this link may need one.
      window.location.assign(sessionHref(r.sessionId) + (r.token ? `#token=${encodeURIComponent(r.token)}` : ""));
    } catch (e) {
      setError(`open ${path}: ${e}`);
      setOpening(null);
    }
  };

  return (
    <div className="sessions-page">
      <header className="topbar">
        <span className="brand">cellsd</span>
        <button onClick={() => void refresh()} disabled={!nc}>
          Refresh
        </button>
      </header>
      {error && (
        <div className="error-box" data-testid="error">
          {error}
        </div>
      )}
      <section>
        <h2>Sessions</h2>
        {sessions === null ? (
          <p className="muted">Asking every daemon…</p>
        ) : sessions.length === 0 ? (
          <p className="muted" data-testid="no-sessions">
            No session is open. Open a notebook below.
          </p>
        ) : (
          <table className="list" data-testid="sessions">
            <thead>
              <tr>
                <th>session</th>
                <th>notebook</th>
                <th>cells</th>
                <th>daemon</th>
                <th>opened</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={`${s.daemon?.name ?? ""}/${s.sessionId}`} data-session={s.sessionId}>
                  <td>
                    <a href={sessionHref(s.sessionId)}>{s.sessionId}</a>
                  </td>
                  <td>
                    {s.title ?? ""} <span className="muted">{s.path ?? "(inline)"}</span>
                  </td>
                  <td>{s.cells ?? ""}</td>
                  <td>{s.daemon?.name ?? ""}</td>
                  <td>{s.openedAt ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h2>Notebooks</h2>
        {notebooks === null ? (
          <p className="muted">…</p>
        ) : notebooks.length === 0 ? (
          <p className="muted">
            This daemon offers no notebooks (start it with <code>--notebooks DIR</code>).
          </p>
        ) : (
          <ul className="notebooks" data-testid="notebooks">
            {notebooks.map((n) => (
              <li key={n.path} data-notebook={n.path}>
                <button onClick={() => void open(n.path)} disabled={opening !== null}>
                  Open
                </button>{" "}
                {n.title ?? n.path} <span className="muted">{n.path}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
