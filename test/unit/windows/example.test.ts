/** The Windows-containers example stays consistent with the option table and the OEM contract. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/resolve.js';
import { resolveVersion } from '../../../src/windows/catalog.js';

const root = new URL('../../../examples/windows-containers/', import.meta.url);

describe('examples/windows-containers', () => {
  const compose = parse(readFileSync(new URL('compose.yml', root), 'utf8')) as {
    services: Record<string, { environment: Record<string, string>; volumes: string[]; devices: string[]; stop_grace_period: string }>;
  };
  const service = Object.values(compose.services)[0]!;

  it('is a valid windock configuration for Windows Server 2022', () => {
    const config = resolveConfig(service.environment);
    expect(config.version).toBe('2022');
    const resolved = resolveVersion(config.version);
    expect(resolved.kind === 'catalog' && resolved.entry.product).toContain('Server 2022');
  });

  it('mounts the OEM folder where windock reads it, and KVM', () => {
    expect(service.volumes).toContain('./oem:/oem:ro');
    expect(service.devices).toContain('/dev/kvm');
  });

  it('install.bat enables the Containers feature on Server and client, with CRLF line ends', () => {
    const bat = readFileSync(new URL('oem/install.bat', root), 'latin1');
    expect(bat).toContain('Install-WindowsFeature -Name Containers');
    expect(bat).toContain('Enable-WindowsOptionalFeature -Online -FeatureName Containers -All');
    expect(bat.split('\n').slice(0, -1).every((line) => line.endsWith('\r'))).toBe(true);
  });
});
