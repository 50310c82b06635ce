// The report's HTML and its SVG charts, on a report written out by hand (testing.ts): sections in
// order with headings, charts as titled images drawn to scale, nothing that could load or run,
// and user-controlled text escaped wherever it lands. What a browser makes of it is checked in
// reports.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, escapeHtml, stackedBarChart, truncate } from './svg.js';
import { formatBytes, renderReportHtml, REPORT_SECTIONS } from './index.js';
import { sampleReport } from './testing.js';

const HOSTILE = `<script>alert("x")</script><img src=x onerror='alert(1)'> & "quoted" `;

/** The widths of the bars (rects with a fill) of an SVG chart, in document order. */
const barWidths = (svg: string): number[] => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="\d+"(?: rx="\d")? fill=/g)].map((m) => Number(m[1]));

describe('report HTML', () => {
  it('has every section in order, each with an id, a data-section and an h2', () => {
    const html = renderReportHtml(sampleReport());
    const found = [...html.matchAll(/<section id="([^"]+)" data-section="([^"]+)"><h2>[^<]+<\/h2>/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(
      found,
      REPORT_SECTIONS.map((s) => [s, s]),
    );
    assert.ok(html.startsWith('<!DOCTYPE html>'));
  });

  it('draws each chart as an inline svg with role=img and a title', () => {
    const html = renderReportHtml(sampleReport());
    const charts = [...html.matchAll(/<svg data-chart="([^"]+)" role="img"[^>]*><title>[^<]+<\/title>/g)].map((m) => m[1]);
    assert.deepEqual(charts, ['group-fan', 'top-dependencies-bytes', 'changes', 'findings-by-category', 'policy-coverage', 'blast-radius']);
    assert.equal(html.split('<svg').length - 1, charts.length, 'no untitled chart');
  });

  it('says there is no previous baseline, and draws no change chart, when there is none', () => {
    const html = renderReportHtml(sampleReport({ previous: false }));
    assert.match(html, /<section id="new-since-last"[^>]*><h2>[^<]+<\/h2><p class="empty">There is no previous completed baseline/);
    assert.doesNotMatch(html, /data-chart="changes"/);
  });

  it('references nothing outside itself and carries no script; its CSP forbids loading anything', () => {
    const html = renderReportHtml(sampleReport());
    assert.doesNotMatch(html, /\b(src|href|srcset|action|xlink:href)\s*=/i);
    assert.doesNotMatch(html, /https?:|\/\/[a-z]/i);
    assert.doesNotMatch(html, /<script|<link|<iframe|<object|<embed|@import|url\(/i);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/);
    assert.match(html, /@media print\{/);
    assert.match(html, /@page\{size:A4;/);
  });

  it('escapes user-controlled text everywhere it appears: labels, names, explanations, notes, chart titles', () => {
    const html = renderReportHtml(sampleReport({ text: HOSTILE }));
    assert.equal(html.includes(HOSTILE), false);
    // No tag came out of it (`onerror=` survives only as text), and every & starts an entity.
    assert.doesNotMatch(html, /<(script|img)\b|&(?!(amp|lt|gt|quot|#39);)/);
    // Every place a hostile string was put shows it escaped: table cells, chart labels, notes.
    const escaped = escapeHtml(HOSTILE);
    const places = html.split(escaped).length - 1;
    assert.ok(places >= 20, `the escaped text appears in many places (${places})`);
    // Quotes are escaped too, so an attribute could not be closed early.
    assert.ok(escaped.includes('&quot;quoted&quot;') && escaped.includes('&#39;alert(1)&#39;'));
  });
});

describe('SVG charts', () => {
  it('draw bars to one scale: the largest fills the span, the others in proportion', () => {
    const svg = barChart({ chart: 'c', title: 't', width: 760, labelWidth: 300, bars: [{ label: 'a', value: 200 }, { label: 'b', value: 100 }, { label: 'c', value: 0 }] });
    const [a, b, c] = barWidths(svg);
    assert.equal(a, 760 - 300 - 110);
    assert.equal(b, (a ?? 0) / 2);
    assert.equal(c, 0);
  });

  it('stack segments in proportion to their values; relative rows all fill the span', () => {
    const svg = stackedBarChart({
      chart: 'c',
      title: 't',
      width: 760,
      labelWidth: 300,
      relative: true,
      series: [
        { name: 'x', color: '#000' },
        { name: 'y', color: '#111' },
      ],
      rows: [
        { label: 'one', values: [3, 1] },
        { label: 'two', values: [1, 0] },
      ],
    });
    const widths = barWidths(svg.replace(/<rect x="[\d.]+" y="[\d.]+" width="10" height="10"[^>]*>/g, ''));
    const span = 760 - 300 - 110;
    assert.deepEqual(widths, [span * 0.75, span * 0.25, span]);
  });

  it('cut long labels with an ellipsis and keep the whole label, escaped, in a title', () => {
    const label = `${'x'.repeat(80)}<b>`;
    const svg = barChart({ chart: 'c', title: 't', bars: [{ label, value: 1 }] });
    assert.match(svg, /<text [^>]*class="label"><title>x{80}&lt;b&gt;<\/title>x+…<\/text>/);
    assert.equal(truncate('abc', 3), 'abc');
    assert.equal(truncate('abcd', 3), 'ab…');
  });
});

describe('formatBytes', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 kB'],
    [1_234_567, '1.23 MB'],
    [60_759_428_057, '60.8 GB'],
    [2e15, '2.00 PB'],
  ];
  for (const [bytes, text] of cases) it(`writes ${bytes} as ${text}`, () => assert.equal(formatBytes(bytes), text));
});
