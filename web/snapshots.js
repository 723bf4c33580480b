// windock viewer page: the snapshot panel. Talks to the JSON API under /api/snapshots and
// /api/reset (src/lab/snapshot-api.ts) with the page's own cookie; every action shows the
// server's answer, errors included. Built with DOM calls only (the page's CSP has no inline code).
const $ = (id) => document.getElementById(id);
const panel = $('snapshot-panel');
const list = $('snapshot-list');
const message = $('snapshot-message');

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({ error: { message: `HTTP ${response.status}` } }));
  if (!response.ok) throw new Error(data.error?.hint ? `${data.error.message} (${data.error.hint})` : data.error?.message ?? `HTTP ${response.status}`);
  return data.result;
}

function say(text) {
  message.textContent = text;
}

async function run(label, action) {
  say(`${label}…`);
  try {
    const result = await action();
    const steps = result?.steps?.map((s) => `${s.kind} ${s.name}`).join(', ');
    say(steps ? `done: ${steps}` : 'done');
  } catch (error) {
    say(`${label} failed: ${error.message}`);
  }
  await refresh();
}

function button(text, title, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

async function refresh() {
  let snapshots;
  try {
    snapshots = await call('GET', '/api/snapshots');
  } catch (error) {
    list.replaceChildren();
    say(error.message);
    return;
  }
  list.replaceChildren(
    ...snapshots.map((s) => {
      const row = document.createElement('li');
      const label = document.createElement('span');
      label.textContent = `${s.name} — ${new Date(s.date).toLocaleString()}`;
      const path = `/api/snapshots/${encodeURIComponent(s.name)}`;
      row.append(
        label,
        button('Revert', 'Go back to this snapshot (the current state is saved first on a persistent disk)', () => run(`revert to ${s.name}`, () => call('POST', `${path}/revert`, {}))),
        button('Delete', 'Delete this snapshot', () => {
          if (confirm(`Delete snapshot ${s.name}?`)) void run(`delete ${s.name}`, () => call('DELETE', path));
        }),
      );
      return row;
    }),
  );
  if (snapshots.length === 0) say('no snapshots yet');
}

$('snapshot-toggle').addEventListener('click', () => {
  panel.hidden = !panel.hidden;
  if (!panel.hidden) void refresh();
});
$('snapshot-close').addEventListener('click', () => {
  panel.hidden = true;
});
panel.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('snapshot-name').value.trim();
  void run(`save ${name}`, () => call('POST', '/api/snapshots', { name }));
});
$('snapshot-reset').addEventListener('click', () => {
  if (confirm('Reset the VM to its golden snapshot?')) void run('reset', () => call('POST', '/api/reset', {}));
});
