// End-to-end test of the peer dashboard: two real peers on 127.0.0.1 (and a third, guarded by
// an API token, in the last step) and a real headless Chromium on peer A's dashboard.
//
//   1. A's page shows its own id, peer B in the peers table and a live event link;
//   2. a file pushed on peer B (console `push`) appears on A's page without a reload;
//   3. Get on A fetches a file only B holds: the transfer ends done with a full progress bar,
//      the row gets a Save link, and A's API reports the copy (bytes checked too); the buttons,
//      the link and the bar are found by accessible names that say which file they are for;
//   4. the throughput chart rises with the get's bytes; a Get held back in flight shows its
//      pending state, and two clicks send one request;
//   5. a file uploaded through A's page, under a name with quotes, is pushed and B learns of it
//      under that exact name; text dropped on the filter box is left to the browser;
//   6. deleting it from A's page removes it from B and from A's page; an upload under a long
//      name without spaces is cut short in the upload list instead of widening the page;
//   7. when A stops (SIGTERM) the page says it is reconnecting and B's state is unknown, and
//      when A starts again on the same storage folder and HTTP port the page, never reloaded, is
//      connected again to A with the files A held (A's index survives a restart) and B alive;
//   8. a fake peer that serves a bad copy gets the suspect badge in the peers table (after the
//      restart: a third tracked peer could take the push of step 5, and its file would be one
//      more after the restart);
//   9. a peer started with `--api-token` shows that the token is refused until the page is
//      opened with `?token=`, and an upload over its size limit is refused in the page before
//      anything is sent.
//
// It also prints the time from navigation to the peers table, and to its first row (performance
// API, printed, not asserted). many-files.test.mjs prints the figures at 10,000 files.
//
// `push` sends the new file to one random tracked peer, and with two peers that is always A, so
// A already holds the pushed file and shows no Get button for it. The file fetched in step 3 is
// therefore one that B found in its storage folder at start-up: B adopts it as its own and
// announces it through gossip without sending it anywhere.
//
// Artifacts (e2e/artifacts/): dashboard.png (full page, tables populated), each peer's stdout and
// log (A's restart appended to A's), and events-peer-a.jsonl (every WebSocket event the page
// received, for reading failures).
//
// Environment: PEER_BIN (default ../target/release/peer, relative to this file), CHROMIUM
// (default /usr/bin/chromium).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PEER_BIN = path.resolve(HERE, process.env.PEER_BIN || '../target/release/peer');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(HERE, 'artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'dashboard.png');

