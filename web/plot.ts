// Line charts on a plain <canvas>: a few series of (x, y) points, axes with min/max labels, a legend.

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
  /** Fixed y range; default: the data's. */
  yMin?: number;
  yMax?: number;
}

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

export function drawChart(canvas: HTMLCanvasElement, series: Series[], opts: ChartOptions): void {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(cssW * dpr)) canvas.width = Math.round(cssW * dpr);
  if (canvas.height !== Math.round(cssH * dpr)) canvas.height = Math.round(cssH * dpr);
  const g = canvas.getContext('2d')!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  g.font = '11px system-ui, sans-serif';

  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
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
  const x0 = Math.min(0, ...all.map((p) => p.x));
  const x1 = Math.max(x0 + 1e-9, ...all.map((p) => p.x));
  let y0 = opts.yMin ?? Math.min(...all.map((p) => p.y));
  let y1 = opts.yMax ?? Math.max(...all.map((p) => p.y));
  if (!all.length) [y0, y1] = [opts.yMin ?? 0, opts.yMax ?? 1];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * w;
  const Y = (y: number) => pad.t + (1 - (y - y0) / (y1 - y0)) * h;

  // Axes and labels.
  g.strokeStyle = '#999';
  g.lineWidth = 1;
  g.strokeRect(pad.l, pad.t, w, h);
  g.fillStyle = '#555';
  g.textAlign = 'right';
  g.fillText(fmt(y1), pad.l - 4, pad.t + 9);
  g.fillText(fmt(y0), pad.l - 4, pad.t + h);
  g.textAlign = 'left';
  g.fillText(fmt(x0), pad.l, pad.t + h + 14);
  g.textAlign = 'right';
  g.fillText(fmt(x1), pad.l + w, pad.t + h + 14);
  g.textAlign = 'center';
  g.fillText(opts.xLabel, pad.l + w / 2, pad.t + h + 14);

  // Legend.
  g.textAlign = 'left';
  for (const { s, x, y } of legend) {
    g.fillStyle = s.color;
    g.fillRect(x, y - 5, 12, 3);
    g.fillStyle = '#333';
    g.fillText(s.label, x + 16, y);
  }

  // Series.
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
    if (s.dots) for (const p of pts) g.fillRect(X(p.x) - 2.5, Y(p.y) - 2.5, 5, 5);
  }
  g.restore();
}
