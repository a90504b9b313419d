// The web app end to end in Debian's Chromium against the real binary (started by
// playwright.config.mjs with --demo), one more simulator process driven through its
// control plane, and a fake webhook receiver that checks signatures like a real one.
// The steps build on each other (first-run setup comes first), so they run in order.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

const profile = process.env.CW_PROFILE || 'debug';
const shots = `test-results/screenshots-${profile}`;
mkdirSync(shots, { recursive: true });

const ADMIN = { user: 'admin', pass: 'e2e admin pass' };
const VIEWER = { user: 'viewer', pass: 'e2e viewer pass' };
const SECRET = 'e2e-webhook-secret';
// The simulator is set to require an API key, as a DVR with authentication is.
const DVR_KEY = 'e2e-dvr-key-41d7';

let sim; let simPort; let dvrId;
let hook; let hookPort; const received = []; const pings = [];

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function simControl(path, body) {
  const res = await fetch(`http://127.0.0.1:${simPort}/__sim/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  expect(res.status).toBe(204);
}

const watch = (ch, name) => simControl('emit', {
  Type: 'activities.set',
  Name: `${ch}-stream-E2E${ch}-127.0.0.9`,
  Value: `Watching ch${ch} ${name} from E2E Tablet (127.0.0.9)`,
});

/** No console errors, no failed hydration, every control labelled. */
async function checkPage(page) {
  const unlabelled = await page.locator('input:not([type=hidden]), select').evaluateAll(
    (els) => els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.id || e.outerHTML),
  );
  expect(unlabelled).toEqual([]);
}

/** The live dot turns green only once the WASM app runs: handlers are attached. */
async function hydrated(page) {
  await expect(page.locator('.live-dot.online')).toHaveCount(1);
}

async function signIn(page, who) {
  await page.goto('/login');
  await page.fill('#username', who.user);
  await page.fill('#password', who.pass);
  await page.click('button[type=submit]');
  await expect(page.locator('#whoami')).toHaveText(who.user);
  await expect(page.locator('.live-dot.online')).toHaveCount(1);
}

async function signOut(page) {
  await page.click('form.logout button');
  await expect(page.locator('.notice')).toHaveText('You are signed out.');
}

/** The files of a zip (stored or deflated), read through its central directory. */
function unzip(buf) {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd -= 1;
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const files = {};
  for (let i = 0; i < count; i += 1) {
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const skip = nameLen + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
    const name = buf.subarray(at + 46, at + 46 + nameLen).toString();
    const local = buf.readUInt32LE(at + 42);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + size);
    files[name] = (method === 8 ? inflateRawSync(data) : data).toString();
    at += 46 + skip;
  }
  return files;
}

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  simPort = await freePort();
  sim = spawn(`../target/${profile}/channelwatch`,
    ['simulate', '--bind', '127.0.0.1', '--port', String(simPort), '--scenario', 'quiet', '--api-key', DVR_KEY],
    { stdio: 'ignore' });
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      // A push service's heartbeat URL: any GET of it counts.
      if (req.method === 'GET' && req.url.startsWith('/ping/')) {
        pings.push(req.url);
        res.writeHead(200); res.end('OK'); return;
      }
      // What a receiver of ChannelWatch's signed webhook checks before trusting it.
      const want = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
      if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/json')
        || req.headers['x-channelwatch-signature'] !== want) {
        res.writeHead(401); res.end('bad signature'); return;
      }
      received.push(JSON.parse(body));
      res.writeHead(200); res.end('ok');
    });
  });
  hookPort = await freePort();
  await new Promise((r) => hook.listen(hookPort, '127.0.0.1', r));
  // The simulator answers once it listens.
  await expect.poll(async () => {
    try {
      return (await fetch(`http://127.0.0.1:${simPort}/status`, { headers: { 'x-api-key': DVR_KEY } })).status;
    } catch { return 0; }
  }).toBe(200);
});

test.afterAll(async () => {
  sim?.kill();
  hook?.close();
});

test('first-run setup, sign-out, a wrong password, then sign-in', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await page.screenshot({ path: `${shots}/setup.png` });
  await page.fill('#username', ADMIN.user);
  await page.fill('#password', ADMIN.pass);
  await page.fill('#confirm', 'not the same');
  await page.click('button[type=submit]');
  await expect(page.locator('#setup-error')).toContainText('the two passwords differ');
  await page.fill('#username', ADMIN.user);
  await page.fill('#password', ADMIN.pass);
  await page.fill('#confirm', ADMIN.pass);
  await page.click('button[type=submit]');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator('#whoami')).toHaveText(ADMIN.user);
  // The three --demo DVRs, rendered on the server and then live.
  await expect(page.locator('#dvr-cards .card')).toHaveCount(3);
  await expect(page.locator('.live-dot.online')).toHaveCount(1);
  await checkPage(page);

  await signOut(page);
  await page.fill('#username', ADMIN.user);
  await page.fill('#password', 'wrong password');
  await page.click('button[type=submit]');
  await expect(page.locator('#login-error')).toHaveText('Wrong username or password.');
  await page.screenshot({ path: `${shots}/login-error.png` });
  await signIn(page, ADMIN);
  expect(errors).toEqual([]);
});

