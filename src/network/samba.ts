/**
 * The shared folder: a directory mounted at /shared (or /data) offered to the guest as
 * `\\host.lan\Data` over SMB, as dockur/windows does (its src/samba.sh: guest-only share, forced
 * to root so bind mounts of any owner stay usable, printing off). windock runs Samba's smbd
 * (Debian samba) in the foreground as a supervised child (house rule 8), with a configuration of
 * its own in RUN_DIR: every directory smbd keeps state in is under RUN_DIR/samba, so nothing of
 * the image's /etc/samba or /var/lib/samba is read or written.
 *
 * smbd listens on the guest bridge only (`interfaces` + `bind interfaces only`, smb.conf(5)):
 * nothing on the container's uplink answers on 445. dnsmasq gives the guest host.lan → the bridge
 * address (dhcp.ts). NETWORK=user has no bridge: QEMU's own SMB server (`-netdev user,smb=DIR`,
 * which runs smbd itself) offers the folder at \\10.0.2.4\qemu instead (qemu/args.ts).
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { poll } from '../process/deadline.js';
import { startHelper, type Helper } from '../process/helper.js';
import { probeTcp } from './reachability.js';

/** Where a shared folder is looked for when SHARE_DIR is not set (dockur's order, samba.sh). */
export const DEFAULT_SHARE_DIRS = ['/shared', '/data'] as const;
/** The share's name: the guest sees `\\host.lan\Data` (dockur's name). */
export const SHARE_NAME = 'Data';
export const SHARE_HOST = 'host.lan';
/** SMB over TCP (RFC 1001/1002 session service is 139; Windows uses direct hosting on 445). */
export const SMB_PORT = 445;

export interface ShareChoice {
  dir: string;
  readOnly: boolean;
}

/**
 * The folder to share: SHARE_DIR when set, else the first of /shared and /data that is a
 * directory; none when SAMBA=N or nothing is mounted. Pure: `isDir` answers for each candidate.
 */
export function chooseShare(
  settings: { samba: boolean; sambaReadonly: boolean; shareDir?: string | undefined },
  isDir: (path: string) => boolean,
): ShareChoice | undefined {
  if (!settings.samba) return undefined;
  const candidates = settings.shareDir !== undefined ? [settings.shareDir] : DEFAULT_SHARE_DIRS;
  const dir = candidates.find((path) => isDir(path));
  return dir === undefined ? undefined : { dir, readOnly: settings.sambaReadonly };
}

type ShareSettings = Parameters<typeof chooseShare>[0];

/** The shared folder the settings and the mounts give, if any (chooseShare over the real directories). */
export async function findShare(settings: ShareSettings): Promise<ShareChoice | undefined> {
  const found = new Set<string>();
  for (const path of settings.shareDir !== undefined ? [settings.shareDir] : DEFAULT_SHARE_DIRS) {
    if (await stat(path).then((s) => s.isDirectory(), () => false)) found.add(path);
  }
  return chooseShare(settings, (path) => found.has(path));
}

export interface SmbConfInput {
  share: ShareChoice;
  /** The interface smbd binds to: the guest bridge. */
  bridge: string;
  /** smbd's state directories go below it. */
  stateDir: string;
  port?: number;
}

/** The state directories smbd needs; it refuses to start when one is missing (secrets.tdb). */
export function sambaDirs(stateDir: string): Record<'private' | 'lock' | 'state' | 'cache' | 'ncalrpc', string> {
  return {
    private: join(stateDir, 'private'),
    lock: join(stateDir, 'lock'),
    state: join(stateDir, 'state'),
    cache: join(stateDir, 'cache'),
    ncalrpc: join(stateDir, 'ncalrpc'),
  };
}

