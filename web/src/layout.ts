// Every artifact's DAG laid out left to right, artifacts stacked top to
// bottom. ELK's layered algorithm (Sugiyama: layers by dependency depth,
// crossings minimised, nodes placed by Brandes-Köpf) draws it, in a Web
// Worker so the page stays responsive meanwhile. ELK takes seconds on a
// 1,000-cell notebook, so the first paint of a big one uses a quick
// layered layout of our own (longest-path layers, barycenter ordering) and
// ELK's drawing replaces it when it is ready.
import ELK, { type ElkNode } from "elkjs/lib/elk-api.js";
import type { Graph } from "./api";

export const NODE_W = 200;
export const NODE_H = 64;
const ARTIFACT_GAP = 80;
const LABEL_H = 28;
const LAYER_GAP = 48;
const NODE_GAP = 16;
/** Above this many cells in the notebook, the first paint does not wait for ELK. */
export const QUICK_FIRST = 200;

export type Placed = {
  artifacts: { id: string; x: number; y: number; width: number; height: number }[];
  // cellKey -> top-left corner
  positions: Map<string, { x: number; y: number }>;
};

type Box = { width: number; height: number; pos: Map<string, { x: number; y: number }> };

let elk: InstanceType<typeof ELK> | null = null;
function elkInstance(): InstanceType<typeof ELK> {
  if (!elk) {
    elk = new ELK({
      workerFactory: () => new Worker(new URL("../node_modules/elkjs/lib/elk-worker.min.js", import.meta.url)),
    });
  }
  return elk;
}

const options: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.edgeRouting": "POLYLINE",
  "elk.spacing.nodeNode": String(NODE_GAP),
  "elk.layered.spacing.nodeNodeBetweenLayers": String(LAYER_GAP),
  "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
  "elk.layered.thoroughness": "3",
};

function edgesOf(a: Graph["artifacts"][number]): [string, string][] {
  const ids = new Set(a.cells.map((c) => c.id));
  const out: [string, string][] = [];
  for (const c of a.cells) for (const d of c.deps ?? []) if (ids.has(d) && d !== c.id) out.push([d, c.id]);
  return out;
}

async function elkBox(a: Graph["artifacts"][number]): Promise<Box> {
  const graph: ElkNode = {
    id: a.id,
    layoutOptions: options,
    children: a.cells.map((c) => ({ id: c.id, width: NODE_W, height: NODE_H })),
    edges: edgesOf(a).map(([s, t]) => ({ id: `${s}->${t}`, sources: [s], targets: [t] })),
  };
  const res = await elkInstance().layout(graph);
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of res.children ?? []) pos.set(n.id, { x: n.x ?? 0, y: n.y ?? 0 });
  return { width: res.width ?? NODE_W, height: res.height ?? NODE_H, pos };
}

/**
 * quickBox is a layered layout in linear time per sweep: each cell in the
 * layer after its deepest dependency (a cycle's cells, which have no
 * order, go by notebook position), each layer ordered by the mean position
 * of its dependencies, four sweeps.
 */
function quickBox(a: Graph["artifacts"][number]): Box {
  const ids = a.cells.map((c) => c.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const deps = new Map<string, string[]>(ids.map((id) => [id, []]));
  const users = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [s, t] of edgesOf(a)) {
    deps.get(t)!.push(s);
    users.get(s)!.push(t);
  }
  // Kahn's order: a cell's layer is one past its deepest dependency's.
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  const indeg = new Map<string, number>(ids.map((id) => [id, deps.get(id)!.length]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q];
    for (const t of users.get(s)!) {
      layer.set(t, Math.max(layer.get(t)!, layer.get(s)! + 1));
      indeg.set(t, indeg.get(t)! - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  const layers: string[][] = [];
  for (const id of ids) (layers[layer.get(id)!] ??= []).push(id);
  const rank = new Map<string, number>();
  layers.forEach((l) => l.forEach((id, i) => rank.set(id, i)));
  const sweep = (l: string[], nbrs: Map<string, string[]>) => {
    const score = new Map<string, number>();
    for (const id of l) {
      const ns = nbrs.get(id)!;
      score.set(id, ns.length ? ns.reduce((s, n) => s + rank.get(n)!, 0) / ns.length : rank.get(id)!);
    }
    l.sort((x, y) => score.get(x)! - score.get(y)! || index.get(x)! - index.get(y)!);
    l.forEach((id, i) => rank.set(id, i));
  };
  for (let s = 0; s < 4; s++) {
    if (s % 2 === 0) for (let i = 1; i < layers.length; i++) sweep(layers[i] ?? [], deps);
    else for (let i = layers.length - 2; i >= 0; i--) sweep(layers[i] ?? [], users);
  }
  const tallest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const height = tallest * (NODE_H + NODE_GAP) - NODE_GAP;
  const pos = new Map<string, { x: number; y: number }>();
  layers.forEach((l, i) => {
    const top = (height - (l.length * (NODE_H + NODE_GAP) - NODE_GAP)) / 2;
    l.forEach((id, j) => pos.set(id, { x: i * (NODE_W + LAYER_GAP), y: top + j * (NODE_H + NODE_GAP) }));
  });
  return { width: layers.length * (NODE_W + LAYER_GAP) - LAYER_GAP, height, pos };
}

function stack(g: Graph, boxes: Box[], key: (artifact: string, cell: string) => string): Placed {
  const positions = new Map<string, { x: number; y: number }>();
  const artifacts: Placed["artifacts"] = [];
  let y = 0;
  g.artifacts.forEach((a, i) => {
    const b = boxes[i];
    const top = y + LABEL_H;
    for (const [id, p] of b.pos) positions.set(key(a.id, id), { x: p.x, y: top + p.y });
    const height = LABEL_H + b.height;
    artifacts.push({ id: a.id, x: 0, y, width: b.width, height });
    y += height + ARTIFACT_GAP;
  });
  return { artifacts, positions };
}

/** quickLayout is the layout of the first paint of a big notebook. */
export function quickLayout(g: Graph, key: (artifact: string, cell: string) => string): Placed {
  return stack(g, g.artifacts.map(quickBox), key);
}

/** layout is ELK's drawing of every artifact. */
export async function layout(g: Graph, key: (artifact: string, cell: string) => string): Promise<Placed> {
  return stack(g, await Promise.all(g.artifacts.map(elkBox)), key);
}
