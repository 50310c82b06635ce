// A report's PDF: its HTML printed by headless Chromium through playwright-core, on A4 with the
// document's own print CSS. Chromium is not bundled (a 150 MB download per platform): the
// operator installs it (`apt-get install chromium`) or points FLOWMAP_CHROMIUM at one. Without it
// PDF is the one thing that does not work, with FLOWMAP_UNAVAILABLE saying how to fix it; HTML
// reports need nothing.
//
// The page runs with JavaScript off and every request aborted: a report is self-contained, and a
// URL that slipped into it must not make the server fetch anything.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { FlowmapError } from '../../core/errors.js';

/** Where Chromium is looked for, after FLOWMAP_CHROMIUM. */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'] as const;
const DEFAULT_TIMEOUT_MS = 60_000;

/** FLOWMAP_CHROMIUM when it names an existing file, else the first of CHROMIUM_PATHS that exists. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const configured = env.FLOWMAP_CHROMIUM;
  if (configured !== undefined && configured !== '') return existsSync(configured) ? configured : undefined;
  return CHROMIUM_PATHS.find((p) => existsSync(p));
}

function unavailable(reason: string, cause?: unknown): FlowmapError {
  return new FlowmapError(
    'FLOWMAP_UNAVAILABLE',
    `PDF reports need headless Chromium: ${reason}. Install it (Debian/Ubuntu: \`apt-get install chromium\`) or set FLOWMAP_CHROMIUM to a Chromium or Chrome executable; HTML reports work without it.`,
    { status: 501, details: { looked: [...(process.env.FLOWMAP_CHROMIUM === undefined ? [] : [process.env.FLOWMAP_CHROMIUM]), ...CHROMIUM_PATHS] }, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * Launches headless Chromium: the given executable, else findChromium(). Throws FLOWMAP_UNAVAILABLE
 * (501) when there is none or it does not start. The caller closes the browser.
 */
export async function launchChromium(options: { executablePath?: string; timeoutMs?: number } = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? findChromium();
  if (executablePath === undefined) {
    const configured = process.env.FLOWMAP_CHROMIUM;
    throw unavailable(configured !== undefined && configured !== '' ? `FLOWMAP_CHROMIUM is ${configured}, which does not exist` : `none found at ${CHROMIUM_PATHS.join(', ')}`);
  }
  if (!existsSync(executablePath)) throw unavailable(`${executablePath} does not exist`);
  try {
    return await chromium.launch({ executablePath, headless: true, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    throw unavailable(`${executablePath} did not start (${first})`, err);
  }
}

/** Prints a report's HTML to PDF (A4, backgrounds on, page numbers in the footer). */
export async function renderReportPdf(html: string, options: { executablePath?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const browser = await launchChromium(options);
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load', timeout });
    await page.emulateMedia({ media: 'print' });
    return await page.pdf({
      format: 'A4',
      printBackground: true,
      preferCSSPageSize: true,
      displayHeaderFooter: true,
      headerTemplate: '<span></span>',
      footerTemplate: '<div style="width:100%;font-size:8px;color:#64748b;text-align:center">flowmap baseline report · <span class="pageNumber"></span> / <span class="totalPages"></span></div>',
    });
  } finally {
    await browser.close();
  }
}