test('add a DVR pointing at a simulator and see it connect', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.click('nav a[href^="/dvrs"]');
  await expect(page.locator('#dvr-table tbody tr')).toHaveCount(3);
  await expect(page.locator('#soft-limit')).toContainText('3 of 10 DVRs');
  await page.click('#add-dvr');
  // Validation messages appear next to their field.
  await page.fill('#dvr-new-name', 'E2E Sim');
  await page.fill('#dvr-new-host', 'not a host!');
  await page.fill('#dvr-new-port', String(simPort));
  await page.click('.dvr-form button[type=submit]');
  await expect(page.locator('#dvr-new-host ~ .field-error')).toBeVisible();
  await page.fill('#dvr-new-port', '99999');
  await page.click('.dvr-form button[type=submit]');
  await expect(page.locator('#dvr-new-port ~ .field-error')).toContainText('between 1 and 65535');

  await page.fill('#dvr-new-host', '127.0.0.1');
  await page.fill('#dvr-new-port', String(simPort));
  await page.fill('#dvr-new-threshold', '30');
  // This DVR wants an API key: without it the test says so.
  await page.click('.dvr-form .test-connection');
  await expect(page.locator('.dvr-form .diagnosis')).toContainText('API key');
  await page.fill('#dvr-new-api_key', DVR_KEY);
  await page.click('.dvr-form .test-connection');
  await expect(page.locator('.dvr-form .diagnosis-summary')).toContainText('Every check passed.');
  await page.click('.dvr-form button[type=submit]');
  const row = page.locator('#dvr-table tbody tr', { hasText: 'E2E Sim' });
  await expect(row).toHaveCount(1);
  await expect(row.locator('.pill')).toHaveText('healthy');
  dvrId = await row.getAttribute('data-dvr-id');
  expect(dvrId).toMatch(/^[0-9a-f]{8}$/);
  // Editing another field keeps the stored key (the form never holds it).
  await row.locator('button', { hasText: 'Edit' }).click();
  const keyField = page.locator(`#dvr-${dvrId}-api_key`);
  await expect(keyField).toHaveValue('');
  await expect(keyField).toHaveAttribute('placeholder', /stored/);
  await page.fill(`#dvr-${dvrId}-threshold`, '31');
  await page.click('.edit-row .dvr-form button[type=submit]');
  await expect(page.locator('.edit-row')).toHaveCount(0);
  const api = await page.request.get(`/api/v1/dvrs/${dvrId}`);
  const saved = await api.json();
  expect([saved.staleness_threshold_seconds, saved.api_key]).toEqual([31, '****']);
  expect(JSON.stringify(saved)).not.toContain(DVR_KEY);
  await expect(row.locator('.pill')).toHaveText('healthy');
  await expect(page.locator('.badge.managed').first()).toContainText('--demo');
  await checkPage(page);
  await page.screenshot({ path: `${shots}/dvrs.png`, fullPage: true });
});

test('a simulator event appears live on the open dashboard', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto(`/?dvr=${dvrId}`);
  await expect(page.locator('.live-dot.online')).toHaveCount(1);
  await expect(page.locator('#count-sessions')).toHaveText('0');
  const url = page.url();
  const started = Date.now();
  await watch(7, 'ABC');
  const session = page.locator('#sessions .session', { hasText: 'Ch 7' });
  await expect(session).toContainText('E2E Tablet');
  const ms = Date.now() - started;
  console.log(`live: simulator event to dashboard in ${ms} ms`);
  test.info().annotations.push({ type: 'event-to-dashboard-ms', description: String(ms) });
  await expect(page.locator('#count-sessions')).toHaveText('1');
  expect(page.url()).toBe(url); // no reload, no navigation
});

test('the server switcher scopes every count and is kept in the URL', async ({ page }) => {
  await signIn(page, ADMIN);
  await expect(page.locator('#count-dvrs')).toHaveText('4');
  const all = Number(await page.locator('#count-sessions').textContent());
  expect(all).toBeGreaterThanOrEqual(1);
  await page.selectOption('#server-switcher', dvrId);
  await expect(page).toHaveURL(new RegExp(`\\?dvr=${dvrId}$`));
  await expect(page.locator('#count-dvrs')).toHaveText('1');
  await expect(page.locator('#count-sessions')).toHaveText('1');
  await expect(page.locator('#dvr-cards .card')).toHaveCount(1);
  // Scope survives moving between pages and a reload.
  await page.click('nav a[href^="/dvrs"]');
  await expect(page).toHaveURL(new RegExp(`/dvrs\\?dvr=${dvrId}$`));
  await page.click('nav a[href^="/?"]');
  await page.reload();
  await hydrated(page);
  await expect(page.locator('#count-dvrs')).toHaveText('1');
  await page.selectOption('#server-switcher', '');
  await expect(page.locator('#count-dvrs')).toHaveText('4');
  await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });
});

