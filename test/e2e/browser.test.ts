/**
 * The viewer in real headless Chromium (Debian's `chromium`, driven by playwright-core) against a
 * real QEMU running the test guest under TCG:
 *  - the page loads with the token, the canvas shows the guest's screen (not blank) and it changes
 *    after a key press (SeaBIOS's "Press ESC for boot menu" prompt, held open by
 *    `-boot menu=on,splash-time=…`, turns into the boot menu: deterministic, unlike a console);
 *    a "1" pasted as key presses boots the guest, and commands typed and pasted (capitals and
 *    shifted symbols included) into its shell on tty1 run (their output is on the serial console);
 *  - a wrong token gets 401 and no WebSocket;
 *  - view-only ignores input;
 *  - the progress page shows a moving bar during a throttled local download (the real download
 *    code against a local server) and switches to the screen when the VM starts;
 *  - the page reconnects by itself after QEMU restarts.
 * Screenshots go to test-artifacts/browser/.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.js';
import { createViewer, type ViewerWithBridge } from '../../src/http/viewer.js';
import { createLogger } from '../../src/core/log.js';
import { download } from '../../src/storage/download.js';
import { downloadProgressTo, StatusStore } from '../../src/supervisor/status.js';
import { copyGuestDisk } from '../fixtures/guest.js';
import { startHttpServer } from '../fixtures/http-server.js';
import { serveViewer, startQemu, type TestQemu, type TestServer } from '../integration/vnc-bridge-support.js';

const TOKEN = 'browser-test-token';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'browser');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Users open the viewer by a LAN name or address over plain http, which is not a secure
  // context (127.0.0.1 would be one): the tests do the same with a name that maps to loopback.
  '--host-resolver-rules=MAP windock.test 127.0.0.1',
];
// VIEWER_TEST_LOG=<file> keeps the viewer's log lines for debugging.
const log = createLogger({
  level: 'debug',
  pretty: false,
  destination: process.env.VIEWER_TEST_LOG ? pino.destination({ dest: process.env.VIEWER_TEST_LOG, sync: true }) : { write: () => undefined },
});

let dir: string;
let context: BrowserContext;
const cleanups: (() => Promise<unknown>)[] = [];

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** QEMU booting a copy of the test guest, held at SeaBIOS's boot-menu prompt for up to 65 s. */
async function bootGuest(name: string, socketName = `${name}.sock`): Promise<TestQemu & { serial: string }> {
  const disk = await copyGuestDisk(dir, `${name}.qcow2`);
  const serial = join(dir, `${name}.serial`);
  // splash-time is in ms; SeaBIOS reads it as 16 bits (QEMU docs: -boot), so 65 s at most.
  const qemu = await startQemu(dir, {
    args: ['-drive', `file=${disk},format=qcow2,if=virtio`, '-boot', 'menu=on,splash-time=65000', '-serial', `file:${serial}`],
    socketName,
    paused: false,
  });
  cleanups.push(() => qemu.stop());
  return { ...qemu, serial };
}

/** The guest's serial console so far (its "windock-guest: ..." lines and what its shell sent there). */
async function serialText(qemu: { serial: string }): Promise<string> {
  return readFile(qemu.serial, 'utf8').catch(() => '');
}

async function startViewer(vncSocket: string, status: StatusStore, viewOnly = false): Promise<{ viewer: ViewerWithBridge; server: TestServer }> {
  const viewer = createViewer({ vncSocket, status, log, auth: { token: TOKEN }, viewOnly, metrics: createMetrics(status), eventIntervalMs: 100 });
  const server = await serveViewer(viewer);
  cleanups.push(() => server.close());
  return { viewer, server: { ...server, url: `http://windock.test:${server.port}` } };
}

function runningStatus(pid: number): StatusStore {
  const status = new StatusStore();
  status.update({ phase: 'starting' });
  status.update({ phase: 'running', qemuPid: pid, guestState: 'running' });
  return status;
}

/**
 * What the noVNC canvas shows: a fingerprint, the number of distinct colours, and the number of
 * bright ("text") pixels. Comparisons use the bright count: the VGA text cursor blinks, which
 * changes the fingerprint but only a handful of pixels (an underline of 9×2), while a line of
 * text is hundreds.
 */
