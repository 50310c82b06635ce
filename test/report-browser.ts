// Test helper: a report's HTML as a reader sees it, in headless Chromium (playwright-core). Opens
// the document on a laptop-sized screen, and again as printed, and fails when a section or chart
// is missing its heading or title, is not visible, or draws nothing; when the page asks for
// anything over the network (only the page itself, about:blank, may load), runs a script, or logs
// an error (a Content-Security-Policy refusal included). Leaves a full-page screenshot behind.
// Used by analyzer/reports' tests and the enterprise baseline test.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from '../analyzer/reports/index.js';

interface Laid {
  name: string;
  visible: boolean;
  width: number;
  height: number;
  /** A section's visible h2 text; a chart's title, when it is role=img. */
  heading: string;
  /** Rectangles a chart draws with a width. */
  shapes: number;
}

interface Layout {
  sections: Laid[];
  charts: Laid[];
  scripts: number;
}

// Runs in the page; written as text because the project compiles without the DOM library.
const LAYOUT = `(() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return { visible: r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none', width: r.width, height: r.height };
  };
  const sections = [...document.querySelectorAll('section[data-section]')].map((s) => {
    const h2 = s.querySelector(':scope > h2');
    return { name: s.getAttribute('data-section') ?? '', ...box(s), heading: h2 !== null && box(h2).visible ? h2.textContent ?? '' : '', shapes: 0 };
  });
  const charts = [...document.querySelectorAll('svg[data-chart]')].map((c) => {
    const title = c.querySelector(':scope > title');
    const shapes = [...c.querySelectorAll('rect')].filter((r) => r.getBoundingClientRect().width > 0).length;
    return { name: c.getAttribute('data-chart') ?? '', ...box(c), heading: c.getAttribute('role') === 'img' ? title?.textContent ?? '' : '', shapes };
  });
  return { sections, charts, scripts: document.querySelectorAll('script').length };
})()`;

/** Sections (with their h2) and charts (with their title and drawn shapes) as the page lays them out. */
async function layout(page: Page): Promise<Layout> {
  return page.evaluate<Layout>(LAYOUT);
}

function check(what: string, found: Layout): void {
  assert.equal(found.scripts, 0, `${what}: the report has no script`);
  for (const s of found.sections) {
    assert.ok(s.visible, `${what}: section ${s.name} is visible (${s.width}×${s.height})`);
    assert.ok(s.heading.trim() !== '', `${what}: section ${s.name} has a visible h2`);
  }
  for (const c of found.charts) {
    assert.ok(c.visible, `${what}: chart ${c.name} is visible (${c.width}×${c.height})`);
    assert.ok(c.heading.trim() !== '', `${what}: chart ${c.name} is role=img with a title`);
    assert.ok(c.shapes > 0, `${what}: chart ${c.name} draws something`);
  }
}

/**
 * Opens `html` in headless Chromium, checks it (see the module header; throws an AssertionError
 * when a check fails, FLOWMAP_UNAVAILABLE when there is no Chromium), writes a full-page
 * screenshot to `screenshotPath` and returns the `data-section` and `data-chart` names in
 * document order.
 */
export async function checkReportInBrowser(html: string, screenshotPath: string): Promise<{ sections: string[]; charts: string[] }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== 'about:blank') requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    // Anything asked for is refused (and recorded above): the check never waits on a network.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    const screen = await layout(page);
    check('screen', screen);
    await page.emulateMedia({ media: 'print' });
    await page.setViewportSize({ width: 718, height: 1000 });
    check('print (A4 width)', await layout(page));
    await page.emulateMedia({ media: 'screen' });
    await page.setViewportSize({ width: 1366, height: 900 });
    mkdirSync(dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    assert.deepEqual(requests, [], 'the report makes no network requests');
    assert.deepEqual(errors, [], 'the page logs no errors');
    return { sections: screen.sections.map((s) => s.name), charts: screen.charts.map((c) => c.name) };
  } finally {
    await browser.close();
  }
}