test('watch history filters, pages and exports exactly what it shows', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, ADMIN);
  // The E2E DVR's play on ch 7 ends; the demo's filled days hold many more.
  await simControl('emit', { Type: 'activities.set', Name: '7-stream-E2E7-127.0.0.9', Value: '' });
  await page.goto('/history');
  await hydrated(page);
  await checkPage(page);
  const rows = page.locator('#history-table tbody tr');
  await expect(rows).toHaveCount(50);
  await page.screenshot({ path: `${shots}/history.png`, fullPage: true });
  // Older pages follow the cursor; "Newest" comes back.
  const first = await rows.first().textContent();
  await page.click('#next-page');
  await expect(page).toHaveURL(/before=/);
  await expect(rows).toHaveCount(50);
  expect(await rows.first().textContent()).not.toBe(first);
  await page.click('#newest-page');
  await expect(page).not.toHaveURL(/before=/);
  // One device.
  await page.selectOption('#filter-device', 'E2E Tablet');
  await page.click('#apply-filters');
  await expect(page).toHaveURL(/device=E2E\+Tablet/);
  await expect(rows.first()).toContainText('E2E Tablet');
  const mine = await rows.allTextContents();
  expect(mine.length).toBeGreaterThanOrEqual(1);
  for (const r of mine) expect(r).toContain('E2E Tablet');
  await expect(rows.first()).toContainText('Ch 7 · ABC');
  // Text narrows further; a kind with nothing shows the empty state.
  await page.fill('#filter-q', 'abc');
  await page.click('#apply-filters');
  await expect(page).toHaveURL(/q=abc/);
  await expect(rows.first()).toContainText('ABC');
  await expect(page.locator('#filter-device')).toHaveValue('E2E Tablet');
  // The CSV holds exactly the rows the filtered table shows, under the contract's header.
  const href = await page.locator('#export-csv').getAttribute('href');
  expect(href).toContain('device=E2E+Tablet');
  const res = await page.request.get(href);
  expect(res.status()).toBe(200);
  expect(res.headers()['content-type']).toContain('text/csv');
  const lines = (await res.text()).trim().split(/\r?\n/);
  expect(lines[0]).toBe('dvr_id,dvr_name,kind,device,client_ip,channel,title,started_at,ended_at,watched_seconds,ended_by');
  expect(lines.length - 1).toBe(await rows.count());
  for (const l of lines.slice(1)) expect(l).toContain(',E2E Tablet,');
  await page.selectOption('#filter-kind', 'vod');
  await page.click('#apply-filters');
  await expect(page.locator('#history-empty')).toBeVisible();
  expect(errors).toEqual([]);
});

test('statistics chart the household and follow the range and the switcher', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, ADMIN);
  await page.click('nav a[href^="/stats"]');
  await expect(page).toHaveURL(/\/stats/);
  await hydrated(page);
  await checkPage(page);
  const plays = Number(await page.locator('#stat-plays').textContent());
  expect(plays).toBeGreaterThanOrEqual(480); // the demo's four filled days
  expect(await page.locator('#by-channel li').count()).toBeGreaterThanOrEqual(5);
  await expect(page.locator('#by-channel li').first()).toContainText('plays');
  await expect(page.locator('#heatmap rect.heat')).toHaveCount(7 * 24);
  expect(await page.locator('#heatmap rect.heat:not(.heat-0)').count()).toBeGreaterThan(20);
  await expect(page.locator('#top-programs li').first()).toBeVisible();
  await page.screenshot({ path: `${shots}/stats.png`, fullPage: true });
  // A quick range keeps the page and its scope in the address.
  await page.click('#stats-range a:has-text("7 days")');
  await expect(page).toHaveURL(/days=7/);
  await expect(page.locator('#stat-plays')).not.toHaveText('0');
  // One DVR: fewer plays than all of them.
  await page.selectOption('#server-switcher', dvrId);
  await expect(page).toHaveURL(new RegExp(`dvr=${dvrId}`));
  await expect.poll(async () => Number(await page.locator('#stat-plays').textContent())).toBeLessThan(plays);
  // A range with nothing in it says so.
  await page.goto('/stats?from=2001-01-01&to=2001-01-31');
  await expect(page.locator('#stats-empty')).toBeVisible();
  await expect(page.locator('#stat-plays')).toHaveText('0');
  expect(errors).toEqual([]);
});

