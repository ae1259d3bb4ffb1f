import type { Gpu, Node } from '../api/types';
import { formatBytes } from '../format';

export function Labels({ labels }: { labels: Record<string, string> | null | undefined }) {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) {
    return <span className="muted">—</span>;
  }
  return (
    <span className="chips">
      {entries.map(([k, v]) => (
        <span key={k} className="chip">
          {k}={v}
        </span>
      ))}
    </span>
  );
}

/** `2 × A100-SXM4-80GB (80 GiB)`, grouped by model. */
export function gpuSummary(gpus: Gpu[] | null | undefined): string {
  if (!gpus || gpus.length === 0) {
    return 'none';
  }
  const byModel = new Map<string, { count: number; memory: number }>();
  for (const g of gpus) {
    const m = byModel.get(g.model) ?? { count: 0, memory: g.memory_bytes };
    m.count += 1;
    byModel.set(g.model, m);
  }
  return [...byModel.entries()]
    .map(([model, m]) => `${m.count} × ${model} (${formatBytes(m.memory)})`)
    .join(', ');
}

export function resourceSummary(n: Node): string {
  return `${n.cpu_cores ?? '?'} cores · ${formatBytes(n.memory_bytes)} memory · ${formatBytes(n.disk_bytes)} disk`;
}