interface Picture {
  hash: string;
  colours: number;
  bright: number;
}
const CURSOR_PIXELS = 40;
const TEXT_LINE_PIXELS = 300;

async function canvasPicture(page: Page): Promise<Picture> {
  // A string: this file is compiled without the DOM library; the code runs in the page.
  return page.evaluate(`(() => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas || canvas.width === 0) return { hash: '', colours: 0, bright: 0 };
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let h = 2166136261;
    const colours = new Set();
    let bright = 0;
    for (let i = 0; i < data.length; i += 4) {
      const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      colours.add(rgb);
      if (data[i] + data[i + 1] + data[i + 2] > 300) bright++;
      h = Math.imul(h ^ rgb, 16777619) >>> 0;
    }
    return { hash: canvas.width + 'x' + canvas.height + ':' + h.toString(16), colours: colours.size, bright };
  })()`) as Promise<Picture>;
}

/** Waits until the text on screen holds still for a second (the firmware finished drawing). */
async function stablePicture(page: Page): Promise<Picture> {
  let previous = -Infinity;
  return until('a stable picture', async () => {
    const now = await canvasPicture(page);
    const stable = now.colours > 1 && Math.abs(now.bright - previous) <= CURSOR_PIXELS;
    previous = now.bright;
    if (!stable) await new Promise((r) => setTimeout(r, 900));
    return stable ? now : undefined;
  });
}

/** Page console lines, printed when a wait fails (what the page saw is the first clue). */
const consoleLines = new WeakMap<Page, string[]>();

async function connected(page: Page): Promise<void> {
  try {
    await page.waitForSelector('#status[data-connection="connected"]', { timeout: 180_000 });
  } catch (error) {
    console.log(`page status: ${await page.textContent('#status')}\n${(consoleLines.get(page) ?? []).join('\n')}`);
    throw error;
  }
}

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  const lines: string[] = [];
  consoleLines.set(page, lines);
  page.on('console', (m) => lines.push(`${new Date().toISOString()} ${m.type()}: ${m.text()}`));
  return page;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-browser-'));
  await mkdir(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1024, height: 768 },
  });
});
afterEach(async () => {
  for (const page of context?.pages() ?? []) await page.close();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});