test('channel logos always show: the DVR’s own through our cache, else the call sign', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto(`/?dvr=${dvrId}`);
  await hydrated(page);
  const logos = page.locator('#sessions .session img.logo');
  const before = await logos.count();
  // KTTV's logo file is gone from the DVR; M3U channels have none.
  await watch('11.1', 'KTTV');
  await watch('6001', 'Pluto TV News');
  await expect(logos).toHaveCount(before + 2);
  // Every image is ours, and every one loaded (a broken image has no natural width).
  await expect.poll(async () => logos.evaluateAll((imgs) => imgs.filter(
    (i) => i.complete && i.naturalWidth > 0 && new URL(i.src).pathname.startsWith('/api/v1/images/'),
  ).length)).toBe(before + 2);
  const srcs = await logos.evaluateAll((imgs) => imgs.map((i) => i.getAttribute('src')));
  expect(srcs.some((s) => s.startsWith('/api/v1/images/placeholder?label=Pluto'))).toBe(true);
  expect(srcs.every((s) => !s.includes(String(simPort)))).toBe(true);
  // What the placeholder draws: the call sign.
  const kttv = srcs.find((s) => s.endsWith('label=KTTV'));
  expect(kttv).toBeTruthy();
  const svg = await (await page.request.get(kttv)).text();
  expect(svg).toContain('>KTTV<');
  await page.locator('#sessions').screenshot({ path: `${shots}/logos.png` });
  for (const ch of ['11.1', '6001']) {
    await simControl('emit', { Type: 'activities.set', Name: `${ch}-stream-E2E${ch}-127.0.0.9`, Value: '' });
  }
  await expect(logos).toHaveCount(before);
});

test('the DVR page shows the server, its sources, outages, every upcoming recording and a calendar link', async ({ page }) => {
  // Two recordings scheduled on the simulator, a day apart.
  const now = Math.floor(Date.now() / 1000);
  for (const t of [now + 3600, now + 90000]) {
    await simControl('emit', { Type: 'jobs.created', Name: `${t}-ch5.1`, Value: '' });
  }
  await signIn(page, ADMIN);
  await page.goto('/dvrs');
  await page.click(`#dvr-table tr[data-dvr-id="${dvrId}"] th a`);
  await expect(page).toHaveURL(new RegExp(`/dvrs/${dvrId}$`));
  await hydrated(page);
  await expect(page.locator('h1')).toContainText('E2E Sim');
  await expect(page.locator('#dvr-facts')).toContainText('2026.04.20.0213');
  await expect(page.locator('#dvr-facts .uptime')).toContainText('days');
  await expect(page.locator('#sources tbody tr')).toHaveCount(5);
  await expect(page.locator('#sources')).toContainText('HDHomeRun PRIME');
  await expect(page.locator('#upcoming li')).toHaveCount(2);
  await expect.poll(async () => page.locator('#upcoming img.art').evaluateAll(
    (imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
  )).toBe(2);
  await page.click('#make-calendar-link');
  const one = await page.locator('#feed-url-dvr').inputValue();
  expect(one).toMatch(new RegExp(`^http://[^/]+/api/v1/feeds/upcoming\\.ics\\?token=cwf_[0-9a-f]+&dvr_id=${dvrId}$`));
  // A calendar app has no session: the link alone opens the feed.
  const ics = await fetch(one);
  expect(ics.status).toBe(200);
  expect(ics.headers.get('content-type')).toContain('text/calendar');
  const body = await ics.text();
  expect(body.match(/BEGIN:VEVENT/g)).toHaveLength(2);
  await checkPage(page);
  await page.screenshot({ path: `${shots}/dvr-page.png`, fullPage: true });
});

test('the routing matrix decides whether a fake provider receives the next alert', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.click('nav a[href^="/settings"]');
  // Settings opens on Alerts; each tab is a link kept in the address.
  await expect(page.locator('#tab-alerts')).toHaveAttribute('aria-selected', 'true');
  await expect(page.locator('#provider-type')).toBeHidden();
  await page.click('#tab-providers');
  await expect(page).toHaveURL(/\/settings\?tab=providers$/);
  await page.selectOption('#provider-type', 'webhook');
  await page.fill('#provider-name', 'E2E hook');
  await page.fill('#provider-url', `http://127.0.0.1:${hookPort}/hook`);
  await page.fill('#provider-secret', SECRET);
  await page.click('#add-provider button[type=submit]');
  const provider = page.locator('#provider-list .provider', { hasText: 'E2E hook' });
  await expect(provider).toHaveCount(1);
  await expect(provider).toContainText('****');
  await expect(provider).not.toContainText(SECRET);
  await provider.locator('.provider-test').click();
  await expect(provider.locator('.provider-answer')).toContainText('Sent. Provider answered: 200');
  await expect.poll(() => received.filter((r) => r.eventType === 'test').length).toBe(1);

  // Off for this DVR's channel alerts to webhooks; the alert is recorded, not sent.
  await page.reload();
  await hydrated(page);
  await expect(page.locator('#tab-providers')).toHaveAttribute('aria-selected', 'true');
  await page.click('#tab-routing');
  const cell = page.locator(`#route-${dvrId}-channel-webhook`);
  await expect(cell).toBeChecked();
  await cell.uncheck();
  await page.click('#save-routing');
  await expect(page.locator('#routing .success')).toHaveText('Routing saved.');
  await watch(9, 'KCAL');
  await page.goto(`/?dvr=${dvrId}`);
  await hydrated(page);
  // The ch9 alert (its message names KCAL) is recorded but routed nowhere.
  const muted = page.locator('#alerts .alert', { hasText: 'Watching TV' })
    .filter({ hasText: 'KCAL' }).filter({ hasText: 'routed nowhere' });
  await expect(muted).toHaveCount(1);
  expect(received.filter((r) => r.eventType === 'channel.watching.start' && r.dvr_id === dvrId)).toEqual([]);

  // A whole-row toggle turns it back on; the next alert reaches the provider.
  await page.goto('/settings?tab=routing');
  await hydrated(page);
  await page.locator(`table[data-dvr-id="${dvrId}"] tr`, { hasText: 'channel' }).locator('.row-toggle').click();
  await expect(page.locator(`#route-${dvrId}-channel-webhook`)).toBeChecked();
  await page.click('#save-routing');
  await expect(page.locator('#routing .success')).toHaveText('Routing saved.');
  await watch(11, 'KTTV');
  await expect.poll(() => received.filter((r) => r.eventType === 'channel.watching.start' && r.dvr_id === dvrId).length,
    { timeout: 15_000 }).toBe(1);
  await page.screenshot({ path: `${shots}/settings.png`, fullPage: true });
});

