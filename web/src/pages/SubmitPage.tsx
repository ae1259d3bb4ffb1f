import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { api, errorText } from '../api/client';
import { useTask } from '../api/queries';
import type { Task, TaskSpec } from '../api/types';
import { Loading } from '../components/Status';
import { blankForm, fromTask, toSpec } from '../taskForm';
import type { TaskForm } from '../taskForm';
import { useTitle } from '../title';

export function SubmitPage() {
  useTitle('Submit a task');
  const [params] = useSearchParams();
  const from = params.get('from');
  if (from) {
    return <SubmitFromTask id={from} />;
  }
  return <SubmitForm initial={blankForm} />;
}

function SubmitFromTask({ id }: { id: string }) {
  const task = useTask(id);
  if (task.isError) {
    return (
      <SubmitForm
        initial={blankForm}
        notice={`Task ${id} could not be read: ${errorText(task.error)}`}
      />
    );
  }
  if (!task.data) {
    return <Loading what="Reading the task to copy" />;
  }
  return <SubmitForm initial={fromTask(task.data.task)} notice={`A copy of task ${id}.`} />;
}

function SubmitForm({ initial, notice }: { initial: TaskForm; notice?: string }) {
  const [form, setForm] = useState<TaskForm>(initial);
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

  const text = (
    key: keyof TaskForm,
    label: string,
    extra: Record<string, string | boolean> = {},
  ) => (
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
