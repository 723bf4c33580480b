/**
 * scripts/apt-mirror.sh: the machine's Debian mirror, read from APT sources in both formats
 * (deb822 `.sources`, one-line `.list`), in APT's reading order. Sample trees are written here;
 * the script runs for real under bash.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'apt-mirror.sh');
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A root with etc/os-release and the given files under etc/apt. */
function tree(files: Record<string, string>, codename: string | null = 'bookworm'): string {
  const root = mkdtempSync(join(tmpdir(), 'windock-apt-'));
  roots.push(root);
  mkdirSync(join(root, 'etc', 'apt', 'sources.list.d'), { recursive: true });
  writeFileSync(join(root, 'etc', 'os-release'), `PRETTY_NAME="Debian GNU/Linux"\nID=debian\n${codename ? `VERSION_CODENAME=${codename}\n` : ''}`);
  for (const [path, text] of Object.entries(files)) writeFileSync(join(root, 'etc', 'apt', path), text);
  return root;
}

function mirror(root: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [SCRIPT, root], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

const DEB822 = `Types: deb
# a comment between fields
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://sources.example/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm

types: deb deb-src
uris: http://archive.example/debian/
  http://second.example/debian
suites: bookworm bookworm-updates
components: main
`;

describe('apt-mirror.sh', () => {
  it('reads deb822 sources: the first enabled deb source of the release suite, its first URI without a trailing slash', () => {
    const result = mirror(tree({ 'sources.list.d/debian.sources': DEB822 }));
    expect(result, result.stderr).toMatchObject({ status: 0, stdout: 'http://archive.example/debian' });
  });

  it('reads the one-line format, options and comments included', () => {
    const list = [
      '# deb http://commented.example/debian bookworm main',
      'deb-src http://sources.example/debian bookworm main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.example/debian-security bookworm-security main',
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://oneline.example/debian bookworm main contrib # the archive',
      '',
    ].join('\n');
    const result = mirror(tree({ 'sources.list': list }));
    expect(result, result.stderr).toMatchObject({ status: 0, stdout: 'http://oneline.example/debian' });
  });

  it('reads sources.list before sources.list.d, and sources.list.d in file-name order, as APT does', () => {
    const first = mirror(tree({ 'sources.list': 'deb http://list.example/debian bookworm main\n', 'sources.list.d/debian.sources': DEB822 }));
    expect(first.stdout, first.stderr).toBe('http://list.example/debian');
    const ordered = mirror(
      tree({
        'sources.list.d/b.list': 'deb http://b.example/debian bookworm main\n',
        'sources.list.d/a.sources': 'Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\n',
        'sources.list.d/0.sources.disabled': 'Types: deb\nURIs: http://ignored.example/debian\nSuites: bookworm\n',
      }),
    );
    expect(ordered.stdout, ordered.stderr).toBe('http://a.example/debian');
  });

  it('without a codename in os-release takes the first suite that is not a pocket', () => {
    const result = mirror(tree({ 'sources.list.d/debian.sources': DEB822.replaceAll('bookworm', 'sid') }, null));
    expect(result, result.stderr).toMatchObject({ status: 0, stdout: 'http://archive.example/debian' });
  });

  it('fails, naming the suite, when no source carries the release', () => {
    const result = mirror(tree({ 'sources.list.d/debian.sources': DEB822 }, 'trixie'));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no enabled deb source for suite trixie');
    const empty = mirror(tree({}));
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('no APT sources under');
  });

  it("finds this machine's own mirror", () => {
    const stdout = execFileSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 10_000 }).trim();
    expect(stdout).toMatch(/^https?:\/\/[^/\s]+/);
  });
});
