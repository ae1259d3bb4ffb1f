import { describe, expect, it } from 'vitest';
import type { LogEntry } from './api/types';
import { appendEntries, noLines } from './logLines';

let next = 1;
function entry(data: string, stream = 'stdout'): LogEntry {
  const id = next++;
  return {
    id,
    attempt_id: 't1-a1',
    stream,
    data,
    at: `2026-12-04T08:46:${String(id).padStart(2, '0')}.000Z`,
  };
}

describe('log lines', () => {
  it('splits a chunk into its lines and drops the empty tail', () => {
    const { lines, open } = appendEntries(noLines, [entry('one\ntwo\n')]);
    expect(lines.map((l) => l.text)).toEqual(['one', 'two']);
    expect(open).toBe(false);
  });

  it('joins a line sent in several chunks, keeping the time it began', () => {
    const first = entry('Step 1/5 : FROM base', 'agent');
    const built = appendEntries(noLines, [first, entry('\n', 'agent'), entry('done\n')]);
    expect(built.lines.map((l) => [l.stream, l.text])).toEqual([
      ['agent', 'Step 1/5 : FROM base'],
      ['stdout', 'done'],
    ]);
    expect(built.lines[0]?.at).toBe(first.at);
  });

  it('does not join lines of different streams', () => {
    const built = appendEntries(noLines, [entry('partial'), entry('error\n', 'stderr')]);
    expect(built.lines.map((l) => l.text)).toEqual(['partial', 'error']);
  });

  it('keeps blank lines inside a chunk', () => {
    const built = appendEntries(noLines, [entry('a\n\nb\n')]);
    expect(built.lines.map((l) => l.text)).toEqual(['a', '', 'b']);
  });

  it('continues across calls', () => {
    const once = appendEntries(noLines, [entry('hel')]);
    const twice = appendEntries(once, [entry('lo\nworld')]);
    expect(twice.lines.map((l) => l.text)).toEqual(['hello', 'world']);
    expect(twice.open).toBe(true);
  });
});
