import { describe, expect, it } from 'vitest';
import { CommandError, parsePairs, splitCommand } from './command';
import { formatCommand } from './format';

describe('splitCommand', () => {
  it('splits on spaces and keeps quoted words whole', () => {
    expect(splitCommand('python3 train.py --lr 0.1')).toEqual([
      'python3',
      'train.py',
      '--lr',
      '0.1',
    ]);
    expect(splitCommand(`sh -c 'echo "hi there" && sleep 2'`)).toEqual([
      'sh',
      '-c',
      'echo "hi there" && sleep 2',
    ]);
    expect(splitCommand('echo "a \\"b\\" c" d\\ e')).toEqual(['echo', 'a "b" c', 'd e']);
    expect(splitCommand(`  x   ''  `)).toEqual(['x', '']);
    expect(splitCommand('')).toEqual([]);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitCommand("echo 'oops")).toThrow(CommandError);
    expect(() => splitCommand('echo "oops')).toThrow(CommandError);
  });

  it('reads back what formatCommand writes', () => {
    const argv = ['sh', '-c', "echo 'it''s' $HOME", 'plain'];
    expect(splitCommand(formatCommand(argv))).toEqual(argv);
  });
});

describe('parsePairs', () => {
  it('reads KEY=VALUE lines and comma lists', () => {
    expect(parsePairs('A=1\nB = two\n\n', 'variable')).toEqual({ A: '1', B: 'two' });
    expect(parsePairs('zone=lab-2, gpu=yes', 'label')).toEqual({ zone: 'lab-2', gpu: 'yes' });
  });

  it('names the item that is not a pair', () => {
    expect(() => parsePairs('A=1\nnope', 'variable')).toThrow('variable "nope" is not KEY=VALUE');
  });
});
