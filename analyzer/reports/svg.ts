// The report's charts as inline SVG (no chart library, nothing fetched, no script): horizontal
// bars, grouped bars and stacked bars, each an `<svg data-chart="…" role="img">` with a `<title>`
// and a viewBox, so it scales to the page on screen and on A4. Every label is HTML-escaped here —
// group names come from inventory labels, which anyone who can import an inventory controls.

/** Escapes text for HTML and SVG content and for attribute values (quotes included). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** Cuts a label to `max` characters (by code point) with an ellipsis; the full text goes in a `<title>`. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

export interface Series {
  name: string;
  color: string;
}

export interface ChartFrame {
  /** The `data-chart` name. */
  chart: string;
  /** The `<title>`: what the chart shows, for screen readers and tooltips. */
  title: string;
  width?: number;
  /** Width of the label column. */
  labelWidth?: number;
  /** How a value is written beside its bar. */
  format?: (value: number) => string;
}

const ROW = 22;
const BAR = 14;
const PAD = 8;
const LEGEND = 22;
const VALUE_WIDTH = 110;
const CHARS_PER_PIXEL = 1 / 6.6;

function frame(f: ChartFrame, height: number, body: string): string {
  const width = f.width ?? 760;
  return (
    `<svg data-chart="${escapeHtml(f.chart)}" role="img" viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="xMinYMin meet" class="chart">` +
    `<title>${escapeHtml(f.title)}</title>${body}</svg>`
  );
}

function rowLabel(label: string, y: number, labelWidth: number): string {
  const shown = truncate(label, Math.max(8, Math.floor((labelWidth - PAD) * CHARS_PER_PIXEL)));
  return `<text x="${labelWidth - PAD}" y="${y + BAR - 3}" text-anchor="end" class="label">${shown === label ? '' : `<title>${escapeHtml(label)}</title>`}${escapeHtml(shown)}</text>`;
}

function legend(series: readonly Series[], x: number, y: number): string {
  let at = x;
  let out = '';
  for (const s of series) {
    out += `<rect x="${at}" y="${y}" width="10" height="10" fill="${escapeHtml(s.color)}"/><text x="${at + 14}" y="${y + 9}" class="legend">${escapeHtml(s.name)}</text>`;
    at += 24 + s.name.length * 6.6;
  }
  return out;
}

const scale = (value: number, max: number, span: number): number => (max <= 0 || value <= 0 ? 0 : Math.max(1, (value / max) * span));
const round = (n: number): string => (Math.round(n * 10) / 10).toString();

/** One bar per row; `color` per bar or one for all. O(rows). */
export function barChart(f: ChartFrame & { bars: readonly { label: string; value: number; color?: string }[]; color?: string }): string {
  const width = f.width ?? 760;
  const labelWidth = f.labelWidth ?? 300;
  const span = width - labelWidth - VALUE_WIDTH;
  const max = f.bars.reduce((m, b) => Math.max(m, b.value), 0);
  const format = f.format ?? String;
  let body = '';
  f.bars.forEach((b, i) => {
    const y = PAD + i * ROW;
    const w = scale(b.value, max, span);
    body +=
      `<g class="row">${rowLabel(b.label, y, labelWidth)}` +
      `<rect x="${labelWidth}" y="${y}" width="${round(w)}" height="${BAR}" rx="2" fill="${escapeHtml(b.color ?? f.color ?? '#2563eb')}"><title>${escapeHtml(`${b.label}: ${format(b.value)}`)}</title></rect>` +
      `<text x="${round(labelWidth + w + 6)}" y="${y + BAR - 3}" class="value">${escapeHtml(format(b.value))}</text></g>`;
  });
  return frame(f, PAD * 2 + Math.max(1, f.bars.length) * ROW, body);
}

/** Several bars per row, one per series, side by side (thinner), with a legend. O(rows × series). */
export function groupedBarChart(f: ChartFrame & { series: readonly Series[]; rows: readonly { label: string; values: readonly number[] }[] }): string {
  const width = f.width ?? 760;
  const labelWidth = f.labelWidth ?? 300;
  const span = width - labelWidth - VALUE_WIDTH;
  const n = Math.max(1, f.series.length);
  const bar = n === 1 ? BAR : 9;
  const rowHeight = n * (bar + 2) + 6;
  const max = f.rows.reduce((m, r) => r.values.reduce((mm, v) => Math.max(mm, v), m), 0);
  const format = f.format ?? String;
  let body = legend(f.series, labelWidth, PAD);
  f.rows.forEach((r, i) => {
    const y = PAD + LEGEND + i * rowHeight;
    body += `<g class="row">${rowLabel(r.label, y + (rowHeight - 6) / 2 - BAR / 2, labelWidth)}`;
    f.series.forEach((s, j) => {
      const v = r.values[j] ?? 0;
      const w = scale(v, max, span);
      const by = y + j * (bar + 2);
      body +=
        `<rect x="${labelWidth}" y="${by}" width="${round(w)}" height="${bar}" rx="1" fill="${escapeHtml(s.color)}"><title>${escapeHtml(`${r.label}, ${s.name}: ${format(v)}`)}</title></rect>` +
        `<text x="${round(labelWidth + w + 4)}" y="${by + bar - 1}" class="value small">${escapeHtml(format(v))}</text>`;
    });
    body += '</g>';
  });
  return frame(f, PAD * 2 + LEGEND + Math.max(1, f.rows.length) * rowHeight, body);
}

/**
 * One bar per row made of segments, one per series, with a legend. `relative` draws every row at
 * full width (shares of its own total) — a coverage gauge; otherwise rows share one scale.
 */
export function stackedBarChart(f: ChartFrame & { series: readonly Series[]; rows: readonly { label: string; values: readonly number[]; note?: string }[]; relative?: boolean }): string {
  const width = f.width ?? 760;
  const labelWidth = f.labelWidth ?? 300;
  const span = width - labelWidth - VALUE_WIDTH;
  const totals = f.rows.map((r) => r.values.reduce((a, b) => a + Math.max(0, b), 0));
  const max = totals.reduce((m, t) => Math.max(m, t), 0);
  const format = f.format ?? String;
  let body = legend(f.series, labelWidth, PAD);
  f.rows.forEach((r, i) => {
    const y = PAD + LEGEND + i * ROW;
    const total = totals[i] ?? 0;
    const full = f.relative === true ? (total > 0 ? span : 0) : scale(total, max, span);
    let x = labelWidth;
    body += `<g class="row">${rowLabel(r.label, y, labelWidth)}`;
    if (total === 0) body += `<rect x="${labelWidth}" y="${y}" width="${span}" height="${BAR}" fill="none" stroke="#cbd5e1" stroke-dasharray="3 3"/>`;
    f.series.forEach((s, j) => {
      const v = Math.max(0, r.values[j] ?? 0);
      if (v === 0 || total === 0) return;
      const w = (v / total) * full;
      body += `<rect x="${round(x)}" y="${y}" width="${round(w)}" height="${BAR}" fill="${escapeHtml(s.color)}"><title>${escapeHtml(`${r.label}, ${s.name}: ${format(v)}`)}</title></rect>`;
      x += w;
    });
    body += `<text x="${round(labelWidth + full + 6)}" y="${y + BAR - 3}" class="value">${escapeHtml(r.note ?? format(total))}</text></g>`;
  });
  return frame(f, PAD * 2 + LEGEND + Math.max(1, f.rows.length) * ROW, body);
}