afterAll(async () => {
  await context?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('viewer in Chromium', () => {
  it('loads with the token, shows the guest screen, and a key press changes it', async () => {
    const qemu = await bootGuest('screen');
    const { viewer, server } = await startViewer(qemu.vncSocket, runningStatus(qemu.pid));
    const page = await newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const response = await page.goto(`${server.url}/?token=${TOKEN}`);
    expect(response?.status()).toBe(200);
    expect(page.url()).toBe(`${server.url}/`); // the token left the address bar
    await connected(page);
    expect(viewer.bridge.size).toBe(1);
    await until('the boot-menu prompt', async () => (await page.locator('#status').textContent())?.includes('connected'));
    const before = await stablePicture(page);
    expect(before.colours).toBeGreaterThan(1);
    await page.screenshot({ path: join(ARTIFACTS, '1-screen-before-key.png') });

    await page.locator('#screen canvas').click();
    await page.keyboard.press('Escape');
    // The boot menu adds three lines of text.
    await until('the boot menu after Escape', async () => (await canvasPicture(page)).bright > before.bright + 2 * TEXT_LINE_PIXELS, 20_000);
    const after = await stablePicture(page);
    console.log(`screen: ${before.bright} text pixels before Escape, ${after.bright} after`);
    expect(after.bright).toBeGreaterThan(before.bright + 2 * TEXT_LINE_PIXELS);
    await page.screenshot({ path: join(ARTIFACTS, '2-screen-after-key.png') });
    expect(viewer.bridge.stats()[0]!.bytesToVm).toBeGreaterThan(0);

    // Ctrl+Alt+Del: SeaBIOS resets the machine (its keyboard handler), so the menu disappears
    // and the prompt comes back.
    await page.click('#cad');
    await until('the reset after Ctrl+Alt+Del', async () => Math.abs((await canvasPicture(page)).bright - before.bright) <= CURSOR_PIXELS, 30_000);
    await page.screenshot({ path: join(ARTIFACTS, '2b-after-ctrl-alt-del.png') });

    // Paste as key presses: Escape opens the menu again, "1" picks the disk and the guest boots.
    await page.keyboard.press('Escape');
    await until('the boot menu again', async () => (await canvasPicture(page)).bright > before.bright + 2 * TEXT_LINE_PIXELS, 20_000);
    const menu = await stablePicture(page);
    await page.click('#paste-toggle');
    await page.fill('#paste-text', '1');
    await page.click('#paste-type');
    await until('the guest to boot from the menu choice', async () => {
      const now = await canvasPicture(page);
      return Math.abs(now.bright - menu.bright) > TEXT_LINE_PIXELS || now.hash.split(':')[0] !== menu.hash.split(':')[0];
    }, 30_000).catch(async (error: unknown) => {
      await page.screenshot({ path: join(ARTIFACTS, '2c-failed.png') });
      throw error;
    });
    await page.screenshot({ path: join(ARTIFACTS, '2c-after-typed-1.png') });

    // The guest's shell on tty1 gets a command typed in the page; its output goes to the serial
    // console (the guest's /dev/console), which only the guest writes: the keys, Shift included,
    // went browser → WebSocket → VNC → guest.
    await until('the guest shell on tty1', async () => (await serialText(qemu)).includes('windock-guest: shell on tty1'), 120_000);
    const marker = `typed-in-the-viewer-${process.pid}`;
    await page.locator('#screen canvas').click();
    // keyboard.type sends each character's key without its modifiers (noVNC forwards scancodes,
    // so a typed ">" would arrive as "."): the redirection is a real Shift chord, as a user makes.
    await page.keyboard.type(`echo ${marker} `);
    await page.keyboard.press('Shift+Period');
    await page.keyboard.type('/dev/console');
    await page.keyboard.press('Enter');
    await until('the typed command to run in the guest', async () => (await serialText(qemu)).includes(marker), 30_000).catch(async (error: unknown) => {
      await page.screenshot({ path: join(ARTIFACTS, '2d-failed.png') });
      throw error;
    });
    await page.screenshot({ path: join(ARTIFACTS, '2d-after-typed-command.png') });

    // "Paste… → Type it" (how a password gets into a login screen): capitals and the shifted
    // symbols of a US keyboard arrive as typed, and a newline is Enter.
    const pasted = `Pasted-${process.pid} ABC xyz ~!@#$%^&*()_+{}|:"<>?`;
    await page.click('#paste-toggle');
    await page.fill('#paste-text', `echo '${pasted}' >/dev/console\n`);
    await page.click('#paste-type');
    await until('the pasted command to run in the guest', async () => (await serialText(qemu)).includes(pasted), 30_000).catch(async (error: unknown) => {
      await page.screenshot({ path: join(ARTIFACTS, '2e-failed.png') });
      throw error;
    });
    await page.screenshot({ path: join(ARTIFACTS, '2e-after-pasted-command.png') });
    expect(await page.evaluate('window.isSecureContext')).toBe(false);
    // noVNC warns once that it wants a secure context (it needs one only for RA2/VeNCrypt auth).
    expect(problems.filter((p) => !p.includes('secure context'))).toEqual([]);
  });

  it('a wrong token gets 401 and no WebSocket', async () => {
    const qemu = await bootGuest('denied');
    const { viewer, server } = await startViewer(qemu.vncSocket, runningStatus(qemu.pid));
    await context.clearCookies();
    const page = await newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const response = await page.goto(`${server.url}/?token=wrong`);
    expect(response?.status()).toBe(401);
    expect(await page.textContent('h1')).toContain('token is required');
    // Even a script on this origin cannot open the bridge without the cookie.
    const code = await page
      .evaluate(`new Promise((resolve) => { const ws = new WebSocket('${server.url.replace('http', 'ws')}/websockify'); ws.onclose = (e) => resolve(e.code); })`)
      .catch(() => 'blocked');
    expect(code === 1006 || code === 'blocked').toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, '3-wrong-token.png') });
    expect(viewer.bridge.size).toBe(0);
    expect(sockets.every((url) => url.endsWith('/websockify'))).toBe(true);
  });

  it('view-only shows the screen and ignores input', async () => {
    const qemu = await bootGuest('viewonly');
    const { viewer, server } = await startViewer(qemu.vncSocket, runningStatus(qemu.pid), true);
    const page = await newPage();
    await page.goto(`${server.url}/?token=${TOKEN}`);
    await connected(page);
    expect(await page.isVisible('#view-only')).toBe(true);
    expect(await page.isDisabled('#cad')).toBe(true);
    const before = await stablePicture(page);
    // The page's own noVNC is in view-only mode too; force input through it anyway, the way a
    // modified page would, so that the server-side filter is what stops it.
    await page.evaluate('window.windockViewer.rfb.viewOnly = false');
    await page.locator('#screen canvas').click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await until('input dropped by the bridge', () => (viewer.bridge.stats()[0]?.inputDropped ?? 0) >= 4);
    // Had the Escape reached SeaBIOS, the menu would be drawn by now (it takes well under a
    // second in the test above); the picture is the same as before.
    const after = await stablePicture(page);
    console.log(`view-only: ${before.bright} text pixels before Escape, ${after.bright} after`);
    expect(Math.abs(after.bright - before.bright)).toBeLessThanOrEqual(CURSOR_PIXELS);
    await page.screenshot({ path: join(ARTIFACTS, '4-view-only.png') });
  });

  it('shows a moving progress bar during a throttled download, then the screen when the VM runs', async () => {
    const qemu = await bootGuest('progress');
    const status = new StatusStore();
    status.update({ phase: 'downloading' });
    const { server } = await startViewer(qemu.vncSocket, status);
    const body = Buffer.alloc(6 * 2 ** 20, 7);
    const source = await startHttpServer(() => ({ kind: 'serve', file: { body, etag: '"v1"' }, bytesPerSecond: 1.5 * 2 ** 20 }));
    cleanups.push(() => source.close());
    const page = await newPage();
    await page.goto(`${server.url}/?token=${TOKEN}`);
    const downloading = download({ log, signal: AbortSignal.timeout(60_000), onProgress: downloadProgressTo(status) }, { url: source.url('/media.iso'), dir, fileName: 'media.iso' });
    const bar = page.locator('#progress-bar');
    const first = Number(await until('a first progress value', async () => Number(await bar.getAttribute('aria-valuenow')) > 0 && (await bar.getAttribute('aria-valuenow'))));
    await page.screenshot({ path: join(ARTIFACTS, '5-progress-early.png') });
    const later = Number(await until('the bar to move', async () => {
      const v = Number(await bar.getAttribute('aria-valuenow'));
      return v > first + 10 && String(v);
    }));
    expect(later).toBeGreaterThan(first);
    expect(await page.textContent('#progress-detail')).toMatch(/^media\.iso · [\d.]+ [KM]iB of 6\.0 MiB \([\d.]+ %\) · [\d.]+ [KM]iB\/s · \d+ s left$/);
    await page.screenshot({ path: join(ARTIFACTS, '6-progress-later.png') });
    await downloading;
    // The VM starts: the page switches to the screen by itself.
    status.update({ phase: 'starting', download: undefined, qemuPid: qemu.pid });
    status.update({ phase: 'running', guestState: 'running' });
    await connected(page);
    expect(await page.isHidden('#progress')).toBe(true);
    await stablePicture(page);
    await page.screenshot({ path: join(ARTIFACTS, '7-progress-then-screen.png') });
  });

  it('reconnects by itself when QEMU restarts', async () => {
    const first = await bootGuest('restart', 'restart.sock');
    const status = runningStatus(first.pid);
    const { viewer, server } = await startViewer(first.vncSocket, status);
    const page = await newPage();
    await page.goto(`${server.url}/?token=${TOKEN}`);
    await connected(page);
    await first.stop();
    await page.waitForSelector('#status:not([data-connection="connected"])');
    const second = await bootGuest('restart2', 'restart.sock');
    status.update({ qemuPid: second.pid });
    await until('a second connection', async () => (await page.evaluate('window.windockViewer.connects')) as number >= 2);
    await connected(page);
    expect(viewer.bridge.size).toBe(1);
    expect((await stablePicture(page)).colours).toBeGreaterThan(1);
    await page.screenshot({ path: join(ARTIFACTS, '8-after-qemu-restart.png') });
  });
});
