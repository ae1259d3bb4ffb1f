import type { LogEntry } from './api/types';

// Log entries are chunks as the agent sent them: a line may span several entries and one entry
// may hold several lines. People read lines, so chunks are joined and split at newlines; each
// line keeps the time and stream of the entry it began in.

export interface LogLine {
  key: string;
  at: string;
  stream: string;
  text: string;
}

export interface LineBuilder {
  lines: LogLine[];
  /** The last line is still open: the next chunk of the same stream continues it. */
  open: boolean;
}

export const noLines: LineBuilder = { lines: [], open: false };

export function appendEntries(built: LineBuilder, entries: LogEntry[]): LineBuilder {
  if (entries.length === 0) {
    return built;
  }
  const lines = built.lines.slice();
  let open = built.open;
  for (const entry of entries) {
    const pieces = entry.data.split('\n');
    pieces.forEach((piece, i) => {
      const last = lines[lines.length - 1];
      const continues = i === 0 && open && last !== undefined && last.stream === entry.stream;
      if (continues) {
        lines[lines.length - 1] = { ...last, text: last.text + piece };
      } else if (i < pieces.length - 1 || piece !== '') {
        lines.push({ key: `${entry.id}.${i}`, at: entry.at, stream: entry.stream, text: piece });
      }
    });
    open = !entry.data.endsWith('\n') && entry.data !== '';
  }
  return { lines, open };
}
