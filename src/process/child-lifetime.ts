/**
 * How windock starts every long-lived child (QEMU, dnsmasq, passt, swtpm) so that none outlives
 * it and none is hit by signals meant for windock alone.
 */

/**
 * `setpriv --pdeathsig SIGTERM` (util-linux) makes the kernel send the child a SIGTERM when
 * windock dies, even by SIGKILL; the setting survives the exec into the real program. SIGTERM,
 * not SIGKILL, so that QEMU still flushes its disk caches on the way out.
 */
export function withParentDeathSignal(argv: readonly string[]): [string, string[]] {
  return ['setpriv', ['--pdeathsig', 'SIGTERM', '--', ...argv]];
}

/**
 * Spawn options for a supervised child: its own process group, so that a Ctrl-C in a terminal
 * (SIGINT to the whole foreground group) reaches only windock, which then stops the child in
 * order (the guest first) instead of everything dying at once.
 */
export const SUPERVISED_CHILD = { detached: true } as const;