test('alert policy presets set the modules in one click; an own choice is Custom', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/settings');
  await hydrated(page);
  await checkPage(page);
  await page.click('#preset-important-only');
  await expect(page.locator('#preset-important-only')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('#set-channel-enabled')).not.toBeChecked();
  await expect(page.locator('#set-recording-failed')).toBeChecked();
  await expect(page.locator('#set-recording-started')).not.toBeChecked();
  await expect(page.locator('#set-health-unreachable')).toBeChecked();
  // One switch more is no preset any longer.
  await page.check('#set-recording-started');
  await expect(page.locator('#preset-custom')).toHaveClass(/active/);
  await expect(page.locator('#presets [aria-pressed="true"]')).toHaveCount(0);
  // A preset saved is what the page shows after a reload.
  await page.click('#preset-everything');
  await expect(page.locator('#set-recording-scheduled')).toBeChecked();
  await page.click('#alerts button[type=submit]');
  await expect(page.locator('#alerts .success')).toContainText('saved');
  await page.reload();
  await hydrated(page);
  await expect(page.locator('#preset-everything')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('label[for="set-disk-worsening_delta_gib"]')).toHaveText('Alert again when worse by (GiB)');
  // Each module's template shows what it makes of sample data, as it is edited.
  const preview = page.locator('.template-preview[data-alert-type="channel.watching.start"]');
  await expect(preview.locator('.preview-title')).not.toBeEmpty();
  await page.fill('#set-channel-template-title', 'Now on {{ channel_name }}');
  await page.keyboard.press('Tab');
  await expect(preview.locator('.preview-title')).toContainText('Now on ');
  await page.fill('#set-channel-template-title', 'Broken {{ oops');
  await page.keyboard.press('Tab');
  await expect(preview.locator('.preview-error')).toContainText('title');
  await page.fill('#set-channel-template-title', '');
  await page.keyboard.press('Tab');
  await expect(preview.locator('.preview-error')).toHaveCount(0);
  // A real alert of this kind, from sample data, to where routing sends it.
  await page.fill('#set-channel-template-title', 'Test of {{ channel_name }}');
  await page.keyboard.press('Tab');
  await preview.locator('.send-test').click();
  await expect(preview.locator('.success')).toContainText('Test alert sent to webhook');
  await expect.poll(() => received.filter((r) => r.eventType === 'channel.watching.start'
    && String(r.data?.title).startsWith('[Test] Test of ')).length).toBe(1);
});

