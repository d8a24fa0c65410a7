// Joining a session late, and staying current across NATS outages, with the
// README's protocol: subscribe to the session's events first, then read the
// status bucket's keys for it; each cell shows whichever it saw with the
// greatest seq. When the connection comes back, the bucket is read again,
// which brings every state the page missed while it was away.
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { Kvm, type KV } from "@nats-io/kv";
import { BUCKET, type CellEvent, type Subjects } from "./api";
import type { CellStore } from "./store";

const dec = new TextDecoder();

export type ConnState = "connected" | "disconnected" | "reconnecting";

export class LiveSession {
  private sub: Subscription | null = null;
  private watcher: { stop(): void } | null = null;
  private kv: KV | null = null;
  private closed = false;
  /** bucketReads counts completed snapshot reads (tests wait on it). */
  bucketReads = 0;

  constructor(
    private nc: NatsConnection,
    private subjects: Subjects,
    private store: CellStore,
    private onConn: (s: ConnState) => void,
  ) {}

  async start(): Promise<void> {
    // 1. Subscribe first, so nothing published from now on is missed.
    this.sub = this.nc.subscribe(this.subjects.events, {
      callback: (err, m) => {
        if (err) return;
        try {
          this.store.offer(JSON.parse(dec.decode(m.data)) as CellEvent);
        } catch {
          // not an event
        }
      },
    });
    await this.nc.flush();
    // 2. Then the bucket: everything before the subscription is in it.
    await this.readBucket();
    void this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      switch (s.type) {
        case "disconnect":
          this.onConn("disconnected");
          break;
        case "reconnecting":
          this.onConn("reconnecting");
          break;
        case "reconnect":
          this.onConn("connected");
          // The subscription is back (the client resubscribes); the
          // bucket holds what was published while it was not.
          void this.rereadBucket();
          break;
      }
    }
  }

  /** rereadBucket reads the bucket again, retrying while JetStream is not back yet. */
  private async rereadBucket(): Promise<void> {
    for (let attempt = 0; attempt < 40 && !this.closed; attempt++) {
      try {
        await this.readBucket();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 250 + 50 * attempt));
      }
    }
  }

  /**
   * readBucket reads the latest value of every key of the session and
   * keeps watching them: a bucket value is offered like an event. It
   * resolves once the values present at the start have been offered.
   */
  async readBucket(): Promise<void> {
    this.watcher?.stop();
    this.watcher = null;
    if (!this.kv) this.kv = await new Kvm(this.nc).open(BUCKET, { bindOnly: true });
    const w = await this.kv.watch({ key: this.subjects.kv, ignoreDeletes: true });
    this.watcher = w;
    let resolve!: () => void;
    const initial = new Promise<void>((r) => (resolve = r));
    // An empty snapshot sends nothing: give up waiting for it soon.
    const quiet = setTimeout(() => resolve(), 500);
    void (async () => {
      for await (const e of w) {
        if (e.operation === "PUT") {
          try {
            this.store.offer(e.json<CellEvent>());
          } catch {
            // not an event
          }
        }
        if (e.isUpdate || e.delta === 0) {
          clearTimeout(quiet);
          resolve();
        }
      }
    })();
    await initial;
    this.bucketReads++;
  }

  close(): void {
    this.closed = true;
    this.watcher?.stop();
    this.sub?.unsubscribe();
  }
}
