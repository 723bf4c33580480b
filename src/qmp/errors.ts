/**
 * The QMP error hierarchy, after QEMU's python `qemu.qmp` (qmp_client.py): a command QEMU
 * refused, a connection that went away with calls pending, and a protocol violation.
 */
export class QmpError extends Error {
  override name = 'QmpError';
}

/** QEMU answered the command with an error object. */
export class QmpCommandError extends QmpError {
  override name = 'QmpCommandError';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly description: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${description}`);
  }
}

/** The socket closed (QEMU exited or crashed); every pending call is rejected with this. */
export class QmpDisconnectedError extends QmpError {
  override name = 'QmpDisconnectedError';
}

/** QEMU sent something QMP does not allow, or did not answer in time. */
export class QmpProtocolError extends QmpError {
  override name = 'QmpProtocolError';
}

export class QmpTimeoutError extends QmpError {
  override name = 'QmpTimeoutError';
}