test('Settings downloads a debug bundle without secrets; the DVR page offers discovery', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.click('nav a[href^="/dvrs"]');
  await hydrated(page);
  // Opening the page scans nothing by itself (the e2e server has no background scans).
  await expect(page.locator('#discovery-message')).toContainText('No scan yet');
  await expect(page.locator('#discovery-scan')).toBeEnabled();

  await page.click('nav a[href^="/settings"]');
  await hydrated(page);
  await page.click('#tab-advanced');
  await expect(page.locator('#config-status')).toContainText('applied at start');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#bundle-download')]);
  expect(download.suggestedFilename()).toMatch(/^channelwatch-debug-.*\.zip$/);
  const files = unzip(readFileSync(await download.path()));
  const names = Object.keys(files).map((n) => n.split('/').pop()).sort();
  expect(names).toEqual(['README.txt', 'doctor.txt', 'health.json', 'logs.txt', 'metrics.txt', 'settings.json', 'version.txt']);
  for (const [name, text] of Object.entries(files)) {
    for (const secret of [SECRET, ADMIN.pass, VIEWER.pass, '$argon2id']) {
      expect(text.includes(secret), `${secret} in ${name}`).toBe(false);
    }
  }
  expect(files['channelwatch-debug/settings.json']).toContain('E2E hook');

  // A backup sealed with a passphrase, then restored from that file.
  await page.fill('#backup-passphrase', 'e2e backup passphrase');
  const [backup] = await Promise.all([page.waitForEvent('download'), page.click('#backup-export')]);
  expect(backup.suggestedFilename()).toMatch(/^channelwatch-backup-.*\.json$/);
  const backupPath = await backup.path();
  const text = readFileSync(backupPath, 'utf8');
  const parsed = JSON.parse(text);
  expect(parsed.format).toBe('channelwatch-backup');
  expect(parsed.dvrs.map((d) => [d.name, d.api_key])).toEqual([['E2E Sim', '****']]);
  for (const secret of [SECRET, DVR_KEY]) expect(text.includes(secret), secret).toBe(false);
  await expect(page.locator('#backup-export ~ .success')).toContainText('secrets sealed');
  await page.setInputFiles('#restore-file', backupPath);
  await page.fill('#restore-passphrase', 'not the passphrase');
  await page.click('#backup-import');
  await expect(page.locator('#backup-import ~ .error')).toContainText('passphrase does not open');
  await page.fill('#restore-passphrase', 'e2e backup passphrase');
  await page.click('#backup-import');
  await expect(page.locator('#backup-import ~ .success')).toContainText('Restored 1 DVR(s), 1 provider(s)');
  // Restored with its sealed key, the DVR that requires one stays connected.
  const dvr = await (await page.request.get(`/api/v1/dvrs/${dvrId}`)).json();
  expect([dvr.api_key, dvr.health.status]).toEqual(['****', 'healthy']);
  await checkPage(page);
  await page.screenshot({ path: `${shots}/advanced.png`, fullPage: true });
});

test('times show in the zone Settings names, rendered by the server and in the browser', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, ADMIN);
  await page.goto('/settings?tab=advanced');
  await hydrated(page);
  // Kathmandu is 5:45 ahead of UTC, so no other zone's time could pass for it.
  await page.fill('#time-zone-input', 'Asia/Kathmandu');
  await page.click('text=Save advanced settings');
  await expect(page.locator('#time-zone-in-force')).toContainText('Asia/Kathmandu (from this setting)');
  const local = (iso) => {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: 'Asia/Kathmandu', hourCycle: 'h23', year: 'numeric', month: '2-digit',
      day: '2-digit', hour: '2-digit', minute: '2-digit',
    }).formatToParts(new Date(iso));
    const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
  };
  const shownInZone = async () => {
    const times = page.locator('#history-table tbody time');
    await expect(times.first()).toBeVisible();
    const pairs = await times.evaluateAll((ts) => ts.slice(0, 20).map((t) => [t.getAttribute('datetime'), t.textContent]));
    expect(pairs.length).toBeGreaterThan(0);
    for (const [iso, shown] of pairs) expect(shown, iso).toBe(local(iso));
  };
  // As the server rendered the page, then as the browser renders the next one.
  await page.goto('/history');
  await shownInZone();
  await hydrated(page);
  await page.click('#next-page');
  await expect(page).toHaveURL(/before=/);
  await shownInZone();
  // Cleared: TZ or the host's zone again.
  await page.goto('/settings?tab=advanced');
  await hydrated(page);
  await page.fill('#time-zone-input', '');
  await page.click('text=Save advanced settings');
  await expect(page.locator('#time-zone-in-force')).not.toContainText('Kathmandu');
  expect(errors).toEqual([]);
});

test('the heartbeat is set in Settings, pings at once and shows its URL by host only', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/settings?tab=advanced');
  await hydrated(page);
  await expect(page.locator('#heartbeat-status')).toContainText('No heartbeat is set.');
  const pushUrl = `http://127.0.0.1:${hookPort}/ping/e2e-push-token`;
  await page.fill('#heartbeat-url', pushUrl);
  await page.fill('#heartbeat-interval', '60');
  await page.click('text=Save heartbeat');
  await expect(page.locator('#heartbeat .success')).toContainText('Heartbeat saved.');
  await expect(page.locator('#heartbeat-url')).toHaveValue(`http://127.0.0.1:${hookPort}/****`);
  // Saved, it pings at once (every DVR is healthy), and Ping now pings again.
  await expect.poll(() => pings.length).toBeGreaterThanOrEqual(1);
  await page.click('#heartbeat-test');
  await expect(page.locator('#heartbeat .success')).toContainText('Pinged: HTTP 200: OK');
  await expect.poll(() => pings.length).toBeGreaterThanOrEqual(2);
  await expect(page.locator('#heartbeat-status')).toContainText('Last ok');
  const body = await (await page.request.get('/api/v1/heartbeat')).text();
  expect(body).not.toContain('e2e-push-token');
  // Emptied and saved: no heartbeat.
  await page.fill('#heartbeat-url', '');
  await page.click('text=Save heartbeat');
  await expect(page.locator('#heartbeat .success')).toContainText('Heartbeat removed.');
  await checkPage(page);
});

