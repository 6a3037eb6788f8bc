/** A one-line progress bar on a terminal stream; silent when disabled (not a TTY). */
export class ProgressBar {
  private lastRender = 0;
  private shown = false;
  private readonly started = Date.now();
  private current = 0;
  private note = '';

  constructor(
    private readonly stream: NodeJS.WritableStream & { columns?: number },
    /** 0 while unknown: the bar then shows elapsed time only. */
    private total: number,
    private readonly label: string,
    readonly enabled: boolean,
  ) {}

  setTotal(total: number): void {
    this.total = total;
  }

  /** Redraws now (an elapsed-time tick while nothing else happens). */
  redraw(): void {
    if (this.enabled) this.render();
  }

  update(current: number, note = ''): void {
    this.current = current;
    this.note = note;
    if (!this.enabled) return;
    const now = Date.now();
    // At most 10 redraws a second: a fast loop must not spend its time drawing.
    if (now - this.lastRender < 100 && current < this.total) return;
    this.lastRender = now;
    this.render();
  }

  private render(): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const frac = this.total > 0 ? Math.min(1, this.current / this.total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = frac > 0 && frac < 1 ? ` eta ${formatSecs((elapsed / frac) * (1 - frac))}` : '';
    const line =
      this.total > 0
        ? `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.current}/${this.total} ${this.note} ${formatSecs(elapsed)}${eta}`
        : `${this.label} ${'|/-\\'[Math.floor(elapsed * 4) % 4]} ${formatSecs(elapsed)} ${this.note}`;
    const cols = this.stream.columns ?? 100;
    this.stream.write(`\r\x1b[2K${line.slice(0, Math.max(10, cols - 1))}`);
    this.shown = true;
  }

  /** Erases the bar so other output can be written cleanly; the next update draws it again. */
  clear(): void {
    if (!this.enabled || !this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
    this.lastRender = 0;
  }

  /** Draws the final state and ends the line. */
  done(): void {
    if (!this.enabled) return;
    this.render();
    this.stream.write('\n');
    this.shown = false;
  }
}

function formatSecs(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
