/**
 * The text of what a guest prints on its serial console, without the terminal codes around it.
 * Pure; used for the console log lines (process.ts) and for the boot-key watcher, which reads the
 * same output (windows/boot-key.ts).
 */

// Terminal escapes firmware and boot loaders print (ECMA-48): CSI sequences (colours, cursor
// moves, modes: ESC [ params intermediates final), character-set selection (ESC ( B), and the
// two-byte ESC c (reset), ESC 7/8 (save/restore cursor), ESC = / ESC > (keypad modes).
const ESCAPES = /\x1b\[[0-9;:<=>?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>c78]/g;
// Control characters other than tab and newline, once the escapes that start with ESC are gone.
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** The text of console output without its terminal escapes (control characters stay). */
export function stripAnsi(text: string): string {
  return text.replace(ESCAPES, '');
}

/** One console line as logged: no escapes, no control characters, no trailing blanks or CR. */
export function cleanConsoleLine(raw: string): string {
  return stripAnsi(raw).replace(CONTROLS, '').trimEnd();
}