test('a rule is written in Settings with a preview of recent alerts, then decides delivery', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/settings?tab=routing');
  await hydrated(page);
  await expect(page.locator('#rule-list')).toContainText('No rules');
  await page.selectOption('#rule-provider', { label: 'E2E hook (webhook)' });
  await page.fill('#rule-name', 'Not the tablet');
  await page.fill('#rule-exclude', 'E2E Tablet');
  // The preview judges the recent alerts: the tablet's watching alerts would not go.
  await page.click('#rule-preview');
  await expect(page.locator('#rule-preview-list')).toContainText('this rule would have sent');
  await expect(page.locator('#rule-preview-list tr.skips', { hasText: 'Watching TV' }).first())
    .toContainText('no: an excluded device');
  await page.click('#rule-save');
  await expect(page.locator('#rules .success')).toContainText('Rule saved.');
  const rule = page.locator('#rule-list .rule', { hasText: 'Not the tablet' });
  await expect(rule).toContainText('not E2E Tablet');
  await expect(rule).toContainText('E2E hook (webhook)');
  await watch(15, 'KDOC');
  await page.goto(`/?dvr=${dvrId}`);
  await hydrated(page);
  await expect(page.locator('#alerts .alert', { hasText: 'KDOC' })
    .filter({ hasText: 'routed nowhere' })).toHaveCount(1);
  expect(received.filter((r) => r.dvr_id === dvrId && JSON.stringify(r).includes('KDOC'))).toEqual([]);
  await page.goto('/settings?tab=routing');
  await hydrated(page);
  await rule.locator('button', { hasText: 'Remove' }).click();
  await expect(page.locator('#rule-list')).toContainText('No rules');
  await checkPage(page);
});

test('quiet hours hold an alert back; a DVR and a kind are snoozed from the dashboard', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto('/settings?tab=quiet');
  await hydrated(page);
  await expect(page.locator('#periods')).toContainText('No quiet periods yet.');
  await page.fill('#period-name', 'E2E all day');
  await page.fill('#period-from', '00:00');
  await page.fill('#period-to', '00:00');
  await page.click('#period-save');
  await expect(page.locator('#quiet .success')).toContainText('Period saved.');
  const period = page.locator('#periods .period', { hasText: 'E2E all day' });
  await expect(period).toContainText('on now');
  await watch(13, 'KCOP');
  await page.goto(`/?dvr=${dvrId}`);
  await hydrated(page);
  await expect(page.locator('#alerts .alert', { hasText: 'KCOP' })
    .filter({ hasText: 'quiet: recorded, not sent' })).toHaveCount(1);
  expect(received.filter((r) => r.dvr_id === dvrId && JSON.stringify(r).includes('KCOP'))).toEqual([]);
  await page.goto('/settings?tab=quiet');
  await hydrated(page);
  await period.locator('button', { hasText: 'Remove' }).click();
  await expect(page.locator('#periods')).toContainText('No quiet periods yet.');

  // One click snoozes the DVR; its card says until when, and End ends it.
  await page.goto(`/?dvr=${dvrId}`);
  await hydrated(page);
  const card = page.locator(`.card[data-dvr-id="${dvrId}"]`);
  await card.locator('.snooze-dvr').click();
  await expect(card.locator('.snoozed')).toContainText('Snoozed until');
  await expect(page.locator('#snoozes .snooze')).toHaveCount(1);
  await card.locator('.end-snooze').click();
  await expect(card.locator('.snooze-dvr')).toBeVisible();
  await expect(page.locator('#snoozes .snooze')).toHaveCount(0);
  // A kind, for the hours chosen.
  await page.selectOption('#snooze-hours', '12');
  await page.click('.snooze-kind[data-kind="recording"]');
  await expect(page.locator('#snoozes .snooze')).toContainText('Recordings alerts from');
  await page.locator('#snoozes .end-snooze').click();
  await expect(page.locator('#snoozes .snooze')).toHaveCount(0);
  await checkPage(page);
});

