/**
 * dockur's and qemus/qemu's values (docs/environment.md, src/memory.sh, init.sh, network.sh,
 * boot.sh, disk.sh) read with their meaning, and the dockur-only variables warned about.
 */
import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../src/config/resolve.js';
import { parseSmp, parseUsbIds } from '../../../src/config/dockur-values.js';
import { DOCKUR_ONLY } from '../../../src/config/dockur-only.js';
import { OPTIONS } from '../../../src/config/options.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const host = { cpus: 8, memoryBytes: 16 * GiB };

function resolve(env: Record<string, string>, capacity = host) {
  return resolveSettings(env, {}, { host: capacity });
}

describe('RAM_SIZE', () => {
  it.each([
    ['8', 8 * GiB],
    ['129', 129 * GiB],
    ['130', 130 * MiB],
    ['4096', 4096 * MiB],
    ['8G', 8 * GiB],
    ['8GB', 8 * GiB],
    ['512M', 512 * MiB],
    ['half', 8 * GiB],
    // memory.sh configureMaxMemory: all but three 500 MB spares, in whole MiB.
    ['max', Math.floor((16 * GiB - 1_500_000_000) / MiB) * MiB],
  ])('%s is %d bytes', (raw, bytes) => {
    expect(resolve({ RAM_SIZE: raw }).config.ramSize).toBe(bytes);
  });

  it('keeps a reserve on a small host: max of 1.5 GB leaves 500 MB', () => {
    expect(resolve({ RAM_SIZE: 'max' }, { cpus: 2, memoryBytes: 1_500_000_000 }).config.ramSize).toBe(Math.floor(1_000_000_000 / MiB) * MiB);
  });

  it('refuses half without host facts, naming the variable', () => {
    expect(() => resolveSettings({ RAM_SIZE: 'half' })).toThrow('RAM_SIZE=half needs the memory available to the container');
  });

  it('names every accepted form when the value is nonsense', () => {
    expect(() => resolve({ RAM_SIZE: 'lots' })).toThrow('RAM_SIZE must be a size such as "512M" or "4G", a number of GB such as "8", "half" or "max", got "lots"');
  });
});

describe('CPU_CORES', () => {
  it.each([['half', 4], ['max', 8], ['3', 3]])('%s on 8 CPUs is %d', (raw, cores) => {
    expect(resolve({ CPU_CORES: raw }).config.cpuCores).toBe(cores);
  });

  it('limits a count above the host with a warning, as dockur does', () => {
    const { config, warnings } = resolve({ CPU_CORES: '16' });
    expect(config.cpuCores).toBe(8);
    expect(warnings).toEqual(['CPU_CORES=16 is more than the 8 CPUs available to the container; the guest gets 8']);
  });

  it('takes the count from SMP when SMP is set', () => {
    expect(resolve({ CPU_CORES: '2', SMP: '4,sockets=1,cores=2,threads=2' }).config).toMatchObject({ cpuCores: 4, smp: { cpus: 4, text: '4,sockets=1,cores=2,threads=2' } });
  });
});

describe('spellings', () => {
  it.each([
    ['NETWORK', 'nat', 'network', 'tap'],
    ['NETWORK', 'Y', 'network', 'tap'],
    ['NETWORK', 'tuntap', 'network', 'tap'],
    ['NETWORK', 'N', 'network', 'none'],
    ['NETWORK', 'passt', 'network', 'user'],
    ['NETWORK', 'slirp', 'network', 'user'],
    ['NETWORK', 'user', 'network', 'user'],
    ['BOOT_MODE', 'windows', 'bootMode', 'uefi'],
    ['BOOT_MODE', 'windows_plain', 'bootMode', 'uefi'],
    ['BOOT_MODE', 'windows_secure', 'bootMode', 'secure'],
    ['BOOT_MODE', 'windows_legacy', 'bootMode', 'legacy'],
    ['BOOT_MODE', 'uefi', 'bootMode', 'uefi'],
    ['DISK_TYPE', 'ide', 'diskType', 'sata'],
    ['DISK_TYPE', 'usb', 'diskType', 'usb'],
    ['DISK_TYPE', 'virtio-scsi', 'diskType', 'scsi'],
    ['DISK_TYPE', 'virtio-blk', 'diskType', 'blk'],
    ['DISK_DISCARD', 'N', 'diskDiscard', 'ignore'],
    ['DISK_DISCARD', 'on', 'diskDiscard', 'unmap'],
    ['DISK_IO', 'io_uring', 'diskIo', 'io_uring'],
    ['DISK_CACHE', 'writeback', 'diskCache', 'writeback'],
    ['TIMEOUT', '30', 'shutdownTimeout', 30],
    ['MACHINE', 'q35', 'machine', 'q35'],
    ['USB', 'qemu-xhci,id=xhci', 'usb', 'qemu-xhci'],
  ])('%s=%s is %s %s', (env, raw, key, value) => {
    const { config, warnings } = resolve({ [env]: raw });
    expect(config[key as keyof typeof config]).toEqual(value);
    expect(warnings).toEqual([]);
  });

  it("lets windock's own name win over dockur's", () => {
    expect(resolve({ TIMEOUT: '30', SHUTDOWN_TIMEOUT: '50' }).config.shutdownTimeout).toBe(50);
  });

  it('refuses an unknown NETWORK, listing every spelling', () => {
    expect(() => resolve({ NETWORK: 'bridge' })).toThrow(/NETWORK must be one of "tap", "nat", .*"passt", "slirp", .*"none", "n".*got "bridge"/);
  });
});

