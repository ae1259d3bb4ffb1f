// The submit form's fields and how they become a TaskSpec (docs/reference/rest-api.md): the
// checks a person should hear about before the server does, and the units people type (cores,
// GiB, minutes) turned into the API's (millicores, bytes, seconds).
import type { Task, TaskSpec } from './api/types';
import { CommandError, parsePairs, splitCommand } from './command';
import { formatCommand } from './format';

const commitPattern = /^[0-9a-f]{40}$/;
const gib = 1024 ** 3;

/** What the submit form holds: text as typed, read into a TaskSpec by toSpec(). */
export interface TaskForm {
  code_repo_url: string;
  code_commit_id: string;
  env_repo_url: string;
  env_commit_id: string;
  dockerfile_path: string;
  command: string;
  env: string;
  cpu: string;
  memory_gib: string;
  gpu_count: string;
  gpu_model: string;
  labels: string;
  priority: string;
  project: string;
  time_limit_min: string;
  max_attempts: string;
  on_exit_nonzero: boolean;
}

export const blankForm: TaskForm = {
  code_repo_url: '',
  code_commit_id: '',
  env_repo_url: '',
  env_commit_id: '',
  dockerfile_path: 'Dockerfile',
  command: '',
  env: '',
  cpu: '1',
  memory_gib: '',
  gpu_count: '0',
  gpu_model: '',
  labels: '',
  priority: '0',
  project: 'default',
  time_limit_min: '',
  max_attempts: '3',
  on_exit_nonzero: false,
};

/** The form for a copy of a task. */
export function fromTask(t: Task): TaskForm {
  const r = t.resources ?? {};
  return {
    code_repo_url: t.code_repo_url,
    code_commit_id: t.code_commit_id,
    env_repo_url: t.env_repo_url,
    env_commit_id: t.env_commit_id,
    dockerfile_path: t.dockerfile_path ?? 'Dockerfile',
    command: t.command && t.command.length > 0 ? formatCommand(t.command) : '',
    env: Object.entries(t.env ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    cpu: String((r.cpu_millis ?? 1000) / 1000),
    memory_gib: r.memory_bytes ? String(Math.round((r.memory_bytes / gib) * 100) / 100) : '',
    gpu_count: String(r.gpu_count ?? 0),
    gpu_model: r.gpu_model ?? '',
    labels: Object.entries(r.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
    priority: String(t.priority ?? 0),
    project: t.project ?? 'default',
    time_limit_min: t.time_limit_s ? String(t.time_limit_s / 60) : '',
    max_attempts: String(t.retry?.max_attempts ?? 3),
    on_exit_nonzero: t.retry?.on_exit_nonzero ?? false,
  };
}

/** The TaskSpec a form describes, or the first thing wrong with it. */
export function toSpec(f: TaskForm): TaskSpec {
  const need = (value: string, what: string) => {
    if (!value.trim()) {
      throw new CommandError(`${what} is required`);
    }
    return value.trim();
  };
  const commit = (value: string, what: string) => {
    const v = need(value, what).toLowerCase();
    if (!commitPattern.test(v)) {
      throw new CommandError(`${what} must be a full commit id: 40 hexadecimal digits`);
    }
    return v;
  };
  const number = (value: string, what: string, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new CommandError(`${what} must be a number from ${min} to ${max}`);
    }
    return n;
  };

  const spec: TaskSpec = {
    code_repo_url: need(f.code_repo_url, 'Code repository'),
    code_commit_id: commit(f.code_commit_id, 'Code commit'),
    env_repo_url: need(f.env_repo_url, 'Environment repository'),
    env_commit_id: commit(f.env_commit_id, 'Environment commit'),
    dockerfile_path: f.dockerfile_path.trim() || 'Dockerfile',
    command: splitCommand(f.command),
    env: parsePairs(f.env, 'variable'),
    resources: {
      cpu_millis: Math.round(number(f.cpu || '1', 'CPU', 0.001, 4096) * 1000),
      memory_bytes: f.memory_gib ? Math.round(number(f.memory_gib, 'Memory', 0, 1 << 20) * gib) : 0,
      gpu_count: Math.round(number(f.gpu_count || '0', 'GPUs', 0, 64)),
      labels: parsePairs(f.labels, 'label'),
    },
    priority: Math.round(number(f.priority || '0', 'Priority', -1000, 1000)),
    project: f.project.trim() || 'default',
    time_limit_s: f.time_limit_min
      ? Math.round(number(f.time_limit_min, 'Time limit', 0, 525600) * 60)
      : 0,
    retry: {
      max_attempts: Math.round(number(f.max_attempts || '3', 'Attempts', 1, 100)),
      on_exit_nonzero: f.on_exit_nonzero,
    },
  };
  if (f.gpu_model.trim() && spec.resources) {
    spec.resources.gpu_model = f.gpu_model.trim();
  }
  return spec;
}