/** Bound on every wait for something to happen. */
const WAIT_MS = 20_000;
const POLL_MS = 100;
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** Polls `probe` until it returns a truthy value (returned), or fails after `timeout` ms. */
async function waitUntil(what, probe, { timeout = WAIT_MS, interval = POLL_MS } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** One running peer process, with its ports parsed from its stdout. */
class Peer {
  /**
   * `httpPort` 0 lets the peer pick one; a restart passes the port it had. `restart` appends to
   * the log artifact of the earlier run instead of replacing it.
   */
  constructor(id, storage, extraArgs, { httpPort = 0, restart = false } = {}) {
    this.id = id;
    this.storage = storage;
    this.stdout = '';
    this.stderr = '';
    this.exited = null;
    const args = [
      id, '127.0.0.1', '0', String(httpPort),
      '--storage', storage,
      '--gossip-interval', '300ms',
      '--peer-timeout', '5s',
      '--sweep-interval', '200ms',
      '--auto-fetch', '0',
      '--log-stderr',
      ...extraArgs,
    ];
    this.proc = spawn(PEER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const log = createWriteStream(path.join(ARTIFACTS, `peer-${id}.log`), { flags: restart ? 'a' : 'w' });
    if (restart) log.write(`\n----- restarted: ${args.join(' ')}\n`);
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk) => {
      this.stdout += chunk;
      log.write(chunk);
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (chunk) => {
      this.stderr += chunk;
      log.write(chunk);
    });
    this.proc.stdin.on('error', () => {}); // the peer may be gone before we write
    this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    this.proc.on('error', (e) => {
      this.exited = { error: e.message };
    });
    // Once the process is gone and its output fully read (or it could not be started).
    this.closed = new Promise((r) => {
      this.proc.once('close', r);
      this.proc.once('error', r);
    }).then(() => log.end());
  }

  /** Waits for the start-up lines and records the ports. */
  async ready() {
    await waitUntil(`peer ${this.id} to print its ports`, async () => {
      if (this.exited) {
        await this.closed;
        throw new Error(
          `peer ${this.id} exited ${JSON.stringify(this.exited)}:\n${this.stdout}${this.stderr.slice(-2000)}`,
        );
      }
      const p2p = this.stdout.match(/advertised as 127\.0\.0\.1:(\d+)/);
      const http = this.stdout.match(/dashboard: (http:\/\/127\.0\.0\.1:(\d+))\//);
      if (!p2p || !http) return false;
      this.p2pPort = Number(p2p[1]);
      this.url = http[1];
      this.httpPort = Number(http[2]);
      return true;
    });
    return this;
  }

  /** Types a console command. */
  command(line) {
    this.proc.stdin.write(`${line}\n`);
  }

  async api(pathname, init) {
    const res = await fetch(`${this.url}${pathname}`, init);
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${pathname}: HTTP ${res.status}`);
    return res;
  }

  async files() {
    return (await this.api('/api/files')).json();
  }

  /** SIGTERM, then SIGKILL if it has not stopped within a few seconds; resolves to how it ended. */
  async stop() {
    if (this.exited || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    const gone = new Promise((r) => this.proc.once('exit', (code, signal) => r({ code, signal })));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    const how = await gone;
    clearTimeout(timer);
    return how;
  }
}

describe('peer dashboard', { timeout: 180_000 }, () => {
  const tmpDirs = [];
  const peers = [];
  const pageErrors = [];
  let a;
  let b;
  let context;
  let page;
  let outside; // a folder outside both storages, for files to push
  let events; // the page's WebSocket events, as JSON lines
  const frames = []; // the same events, parsed: { socket, at, event } (socket counts opens from 1)
  let sockets = 0; // WebSockets the page opened so far
  // The file B finds in its storage at start-up (A does not hold it until step 3).
  const seeded = { name: 'seeded-on-b.bin', bytes: randomBytes(3 * MiB) };
  // A second one, for the pending state of Get.
  const slow = { name: 'slow-get-on-b.bin', bytes: randomBytes(MiB) };
  let mallory; // a fake peer that serves a bad copy

  const killAll = () => {
    for (const p of peers) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  };
  process.on('exit', killAll);

  // Attribute values are CSS strings: a `"` or `\` in a file name is escaped.
  const row = (testid, attrs) =>
    page.locator(
      `[data-testid="${testid}"]` +
        Object.entries(attrs)
          .map(([k, v]) => `[${k}="${String(v).replace(/["\\]/g, '\\$&')}"]`)
          .join(''),
    );

  const screenshot = async () => {
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot of the dashboard: ${SCREENSHOT}`);
  };

  before(async () => {
    if (!existsSync(PEER_BIN)) {
      throw new Error(`no peer binary at ${PEER_BIN}: run \`cargo build --release -p backend\` or set PEER_BIN`);
    }
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const mk = (prefix) => {
      const d = mkdtempSync(path.join(tmpdir(), prefix));
      tmpDirs.push(d);
      return d;
    };
    outside = mk('e2e-files-');

    a = new Peer('peer-a', mk('e2e-peer-a-'), ['--bootstrap', 'none']);
    peers.push(a);
    await a.ready();

    const bStorage = mk('e2e-peer-b-');
    writeFileSync(path.join(bStorage, seeded.name), seeded.bytes);
    writeFileSync(path.join(bStorage, slow.name), slow.bytes);
    b = new Peer('peer-b', bStorage, ['--bootstrap', `127.0.0.1:${a.p2pPort}`]);
    peers.push(b);
    await b.ready();

    context = await chromium.launchPersistentContext(mk('e2e-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`);
    });
    // Every event the page receives, for reading after a failure.
    events = createWriteStream(path.join(ARTIFACTS, 'events-peer-a.jsonl'));
    page.on('websocket', (ws) => {
      const t0 = Date.now();
      const socket = ++sockets;
      events.write(`${JSON.stringify({ at: t0, open: ws.url() })}\n`);
      ws.on('framereceived', (f) => {
        const at = Date.now();
        events.write(`${JSON.stringify({ at, frame: String(f.payload) })}\n`);
        try {
          frames.push({ socket, at, event: JSON.parse(String(f.payload)) });
        } catch {
          // kept in the artifact; the page reports unreadable events itself
        }
      });
      ws.on('close', () => events.write(`${JSON.stringify({ at: Date.now(), closed: true })}\n`));
    });
    // Delete asks window.confirm; say yes.
    page.on('dialog', (d) => d.accept());
    // When the peers table, then its first row, first appear (ms since navigation started).
    await page.addInitScript(() => {
      const seen = new MutationObserver(() => {
        const table = document.querySelector('[data-testid="peers-table"]');
        if (table && window.e2ePeersTableAt === undefined) window.e2ePeersTableAt = performance.now();
        if (table?.querySelector('[data-testid="peer-row"]')) {
          window.e2ePeerRowAt = performance.now();
          seen.disconnect();
        }
      });
      seen.observe(document, { childList: true, subtree: true });
    });
    await page.goto(`${a.url}/`);
  });

  after(async () => {
    if (pageErrors.length) console.log(`page errors seen:\n${pageErrors.map((e) => `  ${e}`).join('\n')}`);
    try {
      await context?.close();
    } catch (e) {
      console.log(`closing the browser: ${e.message}`);
    }
    mallory?.close();
    await Promise.all(peers.map((p) => p.stop().catch(() => p.proc.kill('SIGKILL'))));
    events?.end();
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  });

  it('shows its own id, peer B and a live connection', async () => {
    await waitUntil('status-peer-id to show A', async () =>
      (await page.getByTestId('status-peer-id').textContent())?.trim() === a.id);
    await row('peer-row', { 'data-peer-id': b.id }).waitFor();
    assert.equal(await page.getByTestId('peer-row').count(), 1, 'only B is listed as a peer');
    const headers = await page.locator('[data-testid="peers-table"] thead th').allTextContents();
    for (const h of ['Messages', 'First byte', 'Gets ok / failed', 'Problems']) {
      assert.ok(headers.some((t) => t.includes(h)), `peers table header ${h} in ${JSON.stringify(headers)}`);
    }
    await waitUntil('the connection indicator to say connected', async () =>
      (await page.getByTestId('connection').textContent())?.trim() === 'connected');
    const [tableAt, rowAt] = await page.evaluate(() => [window.e2ePeersTableAt, window.e2ePeerRowAt]);
    console.log(`navigation -> peers table rendered: ${tableAt.toFixed(1)} ms; its first row: ${rowAt.toFixed(1)} ms`);
  });

  it('shows a file pushed on peer B without a reload', async () => {
    const bytes = randomBytes(3 * MiB);
    const file = path.join(outside, `pushed-on-b-${process.pid}.bin`);
    writeFileSync(file, bytes);
    const name = path.basename(file);
    b.command(`push ${file}`);
    const m = await waitUntil('B to confirm the push', () =>
      b.stdout.match(new RegExp(`push: added ${name.replace(/[.]/g, '\\.')} as ([0-9a-f]{64})`)));
    const id = m[1];

    const fileRow = row('file-row', { 'data-file-id': id });
    await fileRow.waitFor();
    assert.equal(await fileRow.getAttribute('data-file-name'), name);
    // With one peer to choose from, B's push went to A: the copy arrives and the row offers Save.
    const incoming = row('transfer-row', { 'data-file-id': id, 'data-kind': 'incoming', 'data-state': 'done' });
    await incoming.waitFor();
    assert.match(await incoming.innerText(), /peer-b/, 'the sender is named by its peer id');
    await fileRow.getByTestId('save-link').waitFor();
    assert.equal(await fileRow.getByTestId('delete-button').count(), 0, 'B owns it: A may not delete it');
  });

  it('gets a file B holds: transfer completes and the row offers Save', async () => {
    const listed = await waitUntil('B to list its seeded file', async () =>
      (await b.files()).find((f) => f.file_name === seeded.name));
    const id = listed.file_id;
    assert.equal(id.length, 64);

    const fileRow = row('file-row', { 'data-file-id': id });
    await fileRow.waitFor();
    assert.equal(await fileRow.getAttribute('data-file-name'), seeded.name);
    assert.equal(await fileRow.getByTestId('save-link').count(), 0, 'A has no copy yet');

    // Each row's buttons are named after its file, for a screen reader.
    await fileRow.getByRole('button', { name: `Get ${seeded.name}`, exact: true }).click();

    const transfer = row('transfer-row', { 'data-file-id': id, 'data-kind': 'get' });
    await transfer.first().waitFor();
    try {
      await row('transfer-row', { 'data-file-id': id, 'data-kind': 'get', 'data-state': 'done' }).waitFor();
    } catch (e) {
      // Say whether the peer or only the page is behind.
      const shown = await transfer.first().getAttribute('data-state').catch(() => '(no row)');
      const onA = (await (await a.api('/api/transfers')).json())
        .filter((t) => t.file_id === id && t.kind === 'get')
        .map((t) => `${t.state} ${t.bytes_done}/${t.bytes_total}`);
      throw new Error(
        `the Get transfer row never showed done: the page shows data-state=${shown} while A's ` +
          `/api/transfers reports ${JSON.stringify(onA)}\n${e.message}`,
      );
    }
    const progress = transfer.getByRole('progressbar', { name: `Progress of ${seeded.name}`, exact: true });
    const bar = await progress.evaluate((p) => ({
      value: p.value,
      max: p.max,
      hasValue: p.hasAttribute('value'),
    }));
    assert.ok(bar.hasValue, 'a finished transfer has a determinate progress bar');
    assert.equal(bar.max, seeded.bytes.length);
    assert.equal(bar.value, bar.max, 'progress reached its max');

    // The file row is rebuilt with a Save link that serves the very bytes B had.
    const save = row('file-row', { 'data-file-id': id }).getByRole('link', { name: `Save ${seeded.name}`, exact: true });
    await save.waitFor();
    const href = await save.getAttribute('href');
    assert.equal(await save.getAttribute('download'), seeded.name);
    const content = Buffer.from(await (await fetch(new URL(href, a.url))).arrayBuffer());
    assert.equal(content.length, seeded.bytes.length);
    assert.equal(sha256(content), sha256(seeded.bytes), 'A serves the bytes B had');

    const onA = (await a.files()).find((f) => f.file_id === id);
    assert.ok(onA, 'A lists the file');
    assert.equal(onA.has_copy, true, 'A reports a copy');

    // Peers, files and transfers are all populated now.
    await screenshot();
  });

  it('draws the bytes of the get in the throughput chart', async () => {
    const chart = page.getByTestId('throughput-chart');
    const height = Number((await chart.getAttribute('viewBox')).split(' ')[3]);
    // A point above the baseline: some second of the last five minutes had bytes in.
    await waitUntil('the chart to rise above its baseline', async () => {
      const points = await chart.locator('polyline.in').getAttribute('points');
      return points.split(' ').some((xy) => Number(xy.split(',')[1]) < height - 1);
    });
    assert.doesNotMatch(await page.locator('.throughput .legend').textContent(), /peak 0 B\/s/);
  });

  it('shows a Get as pending while it runs, and a double click sends one request', async () => {
    const listed = await waitUntil('B to list the second seeded file', async () =>
      (await b.files()).find((f) => f.file_name === slow.name));
    const fileRow = row('file-row', { 'data-file-id': listed.file_id });
    const button = fileRow.getByTestId('get-button');
    await button.waitFor();
    // The fetch request is held back for a while, so that the pending state can be seen.
    let requests = 0;
    let release;
    const held = new Promise((r) => (release = r));
    const pattern = `**/api/files/${listed.file_id}/fetch`;
    await page.route(pattern, async (route) => {
      requests += 1;
      await held;
      await route.continue();
    });
    // Two clicks in one task: the second comes before the page could redraw the button.
    await button.evaluate((b) => {
      b.click();
      b.click();
    });
    await waitUntil('the Get button to show its pending state', async () =>
      (await button.isDisabled()) && (await button.textContent()).includes('Getting'));
    release();
    await fileRow.getByTestId('save-link').waitFor();
    await page.unroute(pattern);
    assert.equal(requests, 1, 'one fetch request for two clicks');
  });

  it('leaves text dropped on the filter box to the browser, and takes dragged files', async () => {
    // Synthetic events: the browser inserts nothing for them, but says whether the page
    // cancelled its default action.
    const cancelled = (type, withFile) =>
      page.getByTestId('files-filter').evaluate((input, [type, withFile]) => {
        const data = new DataTransfer();
        if (withFile) data.items.add(new File(['x'], 'x.txt'));
        else data.setData('text/plain', 'some text');
        const e = new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true });
        input.dispatchEvent(e);
        return e.defaultPrevented;
      }, [type, withFile]);
    assert.equal(await cancelled('dragover', true), true, 'a file dragged over the page is ours');
    assert.equal(await cancelled('dragover', false), false, 'dragged text is the browser\'s');
    assert.equal(await cancelled('drop', false), false, 'dropped text is the browser\'s');
    await page.locator('.drop-overlay.show').waitFor({ state: 'detached' });
  });

  // Quotes: the browser escapes them in a multipart filename, and the page sends the name apart.
  const uploaded = { name: 'say "hi".txt', bytes: randomBytes(MiB + 12345) };

  it('uploads a file through the page and B learns of it', async () => {
    // The picker's input is hidden: its label shows the keyboard focus.
    await page.getByTestId('upload-input').focus();
    const outline = await page.getByTestId('upload-input').evaluate((input) =>
      getComputedStyle(input.closest('label')).outlineStyle);
    assert.equal(outline, 'solid', 'the focused picker has a visible outline');
    await page.getByTestId('upload-input').setInputFiles({
      name: uploaded.name,
      mimeType: 'application/octet-stream',
      buffer: uploaded.bytes,
    });
    await page.locator('[data-testid="upload-row"][data-state="done"]').waitFor();
    await page.getByRole('progressbar', { name: `Upload of ${uploaded.name}`, exact: true }).waitFor();

    const fileRow = row('file-row', { 'data-file-name': uploaded.name });
    await fileRow.waitFor();
    await fileRow.getByTestId('delete-button').waitFor();
    await fileRow.getByTestId('save-link').waitFor();
    uploaded.id = await fileRow.getAttribute('data-file-id');
    assert.equal(await fileRow.getByTestId('file-name').textContent(), uploaded.name);

    const onB = await waitUntil('B to learn of the uploaded file', async () =>
      (await b.files()).find((f) => f.file_id === uploaded.id));
    assert.equal(onB.file_name, uploaded.name);
    assert.equal(onB.file_owner, a.id);
    // B is A's only peer, so the push went to B.
    await waitUntil('B to hold a copy of the uploaded file', async () =>
      (await b.files()).find((f) => f.file_id === uploaded.id)?.has_copy);
    // The fullest the page gets: three files, three transfers and an upload.
    await screenshot();
  });

  it('deletes the uploaded file from the page and from B', async () => {
    assert.ok(uploaded.id, 'the upload step found the file');
    const fileRow = row('file-row', { 'data-file-id': uploaded.id });
    await fileRow.getByRole('button', { name: `Delete ${uploaded.name}`, exact: true }).click();

    await waitUntil('B to forget the deleted file', async () =>
      !(await b.files()).some((f) => f.file_id === uploaded.id));
    let onA;
    await waitUntil('A to forget the deleted file', async () => {
      onA = (await a.files()).find((f) => f.file_id === uploaded.id);
      return !onA;
    }).catch((e) => {
      throw new Error(`${e.message}; A still lists it as ${JSON.stringify(onA)}`);
    });
    await fileRow.waitFor({ state: 'detached' });
    // The other files are untouched.
    assert.equal(await page.getByTestId('file-row').count(), 3);
  });

  it('a long name without spaces in the upload list does not widen the page', async () => {
    // One byte over the peer's default limit of 255: refused in the page, so nothing is sent,
    // but listed (with the reason) like any upload.
    const name = `${'n'.repeat(252)}.bin`;
    await page.getByTestId('upload-input').setInputFiles({
      name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('x'),
    });
    const line = page.locator('[data-testid="upload-row"][data-state="failed"]').filter({
      has: page.locator(`.name[title="${name}"]`),
    });
    await line.waitFor();
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      window: document.documentElement.clientWidth,
    }));
    assert.ok(widths.page <= widths.window, `the page is ${widths.page} px wide in a ${widths.window} px window`);
    const cut = await line.locator('.name').evaluate((el) => el.scrollWidth > el.clientWidth);
    assert.equal(cut, true, 'the name is cut short (with an ellipsis)');
  });

  it('raised no error in the page', () => {
    assert.deepEqual(pageErrors, []);
  });

  it('the page reconnects by itself when the peer restarts', async () => {
    const link = async () => (await page.getByTestId('connection').textContent())?.trim();
    await waitUntil('the connection indicator to say connected', async () => (await link()) === 'connected');

    // What A holds now: the file B pushed and the two fetched from B (the upload is deleted).
    const held = (await a.files()).filter((f) => f.has_copy);
    assert.equal(held.length, 3, `A holds three files before the restart: ${JSON.stringify(held)}`);
    const heldIds = held.map((f) => f.file_id).sort();
    for (const id of heldIds) await row('file-row', { 'data-file-id': id }).getByTestId('save-link').waitFor();
    const first = { url: a.url, httpPort: a.httpPort };
    // A mark on the window outlives the restart only if the page is never reloaded.
    await page.evaluate(() => {
      window.e2eSamePage = true;
    });
    const socketsBefore = sockets;
    const errorsBefore = pageErrors.length;

    const ended = await a.stop();
    assert.deepEqual(ended, { code: 0, signal: null }, 'A stops by itself on SIGTERM');
    await waitUntil('the connection indicator to say reconnecting', async () => (await link()) === 'reconnecting', {
      timeout: 5_000,
    });
    // Without the link nothing is known to be alive.
    const bState = row('peer-row', { 'data-peer-id': b.id }).getByTestId('peer-state');
    assert.equal((await bState.textContent())?.trim(), 'unknown', "B's state while A is down");

    // Same storage folder and HTTP port; B's address to gossip to, so the network re-forms.
    const startedAt = Date.now();
    let attempts = 0;
    for (;;) {
      attempts += 1;
      const again = new Peer(a.id, a.storage, ['--bootstrap', `127.0.0.1:${b.p2pPort}`], {
        httpPort: first.httpPort,
        restart: true,
      });
      peers.push(again); // stopped by after() like the others
      try {
        a = await again.ready();
        break;
      } catch (e) {
        await again.closed;
        if (!/address already in use/i.test(again.stderr) || Date.now() - startedAt > 5_000) throw e;
        await sleep(POLL_MS);
      }
    }
    if (attempts > 1) {
      console.log(`A's HTTP port ${first.httpPort} was still in use: restarted on attempt ${attempts}`);
    }
    assert.equal(a.url, first.url, 'A serves the dashboard where it did');

    // The page opens a new socket by itself and gets a snapshot from the restarted A.
    const snapshot = await waitUntil('a snapshot from the restarted A on a new socket', () =>
      frames.find((f) => f.socket > socketsBefore && f.event.event === 'snapshot'));
    assert.equal(snapshot.event.data.status.peer_id, a.id);
    assert.equal(snapshot.event.data.status.p2p_port, a.p2pPort, 'the snapshot is from the new process');
    const inSnapshot = snapshot.event.data.files.filter((f) => f.has_copy).map((f) => f.file_id).sort();
    assert.deepEqual(inSnapshot, heldIds, "A's index survived the restart, copies included");

    await waitUntil('the connection indicator to say connected again', async () => (await link()) === 'connected');
    assert.equal(await page.evaluate(() => window.e2eSamePage), true, 'the page was not reloaded');
    assert.equal((await page.getByTestId('status-peer-id').textContent())?.trim(), a.id);
    // The header shows the new process's P2P port: the page applied the new snapshot.
    const listening = page
      .locator('.identity div')
      .filter({ has: page.locator('dt', { hasText: /^Listening$/ }) })
      .locator('dd');
    await waitUntil('the header to show the new P2P port', async () =>
      (await listening.textContent())?.trim() === `127.0.0.1:${a.p2pPort}`);
    for (const f of held) {
      const fileRow = row('file-row', { 'data-file-id': f.file_id });
      await fileRow.getByTestId('save-link').waitFor();
      assert.equal(await fileRow.getAttribute('data-file-name'), f.file_name);
    }
    assert.equal(await page.getByTestId('file-row').count(), held.length, 'no other file appeared');

    // The network re-forms: A tracks B again and lists it, and B knows A's new P2P port.
    await waitUntil('A to track B again', async () =>
      (await (await a.api('/api/peers')).json()).some((p) => p.peer_id === b.id));
    await row('peer-row', { 'data-peer-id': b.id }).waitFor();
    await waitUntil('B to show alive again', async () => (await bState.textContent())?.trim() === 'alive');
    await waitUntil("B to track A at A's new P2P port", async () =>
      (await (await b.api('/api/peers')).json()).some((p) => p.peer_id === a.id && p.port === a.p2pPort));

    // While A was down the browser could only report the refused socket attempts, and the
    // refused requests that ask whether the token was the reason.
    const unexpected = pageErrors
      .slice(errorsBefore)
      .filter((e) => !/WebSocket connection to '[^']*\/api\/events[^']*' failed/.test(e))
      .filter((e) => !/^console\.error: Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)$/.test(e));
    assert.deepEqual(unexpected, []);
  });
  it('marks a peer that sent a bad copy as suspect', async () => {
    // mallory: a fake peer that claims a file and answers GET_FILE with other bytes.
    const truth = Buffer.from('the real content of the file\n');
    const timestamp = 1749713836;
    const meta = {
      file_name: 'forged.txt',
      file_size: truth.length,
      file_id: sha256(Buffer.concat([truth, Buffer.from(String(timestamp))])),
      file_owner: 'mallory',
      file_timestamp: timestamp,
    };
    const lie = Buffer.alloc(truth.length, 'x');
    const errorsBefore = pageErrors.length;
    mallory = net.createServer((socket) => {
      let got = '';
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        got += chunk;
        if (got.includes('GET_FILE')) {
          socket.end(JSON.stringify({ type: 'FILE_DATA', ...meta, data: lie.toString('hex') }));
        }
      });
      socket.on('end', () => socket.end());
    });
    await new Promise((r) => mallory.listen(0, '127.0.0.1', r));
    const port = mallory.address().port;
    // Heard from every second, so A keeps tracking it.
    const reply = JSON.stringify({ type: 'GOSSIP_REPLY', host: '127.0.0.1', port, peerId: 'mallory', files: [meta] });
    const say = () => {
      const c = net.connect(a.p2pPort, '127.0.0.1', () => c.end(reply));
      c.on('error', () => {});
    };
    say();
    const timer = setInterval(say, 1000);
    mallory.on('close', () => clearInterval(timer));

    const peerRow = row('peer-row', { 'data-peer-id': 'mallory' });
    await peerRow.waitFor();
    assert.equal(await peerRow.getByTestId('peer-warning').count(), 0, 'no warning before the bad copy');
    await row('file-row', { 'data-file-id': meta.file_id }).getByTestId('get-button').click();
    await peerRow.getByTestId('peer-warning').waitFor();
    const onA = (await a.files()).find((f) => f.file_id === meta.file_id);
    assert.equal(onA?.has_copy, false, 'the bad copy is not kept');
    assert.deepEqual(pageErrors.slice(errorsBefore), [], 'a failed get raises no error in the page');
  });

  it('says so when the API token is refused, and connects with the right one', async () => {
    const storage = mkdtempSync(path.join(tmpdir(), 'e2e-peer-c-'));
    tmpDirs.push(storage);
    const guarded = new Peer('peer-c', storage, [
      '--bootstrap', 'none', '--api-token', 's3cret', '--max-file-size', '1KiB',
    ]);
    peers.push(guarded);
    await guarded.ready();
    const other = await context.newPage();
    // Refused requests are logged by the browser; an exception in the page would be ours.
    const uncaught = [];
    other.on('pageerror', (e) => uncaught.push(e.message));
    try {
      other.setDefaultTimeout(WAIT_MS);
      await other.goto(`${guarded.url}/`);
      await other.getByTestId('connection').filter({ hasText: 'API token refused' }).waitFor();
      await other.goto(`${guarded.url}/?token=s3cret`);
      await other.locator('[data-testid="connection"].up').waitFor();

      // An upload over the peer's limit is refused with the reason, before anything is sent.
      await other.getByTestId('upload-input').setInputFiles({
        name: 'too-big.bin',
        mimeType: 'application/octet-stream',
        buffer: randomBytes(2048),
      });
      await other.locator('[data-testid="upload-row"][data-state="failed"]').waitFor();
      await other.getByTestId('notice').filter({ hasText: "larger than the peer's limit of 1.0 KiB" }).waitFor();
      const files = await guarded.api('/api/files', { headers: { authorization: 'Bearer s3cret' } });
      assert.deepEqual(await files.json(), [], 'nothing reached the peer');
      assert.deepEqual(uncaught, []);
    } finally {
      await other.close();
    }
  });
});
