// windock viewer page: shows the preparation progress until the VM has a screen, then the screen
// through noVNC over the /websockify bridge; reconnects after a guest reboot or a QEMU restart.
// Status comes from /api/events (Server-Sent Events), with /api/status polling as the fallback.
import RFB from './novnc/core/rfb.js';
import KeyTable from './novnc/core/input/keysym.js';
import keysyms from './novnc/core/input/keysymdef.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  viewOnly: $('view-only'),
  cad: $('cad'),
  pasteToggle: $('paste-toggle'),
  pastePanel: $('paste-panel'),
  pasteText: $('paste-text'),
  pasteClipboard: $('paste-clipboard'),
  pasteClose: $('paste-close'),
  fullscreen: $('fullscreen'),
  progress: $('progress'),
  progressPhase: $('progress-phase'),
  progressBar: $('progress-bar'),
  progressFill: $('progress-fill'),
  progressDetail: $('progress-detail'),
  screen: $('screen'),
};

const PHASE_TITLES = {
  preparing: 'Preparing',
  downloading: 'Downloading',
  starting: 'Starting',
  running: 'Running',
  stopping: 'Stopping',
  stopped: 'Stopped',
  failed: 'Failed',
};

/** Latest status snapshot from the server (see src/http/viewer.ts statusBody). */
let status = null;
let rfb = null;
/** 'idle' | 'connecting' | 'connected' */
let connection = 'idle';
let retryTimer = null;
let retryDelay = 500;

// ---- formatting -------------------------------------------------------------------------------

