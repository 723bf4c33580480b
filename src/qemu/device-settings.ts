/**
 * The device settings of the configuration (DISK_IO, CPU_MODEL, SMP, BALLOONING, USB, ...) as the
 * argv builder takes them. Pure; an unset setting stays unset so that args.ts keeps its default.
 */
import type { Config } from '../config/options.js';
import type { DeviceSettings } from './vm-spec.js';

export type DeviceConfig = Pick<
  Config,
  'machine' | 'cpuModel' | 'cpuFlags' | 'vmx' | 'hv' | 'smp' | 'diskIo' | 'diskCache' | 'diskDiscard' | 'diskRotation' | 'diskOptions' | 'mtu' | 'ballooning' | 'usb' | 'usbPassthrough'
>;

export function deviceSettings(config: DeviceConfig): DeviceSettings {
  return dropUndefined({
    machine: config.machine,
    cpuModel: config.cpuModel,
    cpuFlags: config.cpuFlags,
    vmx: config.vmx,
    hv: config.hv,
    smp: config.smp?.text,
    disk: dropUndefined({
      aio: config.diskIo,
      cache: config.diskCache,
      discard: config.diskDiscard,
      rotation: config.diskRotation,
      options: config.diskOptions,
    }),
    mtu: config.mtu,
    balloon: config.ballooning,
    usbController: config.usb,
    usbHosts: config.usbPassthrough,
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
