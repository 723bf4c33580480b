/**
 * The shipped manifests: kubernetes.yml and the lab's Kubernetes variant validated against the
 * Kubernetes OpenAPI schemas (kubernetes-models), and every file checked for the promises the
 * README makes about it — the stop grace period outlasts windock's shutdown ladder, the
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

const ROOT = join(import.meta.dirname, '..', '..');

/** What windock spends after SHUTDOWN_TIMEOUT before it exits: QMP quit ≤ 5 s, SIGTERM ≤ 5 s. */
const LADDER_MARGIN_SECONDS = 10;
const SHUTDOWN_TIMEOUT = OPTIONS.shutdownTimeout.default;
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
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(timeout + LADDER_MARGIN_SECONDS);
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
  expect(durationSeconds(service.stop_grace_period)).toBeGreaterThan(timeout + LADDER_MARGIN_SECONDS);
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
