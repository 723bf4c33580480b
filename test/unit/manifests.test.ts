/**
 * The shipped manifests: kubernetes.yml and the lab's Kubernetes variant validated against the
 * Kubernetes OpenAPI schemas (kubernetes-models), and every file checked for the promises the
 * README makes about it — the stop grace period outlasts windock's shutdown ladder and cleanup
 * (derived from ladderWorstCaseMs/stopWorstCaseMs, so a longer ladder or a shorter grace fails
 * here, and every number the documents state about the ladder must be the ladder's own), the
 * environment names exist in the option table, nothing runs privileged, each VM has its own
 * storage. SHUTDOWN_TIMEOUT and the variable names come from src/config/options.ts, so a change
 * there that the manifests miss fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { OPTIONS } from '../../src/config/options.js';
import { DEFAULT_LADDER, ladderWorstCaseMs, STOP_CLEANUP_MARGIN_MS, stopWorstCaseMs } from '../../src/supervisor/shutdown-ladder.js';

const ROOT = join(import.meta.dirname, '..', '..');

const SHUTDOWN_TIMEOUT = OPTIONS.shutdownTimeout.default;
/** The ladder after the guest's budget: quit + SIGTERM + SIGKILL (8 s). */
const ESCALATION_SECONDS = ladderWorstCaseMs(0) / 1000;
const CLEANUP_SECONDS = STOP_CLEANUP_MARGIN_MS / 1000;
/** From the stop request to windock's exit, at most, for a SHUTDOWN_TIMEOUT in seconds. */
const stopSeconds = (shutdownTimeout: number): number => stopWorstCaseMs(shutdownTimeout * 1000) / 1000;
const KNOWN_ENV = new Set(Object.values(OPTIONS).map((row) => row.env));

type Doc = Record<string, any>;

const MODELS: Record<string, { new (data: any): { validate(): void } }> = {
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
};

function readDocs(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, file), 'utf8'));
  for (const doc of docs) expect(doc.errors, `${file}: YAML errors`).toEqual([]);
  return docs.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

function readCompose(file: string): Doc {
  // merge: true resolves `<<: *anchor` keys as Compose does (YAML 1.1 merge keys).
  return parseYaml(readFileSync(join(ROOT, file), 'utf8'), { merge: true }) as Doc;
}

/** Compose durations: "2m30s", "150s", "1h" (the Go time.ParseDuration subset compose uses). */
function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), `duration ${text}`).toBe(text);
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 } as const;
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

function kubernetesChecks(file: string, expectEnv: Record<string, string>): void {
  const docs = readDocs(file);

  it('validates against the Kubernetes schemas', () => {
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(model, `${doc.apiVersion} ${doc.kind} has a model`).toBeDefined();
      expect(() => new model!(doc).validate(), `${doc.kind} ${doc.metadata?.name}`).not.toThrow();
    }
  });

  const sts = docs.find((doc) => doc.kind === 'StatefulSet')!;
  const pod = sts.spec.template.spec;
  const container = pod.containers.find((c: Doc) => c.name === 'windock');

  it('gives the guest longer than SHUTDOWN_TIMEOUT plus the escalation to power off', () => {
    const timeout = Number(container.env.find((e: Doc) => e.name === 'SHUTDOWN_TIMEOUT')?.value ?? SHUTDOWN_TIMEOUT);
    expect(pod.terminationGracePeriodSeconds, `the stop takes up to ${stopSeconds(timeout)} s`).toBeGreaterThanOrEqual(stopSeconds(timeout));
  });

  it('sets only variables windock knows, with the documented values', () => {
    for (const { name } of container.env) expect(KNOWN_ENV, `env ${name}`).toContain(name);
    const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.value]));
    expect(env).toMatchObject(expectEnv);
    // Service links would inject e.g. WEB_PORT=tcp://... for a Service named "web".
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('probes liveness, readiness and startup on the health endpoints', () => {
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/health/live', port: 'web' });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/health/ready', port: 'web' });
    expect(container.startupProbe.httpGet).toMatchObject({ path: '/health/live', port: 'web' });
    const web = container.ports.find((p: Doc) => p.name === 'web');
    expect(web.containerPort).toBe(OPTIONS.webPort.default);
  });

  it('exposes 8006 and 3389 over TCP and UDP', () => {
    const ports = container.ports.map((p: Doc) => `${p.containerPort}/${p.protocol}`);
    expect(ports).toEqual(expect.arrayContaining(['8006/TCP', '3389/TCP', '3389/UDP']));
    const services = docs.filter((doc) => doc.kind === 'Service');
    const served = services.flatMap((s) => s.spec.ports.map((p: Doc) => `${p.port}/${p.protocol}`));
    expect(served).toEqual(expect.arrayContaining(['8006/TCP', '3389/TCP', '3389/UDP']));
    expect(services.map((s) => s.metadata.name)).toContain(sts.spec.serviceName);
    for (const s of services) expect(s.spec.selector).toEqual(sts.spec.selector.matchLabels);
  });

  it('asks for KVM and tun through a device plugin and NET_ADMIN, never privileged', () => {
    expect(container.securityContext.privileged).toBe(false);
    expect(container.securityContext.capabilities.add).toEqual(['NET_ADMIN']);
    expect(container.resources.limits['devices.kubevirt.io/kvm']).toBe('1');
    expect(container.resources.limits['devices.kubevirt.io/tun']).toBe('1');
  });

  it('keeps each VM on its own claim, mounted at /storage', () => {
    const claims = sts.spec.volumeClaimTemplates.map((t: Doc) => t.metadata.name);
    const storage = container.volumeMounts.find((m: Doc) => m.mountPath === '/storage');
    expect(claims).toContain(storage.name);
  });
}