export function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '';
  seconds = Math.round(seconds);
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${seconds % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// ---- status -----------------------------------------------------------------------------------

/** The VM has a display to connect to. */
function screenAvailable(s) {
  return s && s.qemuRunning && (s.phase === 'starting' || s.phase === 'running' || s.phase === 'stopping');
}

function render() {
  const s = status;
  if (!s) return;
  ui.viewOnly.hidden = !s.viewOnly;
  const phase = PHASE_TITLES[s.phase] ?? s.phase;
  let line = phase;
  if (s.guestState && s.guestState !== 'running') line += ` · guest ${s.guestState}`;
  if (connection === 'connected') line += ' · connected';
  else if (connection === 'connecting') line += ' · connecting…';
  else if (screenAvailable(s)) line += ' · reconnecting…';
  if (s.error) line += ` · ${s.error.message}`;
  ui.status.textContent = line;
  ui.status.dataset.phase = s.phase;
  ui.status.dataset.connection = connection;

  const input = connection === 'connected' && !s.viewOnly;
  ui.cad.disabled = !input;
  ui.pasteToggle.disabled = !input;

  // The progress panel covers the screen until there is a screen to show.
  const showProgress = connection !== 'connected';
  ui.progress.hidden = !showProgress;
  if (showProgress) renderProgress(s);
}

function renderProgress(s) {
  ui.progressPhase.textContent = PHASE_TITLES[s.phase] ?? s.phase;
  const d = s.download;
  if (s.phase === 'downloading' && d) {
    const known = typeof d.bytesTotal === 'number' && d.bytesTotal > 0;
    const percent = known ? Math.min(100, (100 * d.bytesDone) / d.bytesTotal) : 0;
    ui.progressBar.classList.toggle('indeterminate', !known);
    ui.progressFill.style.width = known ? `${percent.toFixed(1)}%` : '';
    if (known) ui.progressBar.setAttribute('aria-valuenow', percent.toFixed(1));
    else ui.progressBar.removeAttribute('aria-valuenow');
    const parts = [d.file];
    parts.push(known ? `${formatBytes(d.bytesDone)} of ${formatBytes(d.bytesTotal)} (${percent.toFixed(1)} %)` : formatBytes(d.bytesDone));
    if (d.bytesPerSecond > 0) parts.push(`${formatBytes(d.bytesPerSecond)}/s`);
    if (typeof d.etaSeconds === 'number') parts.push(`${formatDuration(d.etaSeconds)} left`);
    ui.progressDetail.textContent = parts.join(' · ');
  } else {
    const busy = s.phase === 'preparing' || s.phase === 'starting' || s.phase === 'running' || s.phase === 'stopping';
    ui.progressBar.classList.toggle('indeterminate', busy);
    ui.progressFill.style.width = s.phase === 'stopped' ? '100%' : '';
    ui.progressBar.removeAttribute('aria-valuenow');
    ui.progressDetail.textContent = s.error ? s.error.message : screenAvailable(s) ? 'waiting for the screen…' : '';
  }
}

function onStatus(next) {
  status = next;
  if (screenAvailable(status) && connection === 'idle' && retryTimer === null) connect();
  render();
}

function followStatus() {
  const source = new EventSource('api/events');
  source.onmessage = (event) => onStatus(JSON.parse(event.data));
  source.onerror = () => {
    // EventSource retries by itself unless the server refused (401) or it gave up: then poll.
    if (source.readyState === EventSource.CLOSED) pollStatus();
  };
}

/** The fallback while the event stream is down (windock restarting, a proxy without SSE). */
async function pollStatus() {
  try {
    const response = await fetch('api/status', { cache: 'no-store' });
    if (response.status === 401) {
      ui.status.textContent = 'The viewer token is missing or wrong: open the address from the log.';
      return;
    }
    if (response.ok) {
      onStatus(await response.json());
      // windock answers again: back to the pushed stream.
      followStatus();
      return;
    }
  } catch {
    // windock is restarting: keep trying.
  }
  setTimeout(pollStatus, 2000);
}

// ---- the screen -------------------------------------------------------------------------------

function connect() {
  retryTimer = null;
  connection = 'connecting';
  const url = new URL('websockify', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const r = new RFB(ui.screen, url.href, { shared: true });
  r.scaleViewport = true;
  r.resizeSession = false;
  r.viewOnly = Boolean(status?.viewOnly);
  r.focusOnClick = true;
  r.background = '#1e1e1e';
  // A handshake that stalls (a half-open connection, QEMU busy starting) is abandoned and
  // retried rather than left "connecting" for ever.
  const watchdog = setTimeout(() => {
    if (rfb === r && connection === 'connecting') {
      console.warn('windock: VNC handshake stalled; retrying');
      r.disconnect();
    }
  }, 15_000);
  r.addEventListener('connect', () => {
    clearTimeout(watchdog);
    connection = 'connected';
    retryDelay = 500;
    window.windockViewer.connects++;
    r.focus();
    render();
  });
  r.addEventListener('disconnect', (e) => {
    clearTimeout(watchdog);
    console.info(`windock: VNC connection closed (${e.detail.clean ? 'clean' : 'unexpected'})`);
    if (rfb === r) rfb = null;
    connection = 'idle';
    window.windockViewer.disconnects++;
    // A guest reboot keeps the VNC connection; a QEMU restart or a windock restart drops it.
    // Retry while the status says there is a screen; the status stream starts us otherwise.
    scheduleReconnect();
    render();
  });
  r.addEventListener('securityfailure', (e) => {
    ui.status.textContent = `VNC security failure: ${e.detail.reason ?? e.detail.status}`;
  });
  rfb = r;
  render();
}

function scheduleReconnect() {
  if (retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (screenAvailable(status) && connection === 'idle') connect();
  }, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 5000);
}

// ---- keys and paste ---------------------------------------------------------------------------

ui.cad.addEventListener('click', () => {
  rfb?.sendCtrlAltDel();
  rfb?.focus();
});

ui.pasteToggle.addEventListener('click', () => {
  ui.pastePanel.hidden = !ui.pastePanel.hidden;
  if (!ui.pastePanel.hidden) ui.pasteText.focus();
});
ui.pasteClose.addEventListener('click', () => {
  ui.pastePanel.hidden = true;
  rfb?.focus();
});
ui.pasteClipboard.addEventListener('click', () => {
  rfb?.clipboardPasteFrom(ui.pasteText.value);
});
ui.pastePanel.addEventListener('submit', (event) => {
  event.preventDefault();
  typeText(ui.pasteText.value);
  ui.pastePanel.hidden = true;
  rfb?.focus();
});

// Characters that need Shift on a US keyboard: QEMU maps keysyms to scancodes with its own
// keymap (en-us by default) and does not press Shift for us.
const SHIFTED = new Set('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ');

/** Types text as key presses: works in every guest (login screens, BIOS, consoles). */
export function typeText(text) {
  if (!rfb) return;
  for (const ch of text.replace(/\r\n?/g, '\n')) {
    let keysym;
    if (ch === '\n') keysym = KeyTable.XK_Return;
    else if (ch === '\t') keysym = KeyTable.XK_Tab;
    else keysym = keysyms.lookup(ch.codePointAt(0));
    if (!keysym) continue;
    const shift = SHIFTED.has(ch);
    if (shift) rfb.sendKey(KeyTable.XK_Shift_L, 'ShiftLeft', true);
    rfb.sendKey(keysym, null);
    if (shift) rfb.sendKey(KeyTable.XK_Shift_L, 'ShiftLeft', false);
  }
}

ui.fullscreen.addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen?.();
});

// For tests and debugging: counters and hooks on a single global.
window.windockViewer = { connects: 0, disconnects: 0, typeText, get rfb() { return rfb; } };

followStatus();
