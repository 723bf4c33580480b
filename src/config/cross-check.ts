/**
 * Checks that need several settings, pure. They run inside `resolveConfig`, so that every
 * settings mistake exits 2 before anything is touched — in particular before a download of
 * several GB that a later stage would have refused anyway. Checks only a kind of guest can make
 * (Windows account names) come from its profile, passed in by the caller (src/guest/profile.ts).
 */
import { AppError } from '../core/errors.js';
import type { Config } from './options.js';

/** RDP: always forwarded to the guest (tcp and udp). */
export const RDP_PORT = 3389;

export function crossCheck(config: Config): AppError[] {
  return [bootName(config), userPorts(config)].filter((p): p is AppError => p !== undefined);
}

/**
 * QEMU reads `json:{...}` as a block-layer description, not a file name: it can open any file
 * or network block device. windock needs BOOT to be a file it can stat and record, so such a
 * name is refused even with BOOT_TRUST=Y (which allows one inside an image's header instead).
 */
function bootName(config: Config): AppError | undefined {
  if (!config.boot || !/^json:/i.test(config.boot.trim())) return undefined;
  return new AppError('config', 'BOOT must be the path or URL of an image file, got a QEMU "json:" block description', {
    hint: 'Set BOOT to a file. To boot through a json: description on purpose, make a qcow2 overlay naming it as its backing file (qemu-img create -f qcow2 -b \'json:…\' -F raw overlay.qcow2), set BOOT to the overlay and BOOT_TRUST=Y.',
    details: { variable: 'BOOT' },
  });
}

/** NETWORK=user forwards 3389 and USER_PORTS from the container to the guest: WEB_PORT is windock's own. */
function userPorts(config: Config): AppError | undefined {
  if (config.network !== 'user') return undefined;
  if (config.webPort === RDP_PORT) {
    return new AppError('config', `WEB_PORT must not be ${RDP_PORT} with NETWORK=user: that port is forwarded to the guest's RDP`, {
      hint: 'Move WEB_PORT elsewhere (default 8006).',
      details: { variable: 'WEB_PORT', webPort: config.webPort },
    });
  }
  const clash = config.userPorts.find((rule) => rule.from <= config.webPort && config.webPort <= rule.to);
  if (!clash) return undefined;
  const shown = clash.from === clash.to ? String(clash.from) : `${clash.from}-${clash.to}`;
  return new AppError('config', `USER_PORTS must not include WEB_PORT ${config.webPort}: that port is windock's own, got ${shown}`, {
    hint: 'Remove it from USER_PORTS, or move WEB_PORT elsewhere.',
    details: { variable: 'USER_PORTS', webPort: config.webPort },
  });
}
