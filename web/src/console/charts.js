// Live line charts with uPlot (https://github.com/leeoniya/uPlot, MIT): ~50 KB minified, no
// dependencies, draws on one canvas and appends a point a second without re-laying out the
// page — what a chart updated every second for hours needs. (Chart.js is 4x the size and
// animates by default; a hand-made SVG would need its own axes, scales and tooltips.)
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Seconds of history the charts keep and show (one point a second). */
export const HISTORY_S = 180;

/** Series colours, readable on the light and the dark background. */
export const PALETTE = ['#2f7fd8', '#e0792b', '#2fa36b', '#c2417a', '#8a63d2', '#b49a1a', '#3aa5b5', '#d14b3b'];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** A line chart of named series over the last HISTORY_S seconds. */
export class LiveChart {
  /**
   * `el`: where it goes; `labels()`: the series' labels now (called again on a locale
   * change); `options.unit` formats the y axis.
   */
  constructor(el, labels, { unit = '', fill = false } = {}) {
    this.el = el;
    this.labels = labels;
    this.unit = unit;
    this.fill = fill;
    this.xs = [];
    this.ys = labels().map(() => []);
    this.plot = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(el);
    this.build();
  }

  size() {
    const width = Math.max(200, Math.floor(this.el.clientWidth));
    return { width, height: Math.round(Math.min(220, Math.max(150, width * 0.42))) };
  }

  build() {
    this.plot?.destroy();
    const text = cssVar('--muted') || '#555';
    const grid = cssVar('--border') || '#ccc';
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const labels = this.labels();
    const unit = this.unit;
    const clock = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hour12: false,
    });
    this.plot = new uPlot(
      {
        ...this.size(),
        // Labels only: values under the cursor would make the legend jump every second.
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        // The last HISTORY_S seconds, scrolling: a fresh chart does not zoom into a second.
        scales: {
          x: {
            time: true,
            range: (u, min, max) => {
              const end = max ?? Date.now() / 1000;
              return [end - HISTORY_S, end];
            },
          },
          y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] },
        },
        axes: [
          // Clock times only (the date would repeat on every chart).
          { ...axis, space: 70, values: (u, ticks) => ticks.map((v) => clock.format(new Date(v * 1000))) },
          { ...axis, size: 52, values: (u, ticks) => ticks.map((v) => `${+v.toFixed(2)}${unit}`) },
        ],
        series: [
          {},
          ...labels.map((label, i) => ({
            label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            fill: this.fill ? `${PALETTE[i % PALETTE.length]}22` : undefined,
            value: (u, v) => (v == null ? '–' : `${+v.toFixed(2)}${unit}`),
          })),
        ],
      },
      [this.xs, ...this.ys],
      this.el,
    );
  }

  resize() {
    if (this.plot && this.el.clientWidth > 0) this.plot.setSize(this.size());
  }

  /** Add one point per series at `t` (seconds); old points beyond HISTORY_S go. */
  push(t, values) {
    this.xs.push(t);
    values.forEach((v, i) => this.ys[i].push(v));
    while (this.xs.length && this.xs[0] < t - HISTORY_S) {
      this.xs.shift();
      for (const y of this.ys) y.shift();
    }
    this.plot.setData([this.xs, ...this.ys]);
  }

  /** The series changed (a new runtime's pool): rebuild with the history kept, 0 before. */
  setSeries(labels, keyOf, oldKeys) {
    const old = new Map(oldKeys.map((k, i) => [k, this.ys[i]]));
    this.labels = labels;
    this.ys = keyOf.map((k) => old.get(k) || this.xs.map(() => null));
    this.build();
  }
}
