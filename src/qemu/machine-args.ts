/**
 * The machine and CPU part of the QEMU argv: the chipset (q35, or i440FX for Windows before
 * Vista), its sleep states, the accelerator, and the CPU model with its features. Two inputs
 * meet here: what the guest needs (GuestMachine, from the Windows catalog) and what the user set
 * (DeviceSettings: MACHINE, CPU_MODEL, CPU_FLAGS, VMX, HV, SMP). The user's setting wins.
 */
import type { DeviceSettings, GuestMachine, VmSpec } from './vm-spec.js';

/** Hyper-V enlightenments make Windows guests markedly faster and steadier under KVM (docs/system/i386/hyperv.rst); other guests ignore them. */
const HYPERV = ['hv_relaxed', 'hv_vapic', 'hv_spinlocks=0x1fff', 'hv_vpindex', 'hv_runtime', 'hv_time', 'hv_synic', 'hv_stimer', 'hv_frequencies', 'hv_tlbflush', 'hv_ipi'];

/** i440FX in any of its names (`pc`, `pc-i440fx-8.2`); everything else is treated as q35. */
export function isI440fx(machine: string): boolean {
  return machine === 'pc' || machine.startsWith('pc-i440fx');
}

export function machineArgs(spec: VmSpec, guest: GuestMachine, devices: DeviceSettings): string[] {
  const type = devices.machine ?? guest.machine;
  const machine = [type, 'vmport=off'];
  // Windows keeps time better on the ACPI PM timer and the TSC than on an emulated HPET, whose
  // interrupts cost more than they give (qemus/qemu src/config.sh HPET=off).
  if (guest.windows) machine.push('hpet=off');
  if (spec.firmware.mode !== 'legacy') machine.push('pflash0=fw-code', 'pflash1=fw-vars');
  // Secure boot firmware keeps its variable store in SMM so the OS cannot tamper with it.
  if (spec.firmware.mode === 'secure') machine.push('smm=on');
  const kvm = spec.accel === 'kvm';
  return [
    '-machine', machine.join(','),
    '-accel', spec.accel,
    '-cpu', cpuText(kvm, guest, devices),
    // PIT ticks missed while a Windows vCPU was descheduled are dropped, not replayed in a burst (qemus/qemu src/proc.sh).
    ...(kvm && guest.windows ? ['-global', 'kvm-pit.lost_tick_policy=discard'] : []),
    '-smp', devices.smp ?? `${spec.cpuCores},sockets=1,cores=${spec.cpuCores},threads=1`,
    // Windows sleeps into S3/S4 states a VM cannot resume from well; the ICH9 LPC (q35) or the
    // PIIX4 power management (i440FX) hides them.
    ...sleepStates(isI440fx(type) ? 'PIIX4_PM' : 'ICH9-LPC'),
  ];
}

function sleepStates(device: 'PIIX4_PM' | 'ICH9-LPC'): string[] {
  return ['-global', `${device}.disable_s3=1`, '-global', `${device}.disable_s4=1`];
}

function cpuText(kvm: boolean, guest: GuestMachine, devices: DeviceSettings): string {
  const model = devices.cpuModel ?? (kvm ? 'host' : 'max');
  const parts = [model];
  // host passthrough cannot migrate anyway; saying so lets QEMU expose every host feature.
  if (kvm && model === 'host') parts.push('migratable=off');
  // Windows before Vista does not know the enlightenments; dockur runs them without (hv=N).
  if (kvm && (devices.hv ?? guest.machine !== 'pc')) parts.push(...HYPERV);
  // Nested VT-x is hidden from Windows under KVM unless VMX=Y (a Windows update crashes with it,
  // qemus/qemu src/proc.sh); VMX=N hides it from any guest.
  if (devices.vmx === false || (kvm && guest.windows && devices.vmx !== true)) parts.push('-vmx');
  // Windows stops on the arch_capabilities MSR KVM reports on AMD hosts (qemus/qemu src/proc.sh).
  if (kvm && guest.windows && guest.amdHost) parts.push('arch_capabilities=off');
  parts.push(...guest.cpuFlags);
  if (devices.cpuFlags) parts.push(devices.cpuFlags);
  return parts.join(',');
}