describe('kubernetes.yml', () => {
  kubernetesChecks('kubernetes.yml', { VERSION: '11', RAM_SIZE: '4G', CPU_CORES: '2', DISK_SIZE: '64G' });
});

describe('examples/lab/kubernetes.yml', () => {
  kubernetesChecks('examples/lab/kubernetes.yml', { BOOT: '/base/golden.qcow2', EPHEMERAL: 'Y' });

  it('mounts one ReadOnlyMany base into every replica, read-only', () => {
    const docs = readDocs('examples/lab/kubernetes.yml');
    const claim = docs.find((doc) => doc.kind === 'PersistentVolumeClaim')!;
    expect(claim.spec.accessModes).toEqual(['ReadOnlyMany']);
    const sts = docs.find((doc) => doc.kind === 'StatefulSet')!;
    expect(sts.spec.replicas).toBeGreaterThan(1);
    const volume = sts.spec.template.spec.volumes.find((v: Doc) => v.persistentVolumeClaim?.claimName === claim.metadata.name);
    expect(volume.persistentVolumeClaim.readOnly).toBe(true);
    const mount = sts.spec.template.spec.containers[0].volumeMounts.find((m: Doc) => m.name === volume.name);
    expect(mount).toMatchObject({ mountPath: '/base', readOnly: true });
  });
});

/** The checks every windock service in a compose file must pass. */
function checkComposeService(name: string, service: Doc): void {
  expect(service.image, `${name}.image`).toBe('windock');
  expect(service.privileged, `${name} must not be privileged`).toBeUndefined();
  expect(service.devices).toEqual(expect.arrayContaining(['/dev/kvm', '/dev/net/tun']));
  expect(service.cap_add).toEqual(['NET_ADMIN']);
  expect(service.restart).toBe('on-failure');
  const timeout = Number(service.environment?.SHUTDOWN_TIMEOUT ?? SHUTDOWN_TIMEOUT);
  expect(durationSeconds(service.stop_grace_period), `${name}: the stop takes up to ${stopSeconds(timeout)} s`).toBeGreaterThanOrEqual(stopSeconds(timeout));
  for (const key of Object.keys(service.environment ?? {})) expect(KNOWN_ENV, `${name} env ${key}`).toContain(key);
  for (const value of Object.values(service.environment ?? {})) expect(typeof value, 'quoted env values').toBe('string');
  const targets = (service.ports as string[]).map((p) => p.split(':').pop());
  expect(targets).toEqual(expect.arrayContaining(['8006', '3389/tcp', '3389/udp']));
}

