/**
 * The host preflight's refusals for NETWORK=tap through the real binary: each missing capability
 * ends the run with exit 3, its own message and its own fix, and only that one (the namespace
 * has everything else).
 *
 * - no tun: a private mount namespace with /dev/null bound over /dev/net/tun (what a container
 *   started without `--device /dev/net/tun` sees is no node at all; windock then tries mknod,
 *   which fails here because the path is taken, as it fails in a container without CAP_MKNOD);
 * - no NET_ADMIN: dropped with setpriv;
 * - IP forwarding off and not settable: the test turns net.ipv4.ip_forward off in the namespace
 *   (a new namespace copies the host's IPv4 value, net.core.devconf_inherit_init_net=0), and a
 *   private mount namespace with /proc/sys read-only makes it unsettable, as Docker mounts
 *   /proc/sys for an unprivileged container.
 */
import { describe, expect, it } from 'vitest';
import { createNetns } from '../fixtures/netns.js';
import { tempDir } from '../fixtures/windock.js';
import { errorLine, NO_NET_ADMIN, startIn, useNetworkTestHooks } from './network-support.js';

/** Runs a command after changing one mount in a private mount namespace (argv: mode path command...). */
const MOUNT_THEN_RUN = `
import { execFileSync, spawn } from 'node:child_process';
const [mode, path, command, ...args] = process.argv.slice(1);
if (mode === 'hide') execFileSync('mount', ['--bind', '/dev/null', path]);
if (mode === 'readonly') {
  execFileSync('mount', ['--bind', path, path]);
  execFileSync('mount', ['-o', 'remount,bind,ro', path]);
}
const child = spawn(command, args, { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 1));
`;

function privateMount(mode: 'hide' | 'readonly', path: string): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', process.execPath, '--input-type=module', '-e', MOUNT_THEN_RUN, mode, path];
}

useNetworkTestHooks({ guest: false });

const cases = [
  {
    name: 'no /dev/net/tun',
    netns: { ipForward: true },
    wrap: privateMount('hide', '/dev/net/tun'),
    message: 'NETWORK=tap needs /dev/net/tun, which is missing and could not be created',
    fix: '--device /dev/net/tun',
    attempt: 'could not create /dev/net/tun',
  },
  {
    name: 'no NET_ADMIN',
    netns: { ipForward: true },
    wrap: NO_NET_ADMIN,
    message: 'NETWORK=tap needs the NET_ADMIN capability, which the container lacks',
    fix: '--cap-add NET_ADMIN',
    attempt: undefined,
  },
  {
    name: 'IP forwarding off and /proc/sys read-only',
    netns: { ipForward: false },
    wrap: privateMount('readonly', '/proc/sys'),
    message: 'NETWORK=tap needs IP forwarding: net.ipv4.ip_forward is 0 and could not be set to 1',
    fix: '--sysctl net.ipv4.ip_forward=1',
    attempt: 'could not set net.ipv4.ip_forward=1',
  },
] as const;

describe('NETWORK=tap preflight refusals', () => {
  it.each(cases)('$name: exit 3 with its own message and fix', async ({ netns, wrap, message, fix, attempt }) => {
    const ns = await createNetns(netns);
    if (!netns.ipForward) expect((await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0'])).exitCode).toBe(0);
    const dir = await tempDir('net-preflight');
    const { run } = startIn(ns, { storage: `${dir}/storage`, runDir: `${dir}/run` }, { NETWORK: 'tap' }, [...wrap]);
    const exit = await run.exited;
    expect(exit.code).toBe(3);
    const error = errorLine(run);
    expect(error?.msg).toBe(message);
    expect(String(error?.hint)).toContain(fix);
    expect(String(error?.hint)).toContain('NETWORK=user');
    // Exactly this problem: the namespace has everything else.
    for (const other of cases.filter((c) => c.message !== message)) expect(error?.msg).not.toContain(other.message);
    // What windock may fix itself, it tried first.
    if (attempt) expect(run.lines.some((l) => l.msg === attempt)).toBe(true);
    // Refused before anything was built.
    expect(run.lines.some((l) => l.msg === 'building the guest network')).toBe(false);
  });
});
