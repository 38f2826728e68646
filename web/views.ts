// DOM views: probability bars, the confusion matrix, a grid of images.

/** Draws a rows×cols gray image (0 = black) onto a canvas of that size (CSS scales it up). */
export function drawGray(canvas: HTMLCanvasElement, pixels: Uint8Array, rows: number, cols: number): void {
  canvas.width = cols;
  canvas.height = rows;
  const g = canvas.getContext('2d')!;
  const img = g.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) {
    img.data.set([pixels[i], pixels[i], pixels[i], 255], 4 * i);
  }
  g.putImageData(img, 0, 0);
}

/** The first convolution's filters (weight [out, in, k, k], PyTorch's layout) as small images, one per output
 *  channel (its input channels averaged), each scaled so that 0 is mid-grey and the largest |weight| white or black. */
export function renderFilters(el: HTMLElement, weight: { shape: number[]; data: Float32Array }): void {
  const [out, inC, k] = weight.shape;
  el.setAttribute('aria-label', `${out} filters of ${k}×${k}${inC > 1 ? ` (${inC} input channels averaged)` : ''}`);
  el.replaceChildren(
    ...Array.from({ length: out }, (_, o) => {
      const f = new Float32Array(k * k);
      for (let c = 0; c < inC; c++) for (let i = 0; i < k * k; i++) f[i] += weight.data[(o * inC + c) * k * k + i] / inC;
      const scale = Math.max(...f.map(Math.abs)) || 1;
      const canvas = document.createElement('canvas');
      canvas.className = 'filter';
      drawGray(canvas, Uint8Array.from(f, (v) => Math.round(127.5 + (127.5 * v) / scale)), k, k);
      return canvas;
    }),
  );
}

export function renderProbabilities(el: HTMLElement, probs: Float32Array): void {
  el.replaceChildren(
    ...[...probs].map((p, c) => {
      const row = document.createElement('div');
      row.className = 'prob';
      row.innerHTML = `<span class="cls">${c}</span><span class="bar"><span style="width:${(100 * p).toFixed(1)}%"></span></span><span class="pct">${(100 * p).toFixed(1)}%</span>`;
      return row;
    }),
  );
}

/** confusion[label * classes + predicted] as a table with row and column headers, cells shaded by their share of the row. */
export function renderConfusion(el: HTMLElement, confusion: Int32Array, classes: number): void {
  const th = (text: string, scope: 'row' | 'col') => {
    const h = document.createElement('th');
    h.scope = scope;
    h.textContent = text;
    return h;
  };
  const table = document.createElement('table');
  table.className = 'confusion';
  table.createCaption().textContent = 'Confusion matrix: rows are the true labels, columns the predictions';
  const head = table.createTHead().insertRow();
  head.append(th('label \\ predicted', 'col'), ...Array.from({ length: classes }, (_, c) => th(String(c), 'col')));
  const body = table.createTBody();
  for (let r = 0; r < classes; r++) {
    const row = body.insertRow();
    row.append(th(String(r), 'row'));
    let total = 0;
    for (let c = 0; c < classes; c++) total += confusion[r * classes + c];
    for (let c = 0; c < classes; c++) {
      const v = confusion[r * classes + c];
      const cell = row.insertCell();
      cell.textContent = String(v);
      const share = total ? v / total : 0;
      cell.style.background = r === c ? `rgba(40, 140, 60, ${0.15 + 0.6 * share})` : v ? `rgba(200, 40, 40, ${Math.min(0.8, 0.1 + 4 * share)})` : '';
    }
  }
  el.replaceChildren(table);
}

export function renderImageGrid(el: HTMLElement, items: { pixels: Uint8Array; caption: string; title: string }[], rows: number, cols: number): void {
  el.replaceChildren(
    ...items.map((it) => {
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      drawGray(canvas, it.pixels, rows, cols);
      const cap = document.createElement('figcaption');
      cap.textContent = it.caption;
      fig.title = it.title;
      fig.append(canvas, cap);
      return fig;
    }),
  );
}