describe('compose.yml', () => {
  const compose = readCompose('compose.yml');
  const service = compose.services.windows;

  it('is the dockur-compatible single VM', () => {
    checkComposeService('windows', service);
    expect(service.build).toEqual({ context: '.', dockerfile: 'image/Dockerfile' });
    expect(service.environment).toEqual({ VERSION: '11', RAM_SIZE: '4G', CPU_CORES: '2', DISK_SIZE: '64G' });
    expect(service.ports).toEqual(['8006:8006', '3389:3389/tcp', '3389:3389/udp']);
    expect(service.volumes).toEqual(['./windows:/storage']);
  });
});

describe('examples/lab compose files', () => {
  it('compose.yml: replicas boot the read-only base, each with its own anonymous /storage', () => {
    const compose = readCompose('examples/lab/compose.yml');
    const [name, service] = Object.entries(compose.services as Record<string, Doc>)[0]!;
    checkComposeService(name, service);
    expect(service.deploy.replicas).toBeGreaterThan(1);
    expect(service.environment.BOOT).toBe('/base/golden.qcow2');
    expect(service.volumes).toContain('./base:/base:ro');
    // An anonymous volume: no source, so Compose makes one per replica (a named one is shared).
    expect(service.volumes).toContain('/storage');
    // One host port per replica: ranges at least as wide as the replica count.
    for (const port of service.ports as string[]) {
      const range = /^(\d+)-(\d+):/.exec(port);
      expect(range, `port ${port} is a range`).not.toBeNull();
      expect(Number(range![2]) - Number(range![1]) + 1).toBeGreaterThanOrEqual(service.deploy.replicas);
    }
  });

  it('compose.named.yml: every VM has its own named volume and host ports', () => {
    const compose = readCompose('examples/lab/compose.named.yml');
    const services = Object.entries(compose.services as Record<string, Doc>);
    expect(services.length).toBeGreaterThan(1);
    const storages = new Set<string>();
    const hostPorts = new Set<string>();
    for (const [name, service] of services) {
      checkComposeService(name, service);
      expect(service.environment.BOOT).toBe('/base/golden.qcow2');
      expect(service.volumes).toContain('./base:/base:ro');
      const storage = (service.volumes as string[]).find((v) => v.endsWith(':/storage'))!.split(':')[0]!;
      expect(Object.keys(compose.volumes)).toContain(storage);
      storages.add(storage);
      for (const port of service.ports as string[]) hostPorts.add(`${port.split(':')[0]}/${port.endsWith('/udp') ? 'udp' : 'tcp'}`);
    }
    expect(storages.size).toBe(services.length);
    expect(hostPorts.size).toBe(services.length * 3);
  });
});

/** The text with YAML/Dockerfile comment markers and line breaks folded into single spaces. */
function prose(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8').replace(/\n\s*#\s?/g, ' ').replace(/\s+/g, ' ');
}

/** Every number the pattern's first group captures; at least one must be there. */
function claims(text: string, pattern: RegExp, what: string): number[] {
  const found = [...text.matchAll(new RegExp(pattern.source, 'g'))].map((m) => Number(m[1]));
  expect(found.length, `${what}: ${pattern} not found`).toBeGreaterThan(0);
  return found;
}

