/**
 * Goodput against loss as an SVG line chart, written by hand (no dependency): one line per
 * protocol, loss rates as evenly spaced categories (0% has no place on a log axis), the link rate
 * as the top of the axis. Pure (test/bench/wan-chart.test.ts).
 */
export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  /** Goodput in Mbit/s at each of the chart's loss rates, null where the run gave no number. */
  readonly values: readonly (number | null)[];
}

export interface ChartInput {
  readonly title: string;
  readonly lossPercents: readonly number[];
  readonly linkMbit: number;
  readonly series: readonly ChartSeries[];
  /** A line under the chart: where and when the numbers come from. */
  readonly caption: string;
}

const WIDTH = 640;
const HEIGHT = 400;
const PLOT = { left: 64, right: 170, top: 44, bottom: 76 } as const;
const GRID_STEPS = 5;

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
const n = (v: number): string => String(Math.round(v * 10) / 10);

export function goodputChart(input: ChartInput): string {
  const plotW = WIDTH - PLOT.left - PLOT.right;
  const plotH = HEIGHT - PLOT.top - PLOT.bottom;
  const count = input.lossPercents.length;
  const x = (i: number): number => PLOT.left + (count <= 1 ? plotW / 2 : (i * plotW) / (count - 1));
  const top = input.linkMbit > 0 ? input.linkMbit : 1;
  // Values above the link rate (measurement noise) are drawn at the top edge rather than off the chart.
  const y = (mbit: number): number => PLOT.top + plotH - (Math.min(Math.max(mbit, 0), top) / top) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(input.title)}</text>`,
  ];
  for (let step = 0; step <= GRID_STEPS; step++) {
    const mbit = (top * step) / GRID_STEPS;
    parts.push(`<line x1="${PLOT.left}" y1="${n(y(mbit))}" x2="${PLOT.left + plotW}" y2="${n(y(mbit))}" stroke="#dddddd"/>`,
      `<text x="${PLOT.left - 8}" y="${n(y(mbit) + 4)}" text-anchor="end">${n(mbit)}</text>`);
  }
  input.lossPercents.forEach((loss, i) => {
    parts.push(`<text x="${n(x(i))}" y="${PLOT.top + plotH + 18}" text-anchor="middle">${escapeXml(`${loss}%`)}</text>`);
  });
  parts.push(
    `<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.top + plotH}" stroke="#333333"/>`,
    `<line x1="${PLOT.left}" y1="${PLOT.top + plotH}" x2="${PLOT.left + plotW}" y2="${PLOT.top + plotH}" stroke="#333333"/>`,
    `<text x="${PLOT.left + plotW / 2}" y="${PLOT.top + plotH + 38}" text-anchor="middle">random loss, each direction</text>`,
    `<text transform="translate(18 ${PLOT.top + plotH / 2}) rotate(-90)" text-anchor="middle">goodput, Mbit/s</text>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 10}" text-anchor="middle" font-size="10" fill="#555555">${escapeXml(input.caption)}</text>`,
  );
  input.series.forEach((s, k) => {
    const points = s.values.flatMap((v, i) => (v === null || !Number.isFinite(v) ? [] : [[x(i), y(v)] as const]));
    if (points.length > 1) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.map(([px, py]) => `${n(px)},${n(py)}`).join(' ')}"/>`);
    }
    for (const [px, py] of points) parts.push(`<circle cx="${n(px)}" cy="${n(py)}" r="3.5" fill="${s.color}"/>`);
    const ly = PLOT.top + 10 + k * 22;
    const lx = PLOT.left + plotW + 16;
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${lx + 28}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
