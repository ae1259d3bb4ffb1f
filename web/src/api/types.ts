// The shapes of the REST API's answers (docs/reference/rest-api.md). Times are UTC ISO
// strings; turn them into text only through ../time.ts.

export type Role = 'admin' | 'member' | 'viewer';

export interface SessionUser {
  name: string;
  role: Role;
}

export interface Session {
  user: SessionUser;
  csrf_token: string;
}

export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthEntry {
  status: HealthStatus;
  reason?: string;
  [key: string]: unknown;
}

export interface Health {
  status: HealthStatus;
  version: string;
  time: string;
  components: Record<string, HealthEntry>;
  plugins: Record<string, HealthEntry>;
}

export interface Gpu {
  index: number;
  model: string;
  memory_bytes: number;
  driver?: string;
}

export type NodeState = 'online' | 'offline';

export interface Node {
  name: string;
  state: NodeState;
  agent_version: string | null;
  os: string | null;
  arch: string | null;
  cpu_cores: number | null;
  memory_bytes: number | null;
  disk_bytes: number | null;
  gpus: Gpu[];
  labels: Record<string, string>;
  session_generation: number | null;
  session_instance: string | null;
  remote: string | null;
  first_registered_at: string | null;
  connected_at: string | null;
  last_heartbeat_at: string | null;
  offline_at: string | null;
}

export type TaskState =
  | 'queued'
  | 'assigned'
  | 'accepted'
  | 'fetching'
  | 'building'
  | 'running'
  | 'uploading'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'lost';

export const endedStates: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'lost'];
export const retryableStates: readonly TaskState[] = ['failed', 'cancelled', 'lost'];

export function isEnded(state: string): boolean {
  return (endedStates as readonly string[]).includes(state);
}

export interface Resources {
  cpu_millis?: number;
  memory_bytes?: number;
  gpu_count?: number;
  gpu_model?: string | null;
  labels?: Record<string, string>;
}

export interface RetryPolicy {
  max_attempts?: number;
  on_exit_nonzero?: boolean;
}

export interface TaskSpec {
  code_repo_url: string;
  code_commit_id: string;
  env_repo_url: string;
  env_commit_id: string;
  dockerfile_path?: string;
  command?: string[];
  env?: Record<string, string>;
  resources?: Resources;
  priority?: number;
  project?: string;
  time_limit_s?: number;
  retry?: RetryPolicy;
}

/** Task ids are numbers today; the UI treats them as opaque. */
export type TaskId = number | string;

export interface Task extends TaskSpec {
  id: TaskId;
  state: TaskState;
  attempt_id: string | null;
  attempts: number;
  node: string | null;
  pending_reason: string | null;
  exit_code: number | null;
  cause: string | null;
  message: string | null;
  submitted_by: string | null;
  created_at: string;
  updated_at: string | null;
  started_at: string | null;
  ended_at: string | null;
}

export interface Phase {
  phase: string;
  at: string;
}

export interface Attempt {
  id: string;
  number: number;
  node: string | null;
  state: string;
  cause: string | null;
  exit_code: number | null;
  message: string | null;
  created_at: string;
  ended_at: string | null;
  phases: Phase[];
}

export interface TaskDetail {
  task: Task;
  attempts: Attempt[];
}

export interface TaskPage {
  tasks: Task[];
  next: string | null;
}

export interface LogEntry {
  id: number;
  attempt_id: string;
  stream: 'stdout' | 'stderr' | 'agent' | string;
  data: string;
  at: string;
}

export interface LogPage {
  entries: LogEntry[];
  next: number;
  ended: boolean;
}

export interface User {
  id: string | number;
  name: string;
  role: Role;
  disabled: boolean;
  created_at: string;
}

export interface ApiToken {
  id: string | number;
  name: string;
  user_id: string | number;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface NodeToken {
  id: string | number;
  node_name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** One row of the event bus, as the live stream sends it. */
export interface BusEvent {
  id: number;
  at: string;
  kind: string;
  subject: string;
  actor: string;
  payload: Record<string, unknown>;
}
