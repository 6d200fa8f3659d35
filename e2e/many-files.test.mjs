// The dashboard with 10,000 files: one real peer serves the page, and the event WebSocket is
// replaced by a script (Playwright's routeWebSocket) that sends a snapshot of 10,000 files and
// then one new file at a time. Prints two figures, measured in the page (performance API);
// neither is asserted, since the machine's load decides them:
//
//   - snapshot received -> 10,000 files counted and the first page of rows in the DOM;
//   - event received -> its row in the DOM, p50 and p90 over 40 events (each a new file whose
//     name sorts first, so it lands on the page shown).
//
// "Received" is when the page's WebSocket fires `message`: a listener added before the app's.
//
// It also checks that a changed file updates its row in place: the same `<tr>` and the same text
// node of an unchanged cell stay in the DOM, and the changed cell shows the new value; and that
// the pager's Next and Previous turn to page 2 (files 100 to 199 by name) and back.
//
// Environment: as dashboard.test.mjs (PEER_BIN, CHROMIUM).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PEER_BIN = path.resolve(HERE, process.env.PEER_BIN || '../target/release/peer');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FILES = 10_000;
const PROBES = 40;

const file = (id, name) => ({
  file_id: id,
  file_name: name,
  size_bytes: 1000 + (id.length * 7919) % 100_000,
  file_owner: 'peer-x',
  file_timestamp: '1750034796.9022326',
  timestamp_secs: 1750034796.9022326,
  holders: ['peer-x'],
  has_copy: false,
  owned: false,
});

function snapshot() {
  const files = [];
  for (let i = 0; i < FILES; i += 1) {
    files.push(file(i.toString(16).padStart(64, '0'), `file-${String(i).padStart(5, '0')}.bin`));
  }
  return {
    event: 'snapshot',
    data: {
      status: {
        peer_id: 'many-files', host: '127.0.0.1', p2p_port: 1, http_port: 1, version: 'e2e',
        uptime_secs: 1, peer_count: 1, file_count: FILES, held_count: 0,
      },
      peers: [{ peer_id: 'peer-x', host: '127.0.0.1', port: 2, last_seen_ms: Date.now(), state: 'alive' }],
      files,
      transfers: [],
      log: [],
    },
  };
}

// Runs in the page before the app: timestamps every message the page's WebSockets receive.
function instrument() {
  window.e2eReceived = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => window.e2eReceived.push(performance.now()));
    }
  };
}

