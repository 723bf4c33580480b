/**
 * Which container engine runs windock, and whether it runs rootless: rootless Podman gets user-
 * mode networking instead of failing NETWORK=tap's checks (as qemus/qemu does: src/init.sh
 * detectEngine/detectRootless, then its network.sh falls back quietly).
 *
 * - Podman writes /run/.containerenv into every container (podman-run(1), "/run/.containerenv"):
 *   `engine="podman-…"`, and `rootless=1` when the engine runs as an unprivileged user.
 * - A user namespace that maps container uid 0 to a non-zero host uid (/proc/self/uid_map,
 *   user_namespaces(7)) is rootless whatever the engine: the container's root is an ordinary
 *   user on the host.
 *
 * Why not tap there: a rootless container's CAP_NET_ADMIN is only over its own namespaces. It may
 * build a bridge and tap inside them, but /dev/net/tun is not passed by default, IP forwarding is
 * a sysctl of a namespace it often may not write, and whatever it builds sits behind the engine's
 * own user-mode stack (slirp4netns or pasta) anyway, whose port forwarder delivers published
 * ports on the container's loopback — so user mode is what works, and the log says why.
 */
import type { AppError } from '../core/errors.js';

export interface EngineFacts {
  /** "podman", "docker", or undefined when neither says so. */
  engine: 'podman' | 'docker' | undefined;
  rootless: boolean;
  /** What showed it, for the log line. */
  evidence: string[];
}

/**
 * Pure: the engine from /run/.containerenv's text (undefined when absent), /.dockerenv's
 * presence, and /proc/self/uid_map's text (undefined when unreadable).
 */
export function judgeEngine(input: { containerEnv: string | undefined; dockerEnv: boolean; uidMap: string | undefined }): EngineFacts {
  const evidence: string[] = [];
  let engine: EngineFacts['engine'];
  let rootless = false;
  if (input.containerEnv !== undefined) {
    const name = /^engine="?([^"\n]*)"?$/m.exec(input.containerEnv)?.[1] ?? '';
    // CRI-O (Kubernetes) writes the file too, with another engine name.
    if (name.startsWith('podman')) engine = 'podman';
    evidence.push(`/run/.containerenv${name ? ` engine=${name}` : ''}`);
    if (/^rootless=1$/m.test(input.containerEnv)) {
      rootless = true;
      evidence.push('/run/.containerenv rootless=1');
    }
  } else if (input.dockerEnv) {
    engine = 'docker';
    evidence.push('/.dockerenv');
  }
  const hostUidOfRoot = rootHostUid(input.uidMap);
  if (hostUidOfRoot !== undefined && hostUidOfRoot !== 0) {
    rootless = true;
    evidence.push(`/proc/self/uid_map maps uid 0 to host uid ${hostUidOfRoot}`);
  }
  return { engine, rootless, evidence };
}

/** The host uid that uid 0 maps to (uid_map lines: inside-start outside-start count). */
function rootHostUid(uidMap: string | undefined): number | undefined {
  for (const line of (uidMap ?? '').split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside === undefined || outside === undefined || count === undefined || Number.isNaN(count)) continue;
    if (inside <= 0 && 0 < inside + count) return outside - inside;
  }
  return undefined;
}

export interface NetworkChoice {
  mode: 'tap' | 'user' | 'none';
  /** Set when the mode differs from the one asked for. */
  reason?: string;
}

/**
 * Pure: the network mode to build. A rootless engine with NETWORK=tap gets user mode: when a tap
 * check fails it cannot build tap at all, and when none fails tap would still leave the guest
 * unreachable, because a rootless engine's port forwarder (rootlesskit's, Podman's default)
 * delivers published ports from the container's own loopback, where tap's DNAT on the uplink
 * never sees them (seen with rootless Podman 4.3: the guest answered inside, the published port
 * closed empty; test/e2e/podman.test.ts). LAN mode (DHCP=Y) that can be built is kept: its guest
 * is reached on the LAN, not through published ports. Everything else keeps what was asked.
 */
export function chooseNetworkMode(requested: 'tap' | 'user' | 'none', engine: EngineFacts, tapProblems: readonly AppError[], lanMode = false): NetworkChoice {
  if (requested !== 'tap' || !engine.rootless) return { mode: requested };
  // DHCP=Y puts the guest on the LAN itself (a macvtap): no published port is involved.
  if (lanMode && tapProblems.length === 0) return { mode: requested };
  const who = engine.engine === 'podman' ? 'rootless Podman' : 'a rootless container';
  const why = tapProblems.length > 0
    ? `cannot build NETWORK=tap here: ${tapProblems.map((p) => p.message).join('; ')}`
    : "delivers published ports from the container's own loopback, which NETWORK=tap's forwarding to the guest never sees";
  return { mode: 'user', reason: `${who} (${engine.evidence.join('; ')}) ${why}; using NETWORK=user` };
}
