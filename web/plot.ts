// Line charts on a plain <canvas>: a few series of (x, y) points, axes labelled at their ends, a legend.
// chartAxes and describeChart are pure (tested in Node); drawChart paints.

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  /** Draw dots at the points (for sparse series such as per-epoch values). */
  dots?: boolean;
  width?: number;
}

export interface ChartOptions {
  xLabel: string;
  /** The x axis reaches at least this far (e.g. the run's epochs), so it reads sensibly before any point. */
  xMax?: number;
  /** Fixed y range; default: the data's (0 to 1 before any point). */
  yMin?: number;
  yMax?: number;
  /** y values are fractions shown as percentages. */
  percent?: boolean;
}

export interface Axes {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** The labels at the axes' ends: [x0, x1] and [y0, y1]. */
  xTicks: [string, string];
  yTicks: [string, string];
}

/** Plots keep points this far (CSS px) inside the frame, so a dot on the range's edge is drawn whole. */
const INSET = 6;
const DOT_RADIUS = 3.5;

/** `v` with as many decimals as a range of `span` needs (plain notation, no trailing zeros). */
export function tickLabel(v: number, span: number, percent = false): string {
  const [value, range] = percent ? [100 * v, 100 * span] : [v, span];
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(range)) + 1));
  const text = value.toFixed(decimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '').replace(/^-0$/, '0');
  return percent ? `${text}%` : text;
}

/** Rounds a positive upper bound up to two significant digits (0.2420 → 0.25). */
function niceUp(v: number): number {
  if (!(v > 0)) return v;
  const step = 10 ** (Math.floor(Math.log10(v)) - 1);
  return Math.ceil(v / step - 1e-9) * step;
}

export function chartAxes(series: Series[], opts: ChartOptions): Axes {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const x0 = Math.min(0, ...all.map((p) => p.x));
  const x1 = Math.max(opts.xMax ?? 1, x0 + 1, ...all.map((p) => p.x));
  let y0 = opts.yMin ?? (all.length ? Math.min(...all.map((p) => p.y)) : 0);
  let y1 = opts.yMax ?? (all.length ? niceUp(Math.max(...all.map((p) => p.y))) : 1);
  if (!(y1 - y0 > 1e-6 * Math.max(1, Math.abs(y1)))) {
    const half = Math.abs(y0) * 0.1 || 0.5;
    [y0, y1] = [y0 - half, y0 + half];
  }
  return {
    x0,
    x1,
    y0,
    y1,
    xTicks: [tickLabel(x0, x1 - x0), tickLabel(x1, x1 - x0)],
    yTicks: [tickLabel(y0, y1 - y0, opts.percent), tickLabel(y1, y1 - y0, opts.percent)],
  };
}

/** The chart in words (its accessible name): the axes, then each series' last point. */
export function describeChart(title: string, series: Series[], axes: Axes, opts: ChartOptions): string {
  const range = `${opts.xLabel} ${axes.xTicks[0]} to ${axes.xTicks[1]}, ${axes.yTicks[0]} to ${axes.yTicks[1]}`;
  const last = series
    .filter((s) => s.points.length)
    .map((s) => {
      const p = s.points[s.points.length - 1];
      const y = opts.percent ? `${(100 * p.y).toFixed(2)}%` : p.y.toFixed(4);
      return `${s.label} ${y} at ${opts.xLabel} ${Number(p.x.toFixed(2))}`;
    });
  return `${title} (${range}): ${last.length ? last.join('; ') : 'no points yet'}.`;
}

/** Draws the chart and names it (aria-label) with describeChart; returns its axes. */
export function drawChart(canvas: HTMLCanvasElement, title: string, series: Series[], opts: ChartOptions): Axes {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * dpr)) canvas.width = Math.round(cssW * dpr);
  if (canvas.height !== Math.round(cssH * dpr)) canvas.height = Math.round(cssH * dpr);
  const g = canvas.getContext('2d')!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  g.font = '11px system-ui, sans-serif';

  // Legend entries flow left to right, wrapping: lay them out first to know the top margin.
  const legend: { s: Series; x: number; y: number }[] = [];
  let lx = 44;
  let ly = 12;
  for (const s of series) {
    const width = 18 + g.measureText(s.label).width;
    if (lx > 44 && lx + width > cssW - 10) [lx, ly] = [44, ly + 14];
    legend.push({ s, x: lx, y: ly });
    lx += width + 12;
  }
  const pad = { l: 44, r: 10, t: ly + 8, b: 24 };
  const w = cssW - pad.l - pad.r;
  const h = cssH - pad.t - pad.b;
  const axes = chartAxes(series, opts);
  const { x0, x1, y0, y1 } = axes;
  const X = (x: number) => pad.l + INSET + ((x - x0) / (x1 - x0)) * (w - 2 * INSET);
  const Y = (y: number) => pad.t + INSET + (1 - (y - y0) / (y1 - y0)) * (h - 2 * INSET);

  // Frame, ticks at the axes' ends, labels.
  g.strokeStyle = '#999';
  g.lineWidth = 1;
  g.strokeRect(pad.l, pad.t, w, h);
  g.beginPath();
  for (const x of [X(x0), X(x1)]) {
    g.moveTo(x, pad.t + h);
    g.lineTo(x, pad.t + h + 4);
  }
  for (const y of [Y(y0), Y(y1)]) {
    g.moveTo(pad.l - 4, y);
    g.lineTo(pad.l, y);
  }
  g.stroke();
  g.fillStyle = '#555';
  g.textAlign = 'right';
  g.fillText(axes.yTicks[1], pad.l - 6, Y(y1) + 4);
  g.fillText(axes.yTicks[0], pad.l - 6, Y(y0) + 4);
  g.textAlign = 'center';
  g.fillText(axes.xTicks[0], X(x0), pad.t + h + 15);
  g.fillText(axes.xTicks[1], X(x1), pad.t + h + 15);
  g.fillText(opts.xLabel, pad.l + w / 2, pad.t + h + 15);

  // Legend.
  g.textAlign = 'left';
  for (const { s, x, y } of legend) {
    g.fillStyle = s.color;
    g.fillRect(x, y - 5, 12, 3);
    g.fillStyle = '#333';
    g.fillText(s.label, x + 16, y);
  }

  // Series; a lone point gets a dot even on a line series, so it is seen.
  g.save();
  g.beginPath();
  g.rect(pad.l, pad.t, w, h);
  g.clip();
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = s.width ?? 1.5;
    g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(X(p.x), Y(p.y)) : g.moveTo(X(p.x), Y(p.y))));
    g.stroke();
    if (s.dots || pts.length === 1) {
      for (const p of pts) {
        g.beginPath();
        g.arc(X(p.x), Y(p.y), DOT_RADIUS, 0, 2 * Math.PI);
        g.fill();
      }
    }
  }
  g.restore();
  canvas.setAttribute('aria-label', describeChart(title, series, axes, opts));
  return axes;
}
