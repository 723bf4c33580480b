/**
 * When the Windows media boots, and when it is gone for good. Pure decisions over what windock.json
 * recorded and what the disk looks like; the supervisor applies them.
 *
 * The rules (issue 7): installation counts as done when the guest first answers on RDP; from then
 * on windock.json records it and the ISO and the setup image are not attached any more; nothing
 * ever reinstalls over an existing disk. In between, an interrupted install (container stopped
 * during Setup) picks up where it was: media attached again, but the keys that start Setup from
 * the DVD are pressed only while the disk is still blank — once Setup has partitioned it, the
 * DVD prompt must time out so the firmware continues from the disk.
 */
import type { PersistedState } from '../state/state-file.js';

export type InstallRecord = NonNullable<PersistedState['install']>;

export interface MediaPlanInput {
  install: InstallRecord | undefined;
  /** The storage stage created the system disk during this run. */
  diskCreated: boolean;
  /** The system disk has a partition table (Windows Setup has begun writing to it). */
  diskPartitioned: boolean;
  /** MANUAL=Y: the user installs by hand; no answer file, no key presses. */
  manual: boolean;
}

export interface MediaPlan {
  /** Attach the Windows ISO as a cdrom. */
  attachInstallMedia: boolean;
  /** The ISO boots before the disk (a blank disk) or after it (Setup continues from the disk). */
  installMediaFirst: boolean;
  /** Attach the FAT setup image (answer file, OEM folder, drivers). */
  attachSetupImage: boolean;
  /** Arm the boot-key watcher for this run. */
  pressBootKeys: boolean;
  /** Write install.mediaAttached=true before QEMU starts (an interrupted install resumes). */
  recordMediaAttached: boolean;
  reason: string;
}

const NOTHING = { attachInstallMedia: false, installMediaFirst: false, attachSetupImage: false, pressBootKeys: false, recordMediaAttached: false } as const;

export function planWindowsMedia(input: MediaPlanInput): MediaPlan {
  const { install } = input;
  if (install?.completedAt) {
    return { ...NOTHING, reason: `Windows is installed (first RDP answer at ${install.completedAt}); the install media stays detached` };
  }
  if (input.diskCreated) {
    return {
      attachInstallMedia: true,
      installMediaFirst: true,
      attachSetupImage: !input.manual,
      pressBootKeys: true,
      recordMediaAttached: true,
      reason: input.manual ? 'new disk: the install media boots for a manual install (MANUAL=Y)' : 'new disk: the install media boots and Setup runs from the answer file',
    };
  }
  if (install?.mediaAttached) {
    return {
      attachInstallMedia: true,
      installMediaFirst: !input.diskPartitioned,
      attachSetupImage: !input.manual,
      pressBootKeys: !input.diskPartitioned,
      recordMediaAttached: false,
      reason: input.diskPartitioned
        ? 'an install was interrupted after Setup began: media attached again, the disk boots first to continue'
        : 'an install was interrupted before Setup wrote to the disk: the install media boots again',
    };
  }
  return { ...NOTHING, reason: 'an existing disk with no install in progress: windock never reinstalls over it' };
}

/**
 * The state change when the guest first answers on RDP: install done, media detached from the
 * next boot on. Idempotent: a recorded completion keeps its first date.
 */
export function recordInstallDone(state: PersistedState, now: Date): PersistedState {
  if (state.install?.completedAt) return state;
  return { ...state, install: { mediaAttached: false, bootedFromDisk: true, completedAt: now.toISOString() } };
}

/** The state change before launching with the media attached. */
export function recordMediaAttached(state: PersistedState): PersistedState {
  return { ...state, install: { mediaAttached: true, bootedFromDisk: state.install?.bootedFromDisk ?? false, ...(state.install?.completedAt ? { completedAt: state.install.completedAt } : {}) } };
}