/** smb.conf(5) text. A value with a newline would start a new parameter: refused. */
export function buildSmbConf(input: SmbConfInput): string {
  const { share, bridge, stateDir } = input;
  if (/[\n\r]/.test(share.dir)) {
    throw new AppError('config', `SHARE_DIR must be a path on one line, got ${JSON.stringify(share.dir)}`, { hint: 'Mount the folder at /shared.' });
  }
  const dirs = sambaDirs(stateDir);
  const global = [
    'server string = windock',
    'netbios name = HOST',
    'workgroup = WORKGROUP',
    'server role = standalone server',
    // Only the guest bridge: the uplink (Docker's network, maybe a LAN) never sees port 445.
    `interfaces = ${bridge}`,
    'bind interfaces only = yes',
    `smb ports = ${input.port ?? SMB_PORT}`,
    'disable netbios = yes',
    // Anyone on the bridge is the guest, and the guest is the only one there: no passwords.
    'security = user',
    'map to guest = Bad User',
    'guest account = nobody',
    // Windows 7 and older speak SMB1 only (dockur keeps NT1 for them too).
    'server min protocol = NT1',
    'unix extensions = no',
    // Files land owned by root with ordinary modes, whatever owns the bind mount.
    'force user = root',
    'force group = root',
    'create mask = 0666',
    'directory mask = 0777',
    'load printers = no',
    'printing = bsd',
    'printcap name = /dev/null',
    'disable spoolss = yes',
    `private dir = ${dirs.private}`,
    `lock directory = ${dirs.lock}`,
    `state directory = ${dirs.state}`,
    `cache directory = ${dirs.cache}`,
    `ncalrpc dir = ${dirs.ncalrpc}`,
    `pid directory = ${stateDir}`,
    'log level = 1',
  ];
  const data = [`path = ${share.dir}`, 'comment = Shared', `read only = ${share.readOnly ? 'yes' : 'no'}`, 'guest ok = yes', 'guest only = yes'];
  const section = (name: string, lines: string[]) => [`[${name}]`, ...lines.map((line) => `    ${line}`)].join('\n');
  return `${section('global', global)}\n\n${section(SHARE_NAME, data)}\n`;
}

/** smbd prints its version banner first thing (smbd/server.c, main()); it binds right after. */
const SMBD_STARTED = /smbd version .* started/;

export interface SambaOptions {
  program?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Writes the configuration and starts smbd; resolves once it accepts on `address`:445. */
export async function startSamba(input: SmbConfInput & { address: string }, log: Logger, options: SambaOptions = {}): Promise<Helper> {
  await mkdir(input.stateDir, { recursive: true, mode: 0o700 });
  for (const dir of Object.values(sambaDirs(input.stateDir))) await mkdir(dir, { recursive: true, mode: 0o700 });
  // A run killed with -9 leaves smbd.pid; smbd would refuse to start while it names a live pid
  // (a recycled one included), and our previous smbd died with us (parent-death signal).
  await rm(join(input.stateDir, 'smbd.pid'), { force: true });
  const conf = join(input.stateDir, 'smb.conf');
  await writeFile(conf, buildSmbConf(input), { mode: 0o600 });
  const argv = [options.program ?? 'smbd', '--foreground', '--no-process-group', '--debug-stdout', `--configfile=${conf}`];
  const helper = startHelper({ name: 'smbd', argv, log });
  const timeoutMs = options.timeoutMs ?? 15_000;
  const port = input.port ?? SMB_PORT;
  try {
    await helper.waitForLine(SMBD_STARTED, { timeoutMs, signal: options.signal });
    const probe = new AbortController();
    await Promise.race([
      poll(async () => ((await probeTcp(input.address, port, 1_000, probe.signal, { settleMs: 0 })) ? true : undefined), {
        timeoutMs,
        signal: options.signal,
        intervalMs: 100,
        what: `smbd listening on ${input.address}:${port}`,
      }),
      helper.died.then((error) => Promise.reject(error)),
    ]).finally(() => probe.abort());
  } catch (error) {
    await helper.stop(1_000);
    throw error;
  }
  log.info({ dir: input.share.dir, readOnly: input.share.readOnly, share: `\\\\${SHARE_HOST}\\${SHARE_NAME}` }, 'shared folder offered to the guest');
  return helper;
}

/**
 * The shared folder on the guest bridge, if one is mounted. As dockur does, a folder that cannot
 * be offered does not keep the VM from starting: smbd's failure is a warning (a stop is not).
 */
export async function offerShare(
  settings: ShareSettings & { runDir: string },
  bridge: { name: string; address: string },
  log: Logger,
  options: SambaOptions,
): Promise<Helper | undefined> {
  const share = await findShare(settings);
  if (!share) return undefined;
  return startSamba({ share, bridge: bridge.name, address: bridge.address, stateDir: join(settings.runDir, 'samba') }, log, options).catch((error: unknown) => {
    if (options.signal?.aborted) throw error;
    log.warn({ err: error, dir: share.dir }, 'the shared folder is not offered: smbd did not start');
    return undefined;
  });
}
