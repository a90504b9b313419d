import { test, expect } from '@playwright/test';

test('the first page renders on the server and hydrates', async ({ page, request }) => {
  // Server-side render: the HTML already holds the page before any script runs.
  const html = await (await request.get('/')).text();
  expect(html).toContain('DVR overview');
  expect(html).toContain('/pkg/channelwatch.js');

  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.locator('section.overview')).toHaveAttribute('data-hydrated', 'true');
  expect(errors).toEqual([]);
});

test('a click reaches a server function and shows the live engine state', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('section.overview')).toHaveAttribute('data-hydrated', 'true');
  await page.click('#refresh');
  // The three --demo DVRs come back from the engine through the server function.
  await expect(page.locator('#overview-summary')).toContainText('3 DVR(s)');
  await expect(page.locator('table.dvrs tbody tr')).toHaveCount(3);
  await expect(page.locator('table.dvrs')).toContainText('Living Room (demo)');
  await page.screenshot({ path: 'test-results/overview.png' });
});
