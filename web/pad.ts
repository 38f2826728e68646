// A drawing pad: white strokes on black with the mouse, a pen or a finger (pointer events).
// `onChange` is called at most once per animation frame while drawing, and after a clear.

export class DrawingPad {
  private readonly g: CanvasRenderingContext2D;
  private last: { x: number; y: number } | null = null;
  private pending = false;

  constructor(readonly canvas: HTMLCanvasElement, private readonly onChange: () => void, readonly lineWidth = 22) {
    this.g = canvas.getContext('2d', { willReadFrequently: true })!;
    canvas.style.touchAction = 'none'; // a finger draws instead of scrolling the page
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.last = this.point(e);
      this.stroke(this.last, this.last);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.last) return;
      const p = this.point(e);
      this.stroke(this.last, p);
      this.last = p;
    });
    const end = () => {
      this.last = null;
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    this.clear();
  }

  clear(): void {
    this.g.fillStyle = '#000';
    this.g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.changed();
  }

  /** The drawing as RGBA bytes. */
  pixels(): ImageData {
    return this.g.getImageData(0, 0, this.canvas.width, this.canvas.height);
  }

  private point(e: PointerEvent) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * this.canvas.width) / r.width, y: ((e.clientY - r.top) * this.canvas.height) / r.height };
  }

  private stroke(a: { x: number; y: number }, b: { x: number; y: number }): void {
    const g = this.g;
    g.strokeStyle = '#fff';
    g.lineWidth = this.lineWidth;
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.beginPath();
    g.moveTo(a.x, a.y);
    g.lineTo(b.x, b.y);
    g.stroke();
    this.changed();
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.onChange();
    });
  }
}
