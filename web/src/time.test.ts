import { describe, expect, it } from 'vitest';
import {
  formatDate,
  formatDateTime,
  formatDuration,
  formatElapsed,
  formatRelative,
  formatShort,
  formatTime,
  fromDateTimeLocal,
  toDateTimeLocal,
} from './time';

// `npm test` runs this file under TZ=America/New_York, TZ=UTC and TZ=Asia/Shanghai; every
// expectation below is the same Beijing text in all three.
const zone = process.env.TZ ?? '(unset)';

describe(`the process zone (${zone})`, () => {
  it('is the one the script asked for, so the runs below really differ', () => {
    const hour = new Date('2026-12-04T08:46:14.123Z').getHours();
    const expected: Record<string, number> = {
      'America/New_York': 3,
      UTC: 8,
      'Asia/Shanghai': 16,
    };
    if (zone in expected) {
      expect(hour).toBe(expected[zone]);
    }
  });
});

describe(`Beijing time under TZ=${zone}`, () => {
  it('formats a UTC timestamp as the Beijing date and time', () => {
    expect(formatDateTime('2026-12-04T08:46:14.123Z')).toBe('2026-12-04 16:46:14');
    expect(formatDate('2026-12-04T08:46:14.123Z')).toBe('2026-12-04');
    expect(formatTime('2026-12-04T08:46:14.123Z')).toBe('16:46:14');
  });

  it('moves to the next Beijing day after 16:00 UTC', () => {
    expect(formatDateTime('2026-12-31T16:00:00.000Z')).toBe('2027-01-01 00:00:00');
    expect(formatDateTime('2026-12-31T15:59:59.999Z')).toBe('2026-12-31 23:59:59');
  });

  it('keeps UTC+8 across the dates when New York changes its clocks', () => {
    expect(formatDateTime('2026-03-08T07:30:00.000Z')).toBe('2026-03-08 15:30:00');
    expect(formatDateTime('2026-11-01T06:30:00.000Z')).toBe('2026-11-01 14:30:00');
  });

  it('shows a placeholder for missing or unreadable timestamps', () => {
    expect(formatDateTime(null)).toBe('—');
    expect(formatDateTime(undefined)).toBe('—');
    expect(formatDateTime('not a time')).toBe('—');
    expect(formatRelative(null)).toBe('—');
  });

  it('shows only the time of day for an instant on the same Beijing day', () => {
    const now = Date.parse('2026-12-04T10:00:00.000Z'); // 18:00 in Beijing
    expect(formatShort('2026-12-04T08:46:14.000Z', now)).toBe('16:46:14');
    // 23:30 UTC on the 3rd is already the 4th in Beijing.
    expect(formatShort('2026-12-03T23:30:00.000Z', now)).toBe('07:30:00');
    expect(formatShort('2026-12-03T15:30:00.000Z', now)).toBe('2026-12-03 23:30:00');
  });
});

describe('datetime-local values are Beijing wall-clock times', () => {
  it('turns an input value into the UTC instant', () => {
    expect(fromDateTimeLocal('2026-12-04T16:46')).toBe('2026-12-04T08:46:00.000Z');
    expect(fromDateTimeLocal('2026-12-04T16:46:14')).toBe('2026-12-04T08:46:14.000Z');
    expect(fromDateTimeLocal('2027-01-01T07:00')).toBe('2026-12-31T23:00:00.000Z');
    expect(fromDateTimeLocal('2026-03-08T02:30')).toBe('2026-03-07T18:30:00.000Z');
  });

  it('refuses empty and malformed values', () => {
    expect(fromDateTimeLocal('')).toBeNull();
    expect(fromDateTimeLocal('2026-12-04')).toBeNull();
    expect(fromDateTimeLocal('yesterday')).toBeNull();
  });

  it('turns a UTC timestamp into an input value and back', () => {
    expect(toDateTimeLocal('2026-12-04T08:46:14.123Z')).toBe('2026-12-04T16:46');
    expect(fromDateTimeLocal(toDateTimeLocal('2026-12-04T08:46:00.000Z'))).toBe(
      '2026-12-04T08:46:00.000Z',
    );
    expect(toDateTimeLocal(null)).toBe('');
  });
});

describe('relative times and durations', () => {
  const now = Date.parse('2026-12-04T08:46:14.000Z');

  it('says how long ago, in the largest whole unit', () => {
    expect(formatRelative('2026-12-04T08:46:12.000Z', now)).toBe('just now');
    expect(formatRelative('2026-12-04T08:45:29.000Z', now)).toBe('45 s ago');
    expect(formatRelative('2026-12-04T08:43:00.000Z', now)).toBe('3 min ago');
    expect(formatRelative('2026-12-04T06:40:00.000Z', now)).toBe('2 h ago');
    expect(formatRelative('2026-11-29T08:00:00.000Z', now)).toBe('5 d ago');
    expect(formatRelative('2026-12-04T08:49:14.000Z', now)).toBe('in 3 min');
  });

  it('writes durations people can scan', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(7_620_000)).toBe('2 h 07 min');
    expect(formatDuration(100 * 3600_000)).toBe('4 d 4 h');
    expect(formatDuration(-5)).toBe('0 ms');
    expect(formatDuration(NaN)).toBe('—');
  });

  it('measures between two timestamps, or up to now when the end is open', () => {
    expect(formatElapsed('2026-12-04T08:40:00.000Z', '2026-12-04T08:41:30.000Z')).toBe(
      '1 min 30 s',
    );
    expect(formatElapsed('2026-12-04T08:46:00.000Z', null, now)).toBe('14 s');
    expect(formatElapsed(null, null, now)).toBe('—');
  });
});
