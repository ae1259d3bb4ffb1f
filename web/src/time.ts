// The one place that turns instants into text and text into instants. The server sends UTC
// (ISO 8601 with `Z`); people read Beijing time (Asia/Shanghai, UTC+8) whatever the zone of
// their browser or machine. Nothing here reads the local zone: every conversion names the zone.

export const ZONE = 'Asia/Shanghai';
export const ZONE_LABEL = 'Beijing time (UTC+8)';

const placeholder = '—';

const partsFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

interface WallClock {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
}

/** Milliseconds since the epoch, or NaN for a missing or unreadable timestamp. */
export function parseInstant(iso: string | null | undefined): number {
  if (!iso) {
    return NaN;
  }
  return Date.parse(iso);
}

function wallClock(ms: number): WallClock {
  const out: Record<string, string> = {};
  for (const part of partsFormat.formatToParts(ms)) {
    out[part.type] = part.value;
  }
  return {
    year: out.year ?? '',
    month: out.month ?? '',
    day: out.day ?? '',
    hour: out.hour ?? '',
    minute: out.minute ?? '',
    second: out.second ?? '',
  };
}

/** `2026-12-04 16:46:14`: the Beijing date and time of a UTC timestamp. */
export function formatDateTime(iso: string | null | undefined): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return placeholder;
  }
  const w = wallClock(ms);
  return `${w.year}-${w.month}-${w.day} ${w.hour}:${w.minute}:${w.second}`;
}

/** `2026-12-04`: the Beijing date. */
export function formatDate(iso: string | null | undefined): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return placeholder;
  }
  const w = wallClock(ms);
  return `${w.year}-${w.month}-${w.day}`;
}

/** `16:46:14`: the Beijing time of day. */
export function formatTime(iso: string | null | undefined): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return placeholder;
  }
  const w = wallClock(ms);
  return `${w.hour}:${w.minute}:${w.second}`;
}

/**
 * The time of day alone when the instant falls on the same Beijing day as `now`, else the date
 * and time: what a list shows.
 */
export function formatShort(iso: string | null | undefined, now: number = Date.now()): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return placeholder;
  }
  const w = wallClock(ms);
  const today = wallClock(now);
  const time = `${w.hour}:${w.minute}:${w.second}`;
  if (w.year === today.year && w.month === today.month && w.day === today.day) {
    return time;
  }
  return `${w.year}-${w.month}-${w.day} ${time}`;
}

/** A span of time in words people scan: `850 ms`, `42 s`, `3 min 05 s`, `2 h 07 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) {
    return placeholder;
  }
  const abs = Math.max(0, Math.round(ms));
  if (abs < 1000) {
    return `${abs} ms`;
  }
  const s = Math.floor(abs / 1000);
  if (s < 60) {
    return `${s} s`;
  }
  const min = Math.floor(s / 60);
  if (min < 60) {
    return `${min} min ${pad2(s % 60)} s`;
  }
  const h = Math.floor(min / 60);
  if (h < 24) {
    return `${h} h ${pad2(min % 60)} min`;
  }
  const d = Math.floor(h / 24);
  return `${d} d ${h % 24} h`;
}

/** The time between two timestamps; an open end means now. */
export function formatElapsed(
  from: string | null | undefined,
  to: string | null | undefined,
  now: number = Date.now(),
): string {
  const start = parseInstant(from);
  if (Number.isNaN(start)) {
    return placeholder;
  }
  const end = to ? parseInstant(to) : now;
  return formatDuration(end - start);
}

/** `just now`, `45 s ago`, `3 min ago`, `2 h ago`, `5 d ago`, or `in 3 min` for the future. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return placeholder;
  }
  const diff = now - ms;
  const s = Math.round(Math.abs(diff) / 1000);
  if (s < 5) {
    return 'just now';
  }
  let text: string;
  if (s < 60) {
    text = `${s} s`;
  } else if (s < 3600) {
    text = `${Math.floor(s / 60)} min`;
  } else if (s < 86400) {
    text = `${Math.floor(s / 3600)} h`;
  } else {
    text = `${Math.floor(s / 86400)} d`;
  }
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** Seconds since a timestamp (negative for the future), or NaN. */
export function secondsSince(iso: string | null | undefined, now: number = Date.now()): number {
  return (now - parseInstant(iso)) / 1000;
}

// The zone's offset from UTC at an instant, in milliseconds (Beijing: +8 h; asked of the zone
// database rather than assumed, like every other conversion here).
function offsetAt(ms: number): number {
  const w = wallClock(ms);
  const asUtc = Date.UTC(
    Number(w.year),
    Number(w.month) - 1,
    Number(w.day),
    Number(w.hour),
    Number(w.minute),
    Number(w.second),
  );
  return asUtc - Math.floor(ms / 1000) * 1000;
}

const localInput = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/**
 * The UTC ISO string of a `datetime-local` input value read as Beijing time:
 * `2026-12-04T16:46` → `2026-12-04T08:46:00.000Z`. Null for an empty or malformed value.
 */
export function fromDateTimeLocal(value: string): string | null {
  const m = localInput.exec(value.trim());
  if (!m) {
    return null;
  }
  const [, y, mo, d, h, mi, s, frac] = m;
  const wall = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s ?? 0),
    Number((frac ?? '0').padEnd(3, '0')),
  );
  if (Number.isNaN(wall)) {
    return null;
  }
  const instant = wall - offsetAt(wall - offsetAt(wall));
  return new Date(instant).toISOString();
}

/** The `datetime-local` input value (Beijing wall clock, to the minute) of a UTC timestamp. */
export function toDateTimeLocal(iso: string | null | undefined): string {
  const ms = parseInstant(iso);
  if (Number.isNaN(ms)) {
    return '';
  }
  const w = wallClock(ms);
  return `${w.year}-${w.month}-${w.day}T${w.hour}:${w.minute}`;
}

/** Now as a UTC ISO string, for comparisons with the server's timestamps. */
export function nowIso(): string {
  return new Date().toISOString();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
