// The live state of one session's cells: what the page shows. Events from
// the subscription and values from the status bucket are offered here in
// any order; a cell only ever moves to a state with a greater seq than the
// one it shows, so the page never goes back to an older state than one it
// showed. Offers are applied once per animation frame, so a burst of events
// costs one render per frame, and only the nodes whose state changed render
// again. Each frame moves each cell one state on (a fast cell's queued,
// running and success stay visible, a frame each); a cell more than
// MAX_BEHIND states behind, or every cell when frames take longer than
// SLOW_FRAME_MS, jumps to its latest, so the page never lags behind.
import type { CellEvent } from "./api";

export type Meter = {
  events: number; // offers taken (newer than what was shown)
  dropped: number; // offers not newer than what was already shown
  flushes: number;
  maxFlushMs: number;
  lastFlushAt: number;
  firstOfferAt: number; // when the first offer since the last reset came
};

const MAX_BEHIND = 4;
const SLOW_FRAME_MS = 250;

export function cellKey(artifact: string | null, cell: string): string {
  return `${artifact ?? ""}\u0000${cell}`;
}

export class CellStore {
  private shown = new Map<string, CellEvent>();
  private pending = new Map<string, CellEvent[]>(); // per cell, ascending seq
  private keyListeners = new Map<string, Set<() => void>>();
  private listeners = new Set<() => void>();
  private frame = 0;
  private backlogSince = 0; // when the last flush that left states pending started
  private version = 0;
  sessionEvent: CellEvent | null = null;
  meter: Meter = { events: 0, dropped: 0, flushes: 0, maxFlushMs: 0, lastFlushAt: 0, firstOfferAt: 0 };

  /** resetMeter starts measuring afresh (the benchmark's bursts). */
  resetMeter(): void {
    this.meter = { events: 0, dropped: 0, flushes: 0, maxFlushMs: 0, lastFlushAt: 0, firstOfferAt: 0 };
  }

  /** get is the state shown for a cell, or undefined (idle, never changed). */
  get(key: string): CellEvent | undefined {
    return this.shown.get(key);
  }

  getVersion = (): number => this.version;

  private seqOf(key: string): number {
    const p = this.pending.get(key);
    if (p && p.length) return p[p.length - 1].seq;
    return this.shown.get(key)?.seq ?? -1;
  }

  /** offer takes an event (or a bucket value) if it is newer than the cell's. */
  offer(ev: CellEvent): void {
    if (!ev || typeof ev.seq !== "number" || typeof ev.cell !== "string") return;
    const key = ev.cell === "_session" ? "_session" : cellKey(ev.artifact, ev.cell);
    if (ev.seq <= this.seqOf(key)) {
      this.meter.dropped++;
      return;
    }
    const q = this.pending.get(key);
    if (q) {
      q.push(ev);
      if (q.length > MAX_BEHIND) q.splice(0, q.length - 1);
    } else this.pending.set(key, [ev]);
    if (this.meter.events++ === 0) this.meter.firstOfferAt = performance.now();
    if (!this.frame) this.frame = requestAnimationFrame(this.flush);
  }

  private flush = (): void => {
    this.frame = 0;
    const t0 = performance.now();
    // Frames that take long (a big burst, a starved machine) would make a
    // state a frame slow to catch up: then every cell jumps to its latest.
    const jump = this.backlogSince > 0 && t0 - this.backlogSince > SLOW_FRAME_MS;
    const changed: string[] = [];
    for (const [key, q] of this.pending) {
      const ev = jump ? q.splice(0, q.length).pop()! : q.shift()!;
      if (q.length === 0) this.pending.delete(key);
      changed.push(key);
      if (key === "_session") this.sessionEvent = ev;
      else this.shown.set(key, ev);
    }
    this.version++;
    for (const key of changed) this.keyListeners.get(key)?.forEach((f) => f());
    this.listeners.forEach((f) => f());
    const ms = performance.now() - t0;
    this.meter.flushes++;
    this.meter.maxFlushMs = Math.max(this.meter.maxFlushMs, ms);
    this.meter.lastFlushAt = performance.now();
    this.backlogSince = this.pending.size ? t0 : 0;
    if (this.pending.size && !this.frame) this.frame = requestAnimationFrame(this.flush);
  };

  /** pendingCount is the number of cells with states not shown yet. */
  pendingCount(): number {
    return this.pending.size;
  }

  subscribeKey(key: string, f: () => void): () => void {
    let s = this.keyListeners.get(key);
    if (!s) this.keyListeners.set(key, (s = new Set()));
    s.add(f);
    return () => s!.delete(f);
  }

  subscribe = (f: () => void): (() => void) => {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  };

  /** maxSeq is the greatest seq shown or pending. */
  maxSeq(): number {
    let m = this.sessionEvent?.seq ?? 0;
    for (const ev of this.shown.values()) m = Math.max(m, ev.seq);
    for (const q of this.pending.values()) for (const ev of q) m = Math.max(m, ev.seq);
    return m;
  }
}
