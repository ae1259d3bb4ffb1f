// Numbers and sizes as text. Times are not here: they go through ./time.ts.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `23.5 GiB`: binary units, one decimal below 100. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** CPU in cores from millicores: `0.5`, `2`, `1.25`. */
export function formatCores(millis: number | null | undefined): string {
  if (millis === null || millis === undefined) {
    return '—';
  }
  return String(Math.round(millis) / 1000);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The first 12 characters of a commit id, as people read them. */
export function shortCommit(id: string | null | undefined): string {
  return id ? id.slice(0, 12) : '—';
}

/** Quotes an argv for display the way a POSIX shell would read it back. */
export function formatCommand(argv: string[] | null | undefined): string {
  if (!argv || argv.length === 0) {
    return '(the image’s own command)';
  }
  return argv
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
