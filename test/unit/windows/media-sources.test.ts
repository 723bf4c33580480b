/** The source order of each catalog entry and the decision "which source next, given the failures so far". */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/core/errors.js';
import { CATALOG, type CatalogEntry } from '../../../src/windows/catalog.js';
import { resolveLanguage } from '../../../src/windows/languages.js';
import { nextSource, pinnedFor, planSources, sourceOrderText, sourcesExhausted, type SourceAttempt } from '../../../src/windows/media-sources.js';

const entry = (key: string): CatalogEntry => CATALOG.find((e) => e.key === key)!;
const en = resolveLanguage('English');
const de = resolveLanguage('German');
const MIRRORS = ['https://m1.test/win/', 'https://m2.test'];

/** Plays the loop the adapter runs, with each tried source failing as `fail` says; the labels in order. */
function walk(plan: ReturnType<typeof planSources>, fail: (label: string, lookup: number) => Partial<SourceAttempt> & { stage: 'lookup' | 'download' }): string[] {
  const attempts: SourceAttempt[] = [];
  const seen: string[] = [];
  for (let step = nextSource(plan, attempts), n = 0; step && n < 50; step = nextSource(plan, attempts), n++) {
    const label = plan[step.index]!.label;
    if (step.kind === 'skip') {
      seen.push(`skip ${label}`);
      attempts.push({ index: step.index, stage: 'skipped', reason: step.reason });
      continue;
    }
    seen.push(`${step.retry ? 'retry' : 'try'} ${label}`);
    const lookups = attempts.filter((a) => a.index === step!.index).length;
    attempts.push({ index: step.index, reason: 'failed', ...fail(label, lookups) });
  }
  return seen;
}

