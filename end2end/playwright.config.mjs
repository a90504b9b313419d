// Browser tests run Debian's Chromium (never a downloaded browser) against the real
// binary, started with --demo so three simulated DVRs stream over loopback.
// CW_PROFILE=debug|release picks the build under test.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const profile = process.env.CW_PROFILE || 'debug';
const port = Number(process.env.CW_E2E_PORT || 18501);
const dataDir = mkdtempSync(join(tmpdir(), 'cw-e2e-'));

export default defineConfig({
  testDir: './tests',
  timeout: 90_000,
  expect: { timeout: 15_000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    headless: true,
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      ],
    },
  },
  webServer: {
    command: `../target/${profile}/channelwatch serve --demo --bind 127.0.0.1 --port ${port} --data-dir ${dataDir}`,
    url: `http://127.0.0.1:${port}/healthz/startup`,
    timeout: 60_000,
    reuseExistingServer: false,
    // No background mDNS scans: tests send nothing beyond loopback.
    env: { CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS: '0' },
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
