import { describe, expect, it } from 'vitest';
import { formatBytes, formatCommand, formatCores, plural, shortCommit } from './format';

describe('formatBytes', () => {
  it('uses binary units with one decimal below 100', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(25276071936)).toBe('23.5 GiB');
    expect(formatBytes(270553174016)).toBe('252 GiB');
    expect(formatBytes(85899345920)).toBe('80.0 GiB');
    expect(formatBytes(null)).toBe('—');
  });
});

describe('small formats', () => {
  it('shows cores from millicores', () => {
    expect(formatCores(1000)).toBe('1');
    expect(formatCores(500)).toBe('0.5');
    expect(formatCores(undefined)).toBe('—');
  });

  it('counts in words', () => {
    expect(plural(1, 'attempt')).toBe('1 attempt');
    expect(plural(3, 'attempt')).toBe('3 attempts');
  });

  it('shortens commits and quotes commands only where needed', () => {
    expect(shortCommit('0123456789abcdef0123456789abcdef01234567')).toBe('0123456789ab');
    expect(formatCommand(['python3', 'train.py', '--lr=0.1'])).toBe('python3 train.py --lr=0.1');
    expect(formatCommand(['sh', '-c', 'echo hi'])).toBe("sh -c 'echo hi'");
    expect(formatCommand([])).toBe('(the image’s own command)');
  });
});
