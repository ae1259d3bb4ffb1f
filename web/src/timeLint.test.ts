// @vitest-environment node
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The lint rule that keeps every date format in src/time.ts: code elsewhere that formats or
// reads a date in the machine's zone fails `npm run lint`.
const eslint = new ESLint({ cwd: process.cwd() });

async function problems(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('the time lint rule', () => {
  it('refuses zone-dependent date formatting outside time.ts', async () => {
    for (const code of [
      'export const a = (d: Date) => d.toLocaleString();',
      'export const a = (d: Date) => d.toLocaleTimeString();',
      'export const a = (d: Date) => d.getHours();',
      "export const f = new Intl.DateTimeFormat('en', {});",
      "export const d = new Date('2026-12-04T08:46:14Z');",
    ]) {
      expect(await problems(code, 'src/pages/Some.tsx'), code).not.toHaveLength(0);
    }
  });

  it('lets time.ts do it', async () => {
    const code = "export const f = new Intl.DateTimeFormat('en', { timeZone: 'Asia/Shanghai' });\n";
    expect(await problems(code, 'src/time.ts')).toEqual([]);
  });
});