describe('documented stop margins, derived from the shutdown ladder', () => {
  const steps = { quit: DEFAULT_LADDER.quitMs / 1000, term: DEFAULT_LADDER.termMs / 1000, kill: DEFAULT_LADDER.killMs / 1000 };
  const worst = stopSeconds(SHUTDOWN_TIMEOUT);

  it('the default grace of 150 s covers the worst case (sanity of the derivation itself)', () => {
    expect(worst).toBe(SHUTDOWN_TIMEOUT + ESCALATION_SECONDS + CLEANUP_SECONDS);
    expect(worst).toBeLessThanOrEqual(150);
  });

  it('README.md states the ladder as it is, and asks for enough time', () => {
    const readme = prose('README.md');
    for (const n of claims(readme, /at most `SHUTDOWN_TIMEOUT` \+ (\d+) s in all/, 'README')) expect(n).toBe(ESCALATION_SECONDS);
    for (const n of claims(readme, /QMP `quit` ≤ (\d+) s/, 'README quit')) expect(n).toBe(steps.quit);
    for (const n of claims(readme, /SIGTERM to QEMU ≤ (\d+) s/, 'README SIGTERM')) expect(n).toBe(steps.term);
    for (const n of claims(readme, /SIGKILL ≤ (\d+) s/, 'README SIGKILL')) expect(n).toBe(steps.kill);
    for (const n of claims(readme, /asks QEMU to `quit` \((\d+) s\)/, 'README quit')) expect(n).toBe(steps.quit);
    for (const n of claims(readme, /removes its rules \(≤ (\d+) s\)/, 'README cleanup')) expect(n).toBe(CLEANUP_SECONDS);
    for (const n of claims(readme, /(\d+) s at most/, 'README total')) expect(n).toBe(worst);
    for (const n of claims(readme, /docker stop -t (\d+)/, 'README docker stop -t')) expect(n).toBeGreaterThanOrEqual(worst);
    const graces = [...readme.matchAll(/stop_grace_period: (\w+)`/g)].map((m) => m[1]!);
    expect(graces.length, 'README names stop_grace_period').toBeGreaterThan(0);
    for (const grace of graces) expect(durationSeconds(grace), `README stop_grace_period: ${grace}`).toBeGreaterThanOrEqual(worst);
  });

  it('compose.yml explains its stop_grace_period with the ladder\'s own numbers', () => {
    const compose = prose('compose.yml');
    for (const n of claims(compose, /QMP quit \(<= (\d+) s\)/, 'compose quit')) expect(n).toBe(steps.quit);
    for (const n of claims(compose, /SIGTERM \(<= (\d+) s\)/, 'compose SIGTERM')) expect(n).toBe(steps.term);
    for (const n of claims(compose, /SIGKILL \(<= (\d+) s\)/, 'compose SIGKILL')) expect(n).toBe(steps.kill);
    const sum = /(\d+) \+ (\d+) = (\d+) s/.exec(compose);
    expect(sum?.slice(1).map(Number)).toEqual([SHUTDOWN_TIMEOUT, ESCALATION_SECONDS, SHUTDOWN_TIMEOUT + ESCALATION_SECONDS]);
    for (const n of claims(compose, /removes its rules \(<= (\d+) s\)/, 'compose cleanup')) expect(n).toBe(CLEANUP_SECONDS);
    for (const n of claims(compose, /(\d+) s at most/, 'compose total')) expect(n).toBe(worst);
  });

  it('kubernetes.yml explains terminationGracePeriodSeconds with the ladder\'s own numbers', () => {
    const k8s = prose('kubernetes.yml');
    for (const n of claims(k8s, /QMP quit <= (\d+) s/, 'k8s quit')) expect(n).toBe(steps.quit);
    for (const n of claims(k8s, /SIGTERM <= (\d+) s/, 'k8s SIGTERM')) expect(n).toBe(steps.term);
    for (const n of claims(k8s, /SIGKILL <= (\d+) s/, 'k8s SIGKILL')) expect(n).toBe(steps.kill);
    for (const n of claims(k8s, /cleanup \(<= (\d+) s\)/, 'k8s cleanup')) expect(n).toBe(CLEANUP_SECONDS);
    for (const n of claims(k8s, /(\d+) s at most/, 'k8s total')) expect(n).toBe(worst);
  });

  it('the Dockerfile stops with SIGTERM and asks for enough time', () => {
    const dockerfile = readFileSync(join(ROOT, 'image/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const text = prose('image/Dockerfile');
    for (const n of claims(text, /plus at most (\d+) s of escalation/, 'Dockerfile escalation')) expect(n).toBe(ESCALATION_SECONDS);
    for (const n of claims(text, /(\d+) s of cleanup/, 'Dockerfile cleanup')) expect(n).toBe(CLEANUP_SECONDS);
    for (const n of claims(text, /\((\d+) s in all\)/, 'Dockerfile total')) expect(n).toBe(worst);
    for (const n of claims(text, /docker stop -t (\d+)/, 'Dockerfile docker stop -t')) expect(n).toBeGreaterThanOrEqual(worst);
    for (const match of text.matchAll(/stop_grace_period: (\S+?)\)/g)) expect(durationSeconds(match[1]!)).toBeGreaterThanOrEqual(worst);
  });
});