test('a viewer can look but cannot change anything', async ({ page }) => {
  await signIn(page, ADMIN);
  await page.click('nav a[href^="/account"]');
  await page.fill('#new-username', VIEWER.user);
  await page.fill('#new-user-password', VIEWER.pass);
  await page.selectOption('#new-user-role', 'viewer');
  await page.click('#add-user button[type=submit]');
  await expect(page.locator('#user-list')).toContainText('viewer (viewer)');
  await checkPage(page);
  await page.screenshot({ path: `${shots}/account.png`, fullPage: true });
  await signOut(page);

  await signIn(page, VIEWER);
  await page.click('nav a[href^="/dvrs"]');
  await expect(page.locator('#dvr-table tbody tr')).toHaveCount(4);
  await expect(page.locator('#add-dvr')).toHaveCount(0);
  await expect(page.locator('#discovery')).toHaveCount(0);
  await expect(page.locator('#dvr-table .actions', { hasText: 'read-only' })).toHaveCount(4);
  await page.click('nav a[href^="/settings"]');
  await page.click('#tab-routing');
  await expect(page.locator('#save-routing')).toBeDisabled();
  await expect(page.locator('.send-test')).toHaveCount(0);
  await expect(page.locator('#add-provider')).toHaveCount(0);
  await expect(page.locator('#bundle-download')).toHaveCount(0);
  await expect(page.locator('#backup-export')).toHaveCount(0);
  expect((await page.request.get('/api/v1/doctor/bundle')).status()).toBe(403);
  const csrf = (await (await page.request.get('/api/v1/me')).json()).csrf_token;
  for (const path of ['/api/v1/config/reload', '/api/v1/backup/export', '/api/v1/discovery/scan']) {
    expect((await page.request.post(path, { headers: { 'x-csrf-token': csrf } })).status(), path).toBe(403);
  }
  // The server refuses, not just the page: a write with the viewer's own token.
  const me = await (await page.request.get('/api/v1/me')).json();
  expect(me.role).toBe('viewer');
  const res = await page.request.patch(`/api/v1/dvrs/${dvrId}`, {
    headers: { 'x-csrf-token': me.csrf_token }, data: { name: 'hijacked' },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error).toBe('forbidden');
  const del = await page.request.delete(`/api/v1/dvrs/${dvrId}`, { headers: { 'x-csrf-token': me.csrf_token } });
  expect(del.status()).toBe(403);
  await signOut(page);
});

test('a stalled DVR raises the banner, Diagnose reports, and it clears on recovery', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, ADMIN);
  await simControl('stall', { stalled: true });
  const banner = page.locator(`.banner.stale[data-dvr-id="${dvrId}"]`);
  await expect(banner).toBeVisible({ timeout: 90_000 });
  await expect(banner.locator('.banner-text')).toHaveText(
    /^DVR 'E2E Sim' has not received events for \d+ seconds\. Monitoring may be degraded\.$/);
  // On every page.
  await page.click('nav a[href^="/settings"]');
  await expect(banner).toBeVisible();
  await banner.locator('button.diagnose').click();
  await expect(banner.locator('.diagnosis .check.fail').first()).toBeVisible({ timeout: 30_000 });
  await expect(banner.locator('.diagnosis-summary')).toContainText('failed');
  await page.screenshot({ path: `${shots}/banner.png`, fullPage: true });
  await simControl('stall', { stalled: false });
  await expect(banner).toHaveCount(0, { timeout: 60_000 });
});

test('phone width, dark theme, and no layout shift on hydration', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, ADMIN);
  // Nothing overflows sideways on a phone.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(bg).toBe('rgb(15, 20, 25)');
  // Layout shift while the server-rendered page hydrates and the live feed connects.
  await page.goto('/');
  await page.evaluate(() => new Promise((resolve) => {
    window.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: 'layout-shift', buffered: true });
    setTimeout(resolve, 500);
  }));
  await expect(page.locator('.live-dot.online')).toHaveCount(1);
  const cls = await page.evaluate(() => window.__cls);
  console.log(`layout shift during hydration: ${cls.toFixed(4)}`);
  expect(cls).toBeLessThan(0.1);
  await page.screenshot({ path: `${shots}/dashboard-phone-dark.png`, fullPage: true });
  // Keyboard: Tab reaches the navigation and the switcher.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
  expect(focused).toBe('Dashboard');
  expect(errors).toEqual([]);
  await context.close();
});

// Every page in both themes at desktop and phone width, kept as test artifacts
// (test-results/screenshots-<profile>/pages/), each checked for sideways overflow and
// page errors. The artifacts are what a reviewer looks at; the checks keep them honest.
test('every page in light and dark at desktop and phone width', async ({ browser }) => {
  mkdirSync(`${shots}/pages`, { recursive: true });
  const pages = ['/', '/history', '/stats', '/dvrs', `/dvrs/${dvrId}`, '/settings',
    '/settings?tab=providers', '/settings?tab=routing', '/settings?tab=quiet', '/settings?tab=dvrs', '/settings?tab=advanced', '/account'];
  const sizes = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };
  for (const scheme of ['light', 'dark']) {
    for (const [size, viewport] of Object.entries(sizes)) {
      const context = await browser.newContext({ viewport, colorScheme: scheme });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, ADMIN);
      for (const path of pages) {
        await page.goto(path);
        await hydrated(page);
        const name = path === '/' ? 'dashboard' : path.slice(1).replace(/\/.*/, '-one').replace('?tab=', '-');
        await page.screenshot({ path: `${shots}/pages/${name}-${size}-${scheme}.png`, fullPage: true });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${path} at ${size} in ${scheme} overflows by ${overflow}px`).toBeLessThanOrEqual(0);
      }
      expect(errors).toEqual([]);
      await context.close();
    }
  }
});