/** Resolves in the page to when `selector` first matches, after it is armed. */
function arm([selector, text]) {
  window.e2eArmed = new Promise((resolve) => {
    const done = () => {
      const el = document.querySelector(selector);
      return el && (text === null || el.textContent.trim() === text);
    };
    const watch = new MutationObserver(() => {
      if (done()) {
        watch.disconnect();
        resolve(performance.now());
      }
    });
    watch.observe(document.body, { childList: true, subtree: true, characterData: true });
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

describe('dashboard with 10,000 files', { timeout: 120_000 }, () => {
  let peer;
  let context;
  const dirs = [];

  before(async () => {
    const storage = mkdtempSync(path.join(tmpdir(), 'e2e-many-'));
    dirs.push(storage);
    peer = spawn(PEER_BIN, ['many-files', '127.0.0.1', '0', '0', '--storage', storage, '--bootstrap', 'none'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    peer.stdin.on('error', () => {});
    let out = '';
    peer.stdout.setEncoding('utf8');
    peer.url = await new Promise((resolve, reject) => {
      peer.stdout.on('data', (chunk) => {
        out += chunk;
        const m = out.match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\//);
        if (m) resolve(m[1]);
      });
      peer.on('exit', (code) => reject(new Error(`the peer exited (${code}): ${out}`)));
    });
    const profile = mkdtempSync(path.join(tmpdir(), 'e2e-chromium-'));
    dirs.push(profile);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });

  after(async () => {
    await context?.close().catch(() => {});
    peer?.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A new page on the peer whose event socket is `socket`, driven by the test. */
  async function openPage() {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let socket;
    let onOpen;
    const opened = new Promise((resolve) => {
      onOpen = resolve;
    });
    await page.routeWebSocket(/\/api\/events/, (ws) => {
      socket = ws;
      onOpen();
    });
    // After routeWebSocket, whose own script replaces the page's WebSocket: ours wraps that one.
    await page.addInitScript(instrument);
    await page.goto(`${peer.url}/`);
    await opened;
    await page.waitForFunction(() => document.querySelector('[data-testid="files-table"]'));
    return { page, socket, errors };
  }

  it('prints render and event-to-DOM times at 10,000 files', async () => {
    const { page, socket, errors } = await openPage();
    const snap = JSON.stringify(snapshot());
    await page.evaluate(arm, ['[data-testid="file-count"]', String(FILES)]);
    socket.send(snap);
    const renderedAt = await page.evaluate(() => window.e2eArmed);
    const [snapshotAt] = await page.evaluate(() => window.e2eReceived);
    assert.equal(await page.getByTestId('file-row').count(), 100, 'one page of rows is rendered');

    const latencies = [];
    for (let i = 0; i < PROBES; i += 1) {
      const id = `probe${String(i).padStart(59, '0')}`;
      const before = await page.evaluate(() => window.e2eReceived.length);
      await page.evaluate(arm, [`[data-file-id="${id}"]`, null]);
      socket.send(JSON.stringify({ event: 'file_changed', data: file(id, `!probe-${String(i).padStart(2, '0')}`) }));
      const domAt = await page.evaluate(() => window.e2eArmed);
      const receivedAt = await page.evaluate((n) => window.e2eReceived[n], before);
      latencies.push(domAt - receivedAt);
    }
    assert.deepEqual(errors, []);

    const ms = (x) => `${x.toFixed(1)} ms`;
    console.log(`${FILES} files: snapshot received -> rendered: ${ms(renderedAt - snapshotAt)}`);
    console.log(
      `${FILES} files: event -> DOM p50 ${ms(percentile(latencies, 50))}, p90 ${ms(percentile(latencies, 90))} (${PROBES} events)`,
    );
    await page.close();
  });

  it('a changed file updates its row in place', async () => {
    const { page, socket, errors } = await openPage();
    socket.send(JSON.stringify(snapshot()));
    const id = (0).toString(16).padStart(64, '0');
    const row = `[data-testid="file-row"][data-file-id="${id}"]`;
    await page.waitForFunction((sel) => document.querySelector(sel), row);
    const before = await page.evaluate((sel) => {
      const tr = document.querySelector(sel);
      window.e2eRow = tr;
      window.e2eName = tr.querySelector('[data-testid="file-name"]').firstChild;
      return tr.querySelector('[data-testid="file-size"]').textContent.trim();
    }, row);

    const changed = { ...file(id, 'file-00000.bin'), size_bytes: 5 * 1024 * 1024, holders: ['peer-x', 'peer-y'] };
    socket.send(JSON.stringify({ event: 'file_changed', data: changed }));
    await page.waitForFunction(
      (sel) => document.querySelector(sel)?.querySelector('[data-testid="file-holders"]').textContent.trim() === '2',
      row,
    );

    const after = await page.evaluate((sel) => {
      const tr = document.querySelector(sel);
      return {
        sameRow: tr === window.e2eRow && window.e2eRow.isConnected,
        sameNameText: tr.querySelector('[data-testid="file-name"]').firstChild === window.e2eName,
        size: tr.querySelector('[data-testid="file-size"]').textContent.trim(),
      };
    }, row);
    assert.notEqual(before, '5.0 MiB');
    assert.deepEqual(after, { sameRow: true, sameNameText: true, size: '5.0 MiB' });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('the pager turns to the next page and back', async () => {
    const { page, socket, errors } = await openPage();
    socket.send(JSON.stringify(snapshot()));
    const pager = page.getByTestId('files-pager');
    const label = pager.getByTestId('files-page');
    // Exact names: a stray attribute that became text would change them.
    const next = pager.getByRole('button', { name: 'Next ›', exact: true });
    const previous = pager.getByRole('button', { name: '‹ Previous', exact: true });
    const names = async () => {
      const all = await page.getByTestId('file-name').allTextContents();
      return { count: all.length, first: all[0], last: all.at(-1) };
    };
    await label.filter({ hasText: /^Page 1 of 100$/ }).waitFor();
    assert.equal(await previous.isDisabled(), true, 'Previous is disabled on page 1');
    assert.equal(await next.isEnabled(), true, 'Next is enabled on page 1');

    await next.click({ timeout: 5_000 });
    await label.filter({ hasText: /^Page 2 of 100$/ }).waitFor();
    assert.deepEqual(await names(), { count: 100, first: 'file-00100.bin', last: 'file-00199.bin' });
    assert.equal(await previous.isEnabled(), true, 'Previous is enabled on page 2');

    await previous.click({ timeout: 5_000 });
    await label.filter({ hasText: /^Page 1 of 100$/ }).waitFor();
    assert.deepEqual(await names(), { count: 100, first: 'file-00000.bin', last: 'file-00099.bin' });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
