import { useQuery } from '@tanstack/react-query';
import { ApiError, api } from './client';
import type { ApiToken, Health, Node, NodeToken, TaskDetail, TaskPage, User } from './types';

// Query keys: the live stream invalidates by their first element (see ../live.tsx).
export const keys = {
  health: ['health'] as const,
  nodes: ['nodes'] as const,
  node: (name: string) => ['nodes', name] as const,
  tasks: (filter: TaskFilter) => ['tasks', 'list', filter] as const,
  task: (id: string) => ['tasks', 'one', id] as const,
  users: ['users'] as const,
  tokens: (all: boolean) => ['tokens', all] as const,
  nodeTokens: ['node-tokens'] as const,
  storage: (prefix: string) => ['storage', prefix] as const,
};

// Heartbeats are not events: node pages re-read on this interval to keep "last heartbeat" true.
const nodePollMs = 15_000;

export async function fetchHealth(): Promise<Health> {
  let response: Response;
  try {
    response = await fetch('/health', { headers: { Accept: 'application/json' } });
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  // 503 still carries the health body when the kernel itself answers.
  const body = (await response.json().catch(() => null)) as Health | null;
  if (body && typeof body.status === 'string') {
    return body;
  }
  throw new ApiError(response.status, `http_${response.status}`, 'health is not available');
}

export function useHealth() {
  return useQuery({ queryKey: keys.health, queryFn: fetchHealth, refetchInterval: 15_000 });
}

export function useNodes() {
  return useQuery({
    queryKey: keys.nodes,
    queryFn: ({ signal }) => api<{ nodes: Node[] }>('/v1/nodes', { signal }),
    select: (d) => d.nodes,
    refetchInterval: nodePollMs,
  });
}

export function useNode(name: string) {
  return useQuery({
    queryKey: keys.node(name),
    queryFn: ({ signal }) =>
      api<{ node: Node }>(`/v1/nodes/${encodeURIComponent(name)}`, { signal }),
    select: (d) => d.node,
    refetchInterval: nodePollMs,
  });
}

export interface TaskFilter {
  state?: string;
  project?: string;
  node?: string;
  limit?: number;
  before?: string;
}

export function taskQueryString(filter: TaskFilter): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) {
    if (v !== undefined && v !== '') {
      params.set(k, String(v));
    }
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function useTasks(filter: TaskFilter, options: { pollMs?: number } = {}) {
  return useQuery({
    queryKey: keys.tasks(filter),
    queryFn: ({ signal }) => api<TaskPage>(`/v1/tasks${taskQueryString(filter)}`, { signal }),
    refetchInterval: options.pollMs ?? 30_000,
  });
}

export function useTask(id: string) {
  return useQuery({
    queryKey: keys.task(id),
    queryFn: ({ signal }) => api<TaskDetail>(`/v1/tasks/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: 30_000,
  });
}

export function useUsers() {
  return useQuery({
    queryKey: keys.users,
    queryFn: ({ signal }) => api<{ users: User[] }>('/v1/users', { signal }),
    select: (d) => d.users,
  });
}

export function useTokens(all: boolean) {
  return useQuery({
    queryKey: keys.tokens(all),
    queryFn: ({ signal }) =>
      api<{ tokens: ApiToken[] }>(`/v1/tokens${all ? '?all=1' : ''}`, { signal }),
    select: (d) => d.tokens,
  });
}

export function useNodeTokens() {
  return useQuery({
    queryKey: keys.nodeTokens,
    queryFn: ({ signal }) => api<{ node_tokens: NodeToken[] }>('/v1/node-tokens', { signal }),
    select: (d) => d.node_tokens,
  });
}
