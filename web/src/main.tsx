import { createRoot } from "react-dom/client";
import { SessionsPage } from "./SessionsPage";
import { SessionPage } from "./SessionPage";
import "./style.css";

// Routes (DESIGN.md "The live page"): / the sessions, /s/<sessionId> one
// session, its id URL-escaped.
function route() {
  const p = window.location.pathname;
  if (p.startsWith("/s/") && p.length > 3) {
    let id = p.slice(3);
    try {
      id = decodeURIComponent(id);
    } catch {
      // keep it as written
    }
    return <SessionPage sessionId={id} />;
  }
  return <SessionsPage />;
}

createRoot(document.getElementById("root")!).render(route());