describe('planSources', () => {
  it('orders 11 in English: live flow, static link, ESD catalog, each mirror with the pinned digest', () => {
    const plan = planSources(entry('11'), en, MIRRORS);
    expect(plan.map((s) => [s.route.kind, s.lookups, s.skip ?? '', s.url ?? ''])).toEqual([
      ['consumer', 2, '', ''],
      ['static', 1, '', expect.stringContaining('CLIENT_CONSUMER_x64FRE_en-us.iso')],
      ['esd', 1, '', ''],
      ['mirror', 1, '', 'https://m1.test/win/en-us_windows_11_25h2_x64.iso'],
      ['mirror', 1, '', 'https://m2.test/en-us_windows_11_25h2_x64.iso'],
    ]);
    for (const s of plan) if (s.route.kind === 'static' || s.route.kind === 'mirror') expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('puts the live Evaluation Center before the static link although the row lists it after', () => {
    expect(entry('2022').routes.map((r) => r.kind)).toEqual(['static', 'evalcenter']);
    expect(planSources(entry('2022'), en, []).map((s) => s.route.kind)).toEqual(['evalcenter', 'static']);
  });

  it('lists German sources first (the ESD catalog in German too), then the English ones as the fallback', () => {
    const plan = planSources(entry('11'), de, []);
    expect(plan.map((s) => `${s.route.kind} ${s.language.culture} ${s.fallback}`)).toEqual([
      'consumer de-DE false',
      'esd de-DE false',
      'consumer en-US true',
      'static en-US true',
      'esd en-US true',
      'mirror en-US true',
    ]);
    expect(plan.at(-1)!.skip).toBe('MIRRORS is not set');
  });

  it('skips the Evaluation Center for a language it has no media in (Arabic), and falls back to English', () => {
    const plan = planSources(entry('2025'), resolveLanguage('Arabic'), []);
    expect(plan.map((s) => [s.route.kind, s.language.culture, s.skip ?? ''])).toEqual([
      ['evalcenter', 'ar-SA', 'the Evaluation Center offers no Arabic media'],
      ['evalcenter', 'en-US', ''],
      ['static', 'en-US', ''],
    ]);
  });

  it('keeps credentials in a MIRRORS base URL out of the label it logs and records, not out of the URL it fetches', () => {
    const [mirror] = planSources(entry('10i'), en, ['https://user:secret@m.test/win']);
    expect(mirror!.label).toBe('mirror https://m.test/win/en-us_windows_10_iot_enterprise_ltsc_2021_x64_dvd_257ad90f.iso');
    expect(mirror!.label).not.toContain('secret');
    expect(mirror!.url).toContain('user:secret@');
  });

  it('never uses a mirror file or static link without a pinned digest', () => {
    const unpinned: CatalogEntry = { ...entry('10i'), routes: [{ kind: 'mirror', culture: 'en-US', file: 'x.iso', sha256: 'not-a-digest' }, { kind: 'static', culture: 'en-US', url: 'https://ms.test/y.iso' }] };
    const plan = planSources(unpinned, en, MIRRORS);
    expect(plan.map((s) => [s.route.kind, s.url, s.skip])).toEqual([
      ['static', 'https://ms.test/y.iso', 'no SHA-256 is pinned for it'],
      ['mirror', undefined, 'no SHA-256 is pinned for it: a mirror is never trusted without one'],
    ]);
    expect(walk(plan, () => ({ stage: 'download' })).every((s) => s.startsWith('skip'))).toBe(true);
  });
});

describe('nextSource', () => {
  it('retries a live flow once after a failed lookup, then moves on; a failed download moves on at once', () => {
    const steps = walk(planSources(entry('11'), en, MIRRORS), (label) => ({ stage: label.startsWith('Microsoft download') ? 'lookup' : 'download', url: label }));
    expect(steps.map((s) => s.split(' ').slice(0, 3).join(' '))).toEqual([
      'try Microsoft download',
      'retry Microsoft download',
      'try Microsoft static',
      'try Microsoft ESD',
      'try mirror https://m1.test/win/en-us_windows_11_25h2_x64.iso',
      'try mirror https://m2.test/en-us_windows_11_25h2_x64.iso',
    ]);
  });

  it('does not retry after the IP ban, and asks no later live Microsoft flow either (the ESD catalog is no live flow: it is asked)', () => {
    const steps = walk(planSources(entry('11'), de, []), (label) => ({ stage: label.startsWith('Microsoft download') ? 'lookup' : 'download', banned: label.startsWith('Microsoft download') }));
    expect(steps).toEqual([
      'try Microsoft download flow (windows11, de-DE)',
      'try Microsoft ESD catalog (windows11 Professional, de-DE)',
      'skip Microsoft download flow (windows11, en-US)',
      expect.stringMatching(/^try Microsoft static link https:\/\/.*en-us\.iso$/),
      'try Microsoft ESD catalog (windows11 Professional, en-US)',
      'skip mirror file en-us_windows_11_25h2_x64.iso',
    ]);
  });

  it('does not retry a lookup whose answer cannot change (no media in the language)', () => {
    const plan = planSources(entry('2022'), de, []);
    expect(nextSource(plan, [{ index: 0, stage: 'lookup', reason: 'no German media', definitive: true }])).toEqual({ kind: 'try', index: 1, retry: false });
    expect(plan[1]!.fallback).toBe(true);
  });

  it('does not fetch a file again under another name once its download failed (live link = static link)', () => {
    const plan = planSources(entry('2022'), en, []);
    const staticUrl = plan[1]!.url!;
    const attempts: SourceAttempt[] = [{ index: 0, stage: 'download', url: staticUrl, reason: 'HTTP 404' }];
    expect(nextSource(plan, attempts)).toEqual({ kind: 'skip', index: 1, reason: 'the same file failed already' });
    expect(nextSource(plan, [...attempts, { index: 1, stage: 'skipped', reason: 'same' }])).toBeUndefined();
  });

  it('gives the live flow the static link\'s digest when it hands out the same file', () => {
    const staticRoute = entry('2022').routes[0]!;
    if (staticRoute.kind !== 'static') throw new Error('2022 starts with its static link');
    expect(pinnedFor(entry('2022'), `${staticRoute.url}?token=1`)).toEqual({ sha256: staticRoute.sha256, size: staticRoute.size });
    expect(pinnedFor(entry('2022'), 'https://other.test/SERVER_EVAL_x64FRE_en-us.iso')).toEqual({});
  });
});

describe('sourcesExhausted', () => {
  it('is exit 4 naming every source with why, and the ways out', () => {
    const plan = planSources(entry('11'), en, ['https://m.test']);
    const attempts: SourceAttempt[] = [
      { index: 0, stage: 'lookup', reason: 'Microsoft refused', banned: true },
      { index: 1, stage: 'download', reason: 'the server no longer has the file (410 Gone)' },
      { index: 2, stage: 'download', reason: 'the ESD has SHA-1 abc, expected def (Microsoft\'s catalog); it was deleted' },
      { index: 3, stage: 'download', reason: 'SHA-256 abc, expected def' },
    ];
    const error = sourcesExhausted(entry('11'), en, plan, attempts);
    expect(error).toBeInstanceOf(AppError);
    expect(error.exitCode).toBe(4);
    for (const s of plan) expect(error.message).toContain(s.label);
    expect(error.message).toContain('410 Gone');
    expect(error.message).toContain('expected def');
    expect(error.hint).toContain('/boot.iso');
    expect(error.hint).toContain('MIRRORS');
    expect(error.hint).toContain('about a day');
  });
});

describe('README', () => {
  it('shows each entry\'s sources in the order they are tried', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const e of CATALOG) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${e.key}\` | `));
      expect(row?.split(' | ')[4], e.key).toBe(sourceOrderText(e));
    }
  });
});