describe('accepted with a warning', () => {
  it('moves DISK_IO=native to threads unless the cache is direct (qemus disk.sh)', () => {
    const moved = resolve({ DISK_IO: 'native' });
    expect(moved.config.diskIo).toBe('threads');
    expect(moved.warnings).toEqual(['DISK_IO=native needs DISK_CACHE=none or directsync (direct I/O), got the default writeback; using DISK_IO=threads']);
    expect(resolve({ DISK_IO: 'native', DISK_CACHE: 'none' })).toMatchObject({ config: { diskIo: 'native' }, warnings: [] });
  });

  it('reads DISK_SIZE=max as the default size, saying so', () => {
    expect(resolve({ DISK_SIZE: 'max' })).toMatchObject({
      config: { diskSize: 64 * GiB },
      warnings: ['DISK_SIZE=max: windock does not size disks by the free space of STORAGE; a new disk gets 64G (sparse), set a size to grow it'],
    });
  });

  it('reads another machine type as q35', () => {
    expect(resolve({ MACHINE: 'pc' })).toMatchObject({ config: { machine: 'q35' }, warnings: ['MACHINE=pc: windock builds a q35 machine (its AHCI, pflash and ICH9 devices); using q35'] });
  });

  it('keeps an xHCI controller for USB=ehci and USB=N', () => {
    for (const raw of ['usb-ehci,id=ehci', 'N']) {
      const { config, warnings } = resolve({ USB: raw });
      expect(config.usb).toBe('qemu-xhci');
      expect(warnings[0]).toContain(`USB=${raw}: windock keeps a qemu-xhci USB controller`);
    }
  });

  it('says HV=Y does nothing under TCG', () => {
    expect(resolve({ HV: 'Y', KVM: 'N' }).warnings).toEqual(['HV=Y: Hyper-V enlightenments need KVM; with KVM=N the guest runs without them']);
  });

  it('warns about each dockur-only variable that asks for something, and not about its default values', () => {
    const { warnings } = resolve({ AUDIO: 'Y', WEB: 'Y', DISPLAY: 'vnc', RNG: 'Y', BALLOONING_KP: '0.7', SHUTDOWN: 'Y', GPU: 'N' });
    expect(warnings).toEqual([
      "DISPLAY=vnc: windock always serves its browser viewer on WEB_PORT (VNC on a private socket)",
      "AUDIO=Y: windock streams no audio to the viewer; RDP carries the guest's sound",
      'BALLOONING_KP=0.7: windock runs no balloon controller: with BALLOONING=Y the guest returns the memory it frees (free page reporting)',
    ]);
  });

  it('lists no variable twice and none that has a row (a row always wins)', () => {
    const names = DOCKUR_ONLY.map((d) => d.env);
    expect(new Set(names).size).toBe(names.length);
    const rows = new Set(Object.values(OPTIONS).flatMap((row) => [row.env, ...('dockur' in row && row.dockur ? [row.dockur] : [])]));
    expect(names.filter((n) => rows.has(n))).toEqual([]);
  });
});

describe('parseSmp', () => {
  it('counts the CPUs of a layout without an explicit count', () => {
    expect(parseSmp('sockets=2,cores=2,threads=2', 'SMP')).toEqual({ cpus: 8, text: 'sockets=2,cores=2,threads=2' });
  });
  it.each(['', 'four', '4,cores=x', '4,cores=2,cores=2', '4,shoes=2'])('refuses %j', (raw) => {
    expect(() => parseSmp(raw, 'SMP')).toThrow(`SMP must be a QEMU -smp value such as "4" or "4,sockets=1,cores=2,threads=2", got "${raw}"`);
  });
});

describe('parseUsbIds', () => {
  it('reads lsusb ids, with or without 0x', () => {
    expect(parseUsbIds('046d:C52B, 0x0781:0x5581', 'USB_PASSTHROUGH')).toEqual([
      { vendor: '0x046d', product: '0xc52b' },
      { vendor: '0x0781', product: '0x5581' },
    ]);
  });
  it('refuses a bus path', () => {
    expect(() => parseUsbIds('1-2.3', 'USB_PASSTHROUGH')).toThrow('USB_PASSTHROUGH must be a comma-separated list of USB ids');
  });
});
