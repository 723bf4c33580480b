/** The README documents every setting the option table has, with its flag and default. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { OPTIONS, type Option } from '../../src/config/options.js';
import { CATALOG } from '../../src/windows/catalog.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

it('lists every option with its variable, flag and default', () => {
  for (const row of Object.values(OPTIONS) as Option<unknown>[]) {
    expect(readme).toContain(`| \`${row.env}\` | \`--${row.flag}\` | ${row.defaultText} |`);
  }
});

it('gives the two commands: run the product and run every test', () => {
  expect(readme).toMatch(/```sh\ndocker compose up\n```/);
  expect(readme).toMatch(/```sh\nmake test\n```/);
});

it('has a row in the Windows version table for every catalog key', () => {
  for (const entry of CATALOG) expect(readme).toContain(`| \`${entry.key}\` | `);
});
