import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, errorText } from '../api/client';
import type { Task, TaskSpec } from '../api/types';
import { CommandError, parsePairs, splitCommand } from '../command';
import { formatCommand } from '../format';
import { useTask } from '../api/queries';
import { Loading } from '../components/Status';
import { useTitle } from '../title';

const commitPattern = /^[0-9a-f]{40}$/;
const gib = 1024 ** 3;

interface Form {
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

const blank: Form = {
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

function fromTask(t: Task): Form {
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
export function toSpec(f: Form): TaskSpec {
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

export function SubmitPage() {
  useTitle('Submit a task');
  const [params] = useSearchParams();
  const from = params.get('from');
  if (from) {
    return <SubmitFromTask id={from} />;
  }
  return <SubmitForm initial={blank} />;
}

function SubmitFromTask({ id }: { id: string }) {
  const task = useTask(id);
  if (task.isError) {
    return (
      <SubmitForm
        initial={blank}
        notice={`Task ${id} could not be read: ${errorText(task.error)}`}
      />
    );
  }
  if (!task.data) {
    return <Loading what="Reading the task to copy" />;
  }
  return <SubmitForm initial={fromTask(task.data.task)} notice={`A copy of task ${id}.`} />;
}

function SubmitForm({ initial, notice }: { initial: Form; notice?: string }) {
  const [form, setForm] = useState<Form>(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const navigate = useNavigate();
  const queryClient = useQueryClient();

  const submit = useMutation({
    mutationFn: (spec: TaskSpec) =>
      api<{ task: Task }>('/v1/tasks', { method: 'POST', body: spec }),
    onSuccess: (answer) => {
      void queryClient.invalidateQueries({ queryKey: ['tasks'] });
      void navigate(`/tasks/${encodeURIComponent(String(answer.task.id))}`);
    },
  });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    try {
      submit.mutate(toSpec(form));
    } catch (err) {
      setProblem(errorText(err));
    }
  }

  const text = (key: keyof Form, label: string, extra: Record<string, string | boolean> = {}) => (
    <label>
      {label}
      <input
        name={key}
        value={form[key] as string}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
        {...extra}
      />
    </label>
  );

  return (
    <div className="page">
      <header className="page-head">
        <h1>Submit a task</h1>
      </header>
      {notice && <p className="notice">{notice}</p>}
      <form className="card form-grid" onSubmit={onSubmit} noValidate>
        <fieldset>
          <legend>Code</legend>
          {text('code_repo_url', 'Repository URL', {
            placeholder: 'https://git.example.org/team/model.git',
            required: true,
          })}
          {text('code_commit_id', 'Commit', {
            placeholder: '40 hexadecimal digits',
            className: 'mono',
            required: true,
          })}
        </fieldset>
        <fieldset>
          <legend>Environment</legend>
          {text('env_repo_url', 'Repository URL', {
            placeholder: 'https://git.example.org/team/envs.git',
            required: true,
          })}
          {text('env_commit_id', 'Commit', {
            placeholder: '40 hexadecimal digits',
            className: 'mono',
            required: true,
          })}
          {text('dockerfile_path', 'Dockerfile path')}
        </fieldset>
        <fieldset className="wide">
          <legend>Command</legend>
          {text('command', 'Command line (empty: the image’s own)', {
            placeholder: 'python3 train.py --epochs 10',
            className: 'mono',
          })}
          <label>
            Environment variables (KEY=VALUE, one a line)
            <textarea
              name="env"
              rows={3}
              className="mono"
              value={form.env}
              onChange={(e) => setForm({ ...form, env: e.target.value })}
            />
          </label>
        </fieldset>
        <fieldset>
          <legend>Resources</legend>
          {text('cpu', 'CPU cores', { inputMode: 'decimal' })}
          {text('memory_gib', 'Memory (GiB, empty: no limit)', { inputMode: 'decimal' })}
          {text('gpu_count', 'GPUs', { inputMode: 'numeric' })}
          {text('gpu_model', 'GPU model (empty: any)')}
          {text('labels', 'Node labels (key=value, …)')}
        </fieldset>
        <fieldset>
          <legend>Scheduling</legend>
          {text('project', 'Project')}
          {text('priority', 'Priority (-1000 to 1000)', { inputMode: 'numeric' })}
          {text('time_limit_min', 'Time limit (minutes, empty: none)', { inputMode: 'decimal' })}
          {text('max_attempts', 'Attempts at most', { inputMode: 'numeric' })}
          <label className="check">
            <input
              type="checkbox"
              name="on_exit_nonzero"
              checked={form.on_exit_nonzero}
              onChange={(e) => setForm({ ...form, on_exit_nonzero: e.target.checked })}
            />
            Retry when the command exits non-zero
          </label>
        </fieldset>
        <div className="form-foot wide">
          {(problem || submit.isError) && (
            <p className="form-error" role="alert" data-testid="submit-error">
              {problem ?? errorText(submit.error)}
            </p>
          )}
          <button type="submit" className="primary" disabled={submit.isPending}>
            {submit.isPending ? 'Submitting…' : 'Submit'}
          </button>
        </div>
      </form>
    </div>
  );
}
