import { describe, expect, it } from 'vitest';
import { blankForm, fromTask, toSpec } from './taskForm';
import type { Task } from './api/types';

const code = '0123456789abcdef0123456789abcdef01234567';
const env = 'fedcba9876543210fedcba9876543210fedcba98';
const filled = {
  ...blankForm,
  code_repo_url: ' https://git.example.org/team/model.git ',
  code_commit_id: code.toUpperCase(),
  env_repo_url: 'https://git.example.org/team/envs.git',
  env_commit_id: env,
};

describe('toSpec', () => {
  it('turns what people type into the API units', () => {
    const spec = toSpec({
      ...filled,
      command: `python3 train.py --name 'run one'`,
      env: 'SEED=7\nMODE=fast',
      cpu: '2.5',
      memory_gib: '1.5',
      gpu_count: '2',
      gpu_model: 'A100',
      labels: 'zone=lab-2',
      priority: '10',
      project: 'vision',
      time_limit_min: '90',
      max_attempts: '2',
      on_exit_nonzero: true,
    });
    expect(spec).toEqual({
      code_repo_url: 'https://git.example.org/team/model.git',
      code_commit_id: code,
      env_repo_url: 'https://git.example.org/team/envs.git',
      env_commit_id: env,
      dockerfile_path: 'Dockerfile',
      command: ['python3', 'train.py', '--name', 'run one'],
      env: { SEED: '7', MODE: 'fast' },
      resources: {
        cpu_millis: 2500,
        memory_bytes: 1610612736,
        gpu_count: 2,
        gpu_model: 'A100',
        labels: { zone: 'lab-2' },
      },
      priority: 10,
      project: 'vision',
      time_limit_s: 5400,
      retry: { max_attempts: 2, on_exit_nonzero: true },
    });
  });

  it('keeps the defaults of an untouched form', () => {
    const spec = toSpec(filled);
    expect(spec.command).toEqual([]);
    expect(spec.resources).toEqual({ cpu_millis: 1000, memory_bytes: 0, gpu_count: 0, labels: {} });
    expect(spec.time_limit_s).toBe(0);
    expect(spec.project).toBe('default');
  });

  it('names what is missing or wrong', () => {
    expect(() => toSpec({ ...filled, code_repo_url: '' })).toThrow('Code repository is required');
    expect(() => toSpec({ ...filled, env_commit_id: 'main' })).toThrow(
      'Environment commit must be a full commit id',
    );
    expect(() => toSpec({ ...filled, priority: '5000' })).toThrow('Priority must be a number');
    expect(() => toSpec({ ...filled, command: "echo 'oops" })).toThrow('not closed');
  });

  it('reads back a task as the form that would submit it again', () => {
    const spec = toSpec({
      ...filled,
      command: "sh -c 'echo hi'",
      memory_gib: '2',
      time_limit_min: '5',
    });
    const task = { ...spec, id: 7, state: 'failed' } as unknown as Task;
    expect(toSpec(fromTask(task))).toEqual(spec);
  });
});
