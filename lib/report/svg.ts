/**
 * The report's plots as inline SVG text, pure. Five kinds of layer cover what the report draws
 * (lines with points, points alone, bars, box plots, horizontal rules). Every data mark carries
 * class="mark" and data-layer, so a test (or a person with the browser's inspector) can count
 * them. Text goes through escapeXml: names and labels from the cursor stay text.
 */
import { scaleOf, tickLabel, type Scale } from './scale.js';
import { escapeXml } from './escape.js';

export interface Box { x: number; min: number; q1: number; median: number; q3: number; max: number; n: number }

export type Layer =
  /** markers: a point at each value (default); a long curve goes without (its polyline says data-points). */
  | { kind: 'line'; name: string; color: string; points: Array<[number, number]>; dash?: boolean; markers?: boolean }
  | { kind: 'points'; name: string; color: string; points: Array<[number, number]>; titles?: string[] }
  | { kind: 'bars'; name: string; color: string; bars: Array<[number, number]> }
  | { kind: 'boxes'; name: string; color: string; boxes: Box[] }
  | { kind: 'rule'; name: string; color: string; y: number };

export interface PlotSpec {
  id: string;
  title: string;
  x: { label: string; integer?: boolean; log?: boolean };
  y: { label: string; log?: boolean; zero?: boolean };
  layers: Layer[];
  width?: number;
  height?: number;
}

const M = { left: 62, right: 14, top: 40, bottom: 42 };

function xValues(l: Layer): number[] {
  if (l.kind === 'line' || l.kind === 'points') return l.points.map((p) => p[0]);
  if (l.kind === 'bars') return l.bars.flatMap((b) => [b[0] - 0.5, b[0] + 0.5]);
  if (l.kind === 'boxes') return l.boxes.flatMap((b) => [b.x - 0.5, b.x + 0.5]);
  return [];
}

function yValues(l: Layer): number[] {
  if (l.kind === 'line' || l.kind === 'points') return l.points.map((p) => p[1]);
  if (l.kind === 'bars') return l.bars.map((b) => b[1]);
  if (l.kind === 'boxes') return l.boxes.flatMap((b) => [b.min, b.max]);
  return [l.y];
}

const f1 = (v: number) => v.toFixed(1);

function layerSvg(l: Layer, x: Scale, y: Scale, step: number): string {
  const attrs = `class="mark" data-layer="${escapeXml(l.name)}"`;
  const yBase = y.log ? y(y.domain[0]) : y(Math.max(0, y.domain[0]));
  switch (l.kind) {
    case 'line': {
      const pts = l.points.map(([a, b]) => `${f1(x(a))},${f1(y(b))}`).join(' ');
      const line = `<polyline class="line" data-layer="${escapeXml(l.name)}" data-points="${l.points.length}" fill="none" stroke="${l.color}" stroke-width="2"${l.dash === true ? ' stroke-dasharray="5 4"' : ''} points="${pts}"/>`;
      const marks = l.markers === false ? '' : l.points.map(([a, b]) => `<circle ${attrs} cx="${f1(x(a))}" cy="${f1(y(b))}" r="3.5" fill="${l.color}"><title>${escapeXml(`${l.name}: ${tickLabel(a)}, ${b.toPrecision(4)}`)}</title></circle>`).join('');
      return line + marks;
    }
    case 'points':
      return l.points.map(([a, b], k) => `<circle ${attrs} cx="${f1(x(a))}" cy="${f1(y(b))}" r="3.5" fill="${l.color}" fill-opacity="0.6">${l.titles?.[k] === undefined ? '' : `<title>${escapeXml(l.titles[k])}</title>`}</circle>`).join('');
    case 'bars': {
      const w = Math.max(2, step * 0.6);
      return l.bars.map(([a, b]) => `<rect ${attrs} x="${f1(x(a) - w / 2)}" y="${f1(Math.min(y(b), yBase))}" width="${f1(w)}" height="${f1(Math.abs(yBase - y(b)))}" fill="${l.color}"><title>${escapeXml(`${l.name}: ${tickLabel(a)}, ${b.toPrecision(4)}`)}</title></rect>`).join('');
    }
    case 'boxes': {
      const w = Math.max(4, step * 0.5);
      return l.boxes.map((b) => {
        const cx = x(b.x);
        const title = `<title>${escapeXml(`${l.name} ${tickLabel(b.x)}: ${b.n} frames; min ${b.min.toPrecision(3)}, quartiles ${b.q1.toPrecision(3)} / ${b.median.toPrecision(3)} / ${b.q3.toPrecision(3)}, max ${b.max.toPrecision(3)}`)}</title>`;
        return `<g ${attrs}>${title}<line x1="${f1(cx)}" x2="${f1(cx)}" y1="${f1(y(b.min))}" y2="${f1(y(b.max))}" stroke="${l.color}"/>` +
          `<rect x="${f1(cx - w / 2)}" y="${f1(y(b.q3))}" width="${f1(w)}" height="${f1(Math.max(1, y(b.q1) - y(b.q3)))}" fill="${l.color}" fill-opacity="0.35" stroke="${l.color}"/>` +
          `<line x1="${f1(cx - w / 2)}" x2="${f1(cx + w / 2)}" y1="${f1(y(b.median))}" y2="${f1(y(b.median))}" stroke="${l.color}" stroke-width="2"/></g>`;
      }).join('');
    }
    case 'rule':
      return `<line class="rule" data-layer="${escapeXml(l.name)}" x1="${f1(x(x.domain[0]))}" x2="${f1(x(x.domain[1]))}" y1="${f1(y(l.y))}" y2="${f1(y(l.y))}" stroke="${l.color}" stroke-dasharray="2 3"/>`;
  }
}

function axes(x: Scale, y: Scale, spec: PlotSpec, w: number, h: number, top: number): string {
  const grid = y.ticks.map((t) => `<line x1="${M.left}" x2="${w - M.right}" y1="${f1(y(t))}" y2="${f1(y(t))}" stroke="#e3e3e3"/><text x="${M.left - 6}" y="${f1(y(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`).join('');
  const xticks = x.ticks.map((t) => `<line x1="${f1(x(t))}" x2="${f1(x(t))}" y1="${h - M.bottom}" y2="${h - M.bottom + 4}" stroke="#555"/><text x="${f1(x(t))}" y="${h - M.bottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`).join('');
  return `<g class="axes" font-size="11" fill="#333">${grid}${xticks}` +
    `<line x1="${M.left}" x2="${w - M.right}" y1="${h - M.bottom}" y2="${h - M.bottom}" stroke="#555"/><line x1="${M.left}" x2="${M.left}" y1="${top}" y2="${h - M.bottom}" stroke="#555"/>` +
    `<text x="${f1((M.left + w - M.right) / 2)}" y="${h - 6}" text-anchor="middle">${escapeXml(spec.x.label)}</text>` +
    `<text transform="translate(14 ${f1((top + h - M.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(spec.y.label)}</text></g>`;
}

/** The legend under the title, left to right, wrapping into rows; returns its SVG and its height. */
function legend(layers: readonly Layer[], w: number): { svg: string; height: number } {
  const named = layers.filter((l) => l.name !== '');
  if (named.length < 2) return { svg: '', height: 0 };
  let x = M.left;
  let row = 0;
  const items = named.map((l) => {
    const width = 18 + 6.5 * l.name.length;
    if (x + width > w - M.right && x > M.left) {
      x = M.left;
      row++;
    }
    const item = `<g transform="translate(${f1(x)} ${32 + 15 * row})"><rect width="12" height="10" y="-9" fill="${l.color}"/><text x="16">${escapeXml(l.name)}</text></g>`;
    x += width + 10;
    return item;
  });
  return { svg: `<g class="legend" font-size="11" fill="#333">${items.join('')}</g>`, height: 15 * row };
}

/** One plot as an <svg> element; a plot with no data says so instead of drawing empty axes. */
export function plotSvg(spec: PlotSpec): string {
  const w = spec.width ?? 560;
  const h = spec.height ?? 300;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" id="${escapeXml(spec.id)}" class="plot" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" role="img" aria-label="${escapeXml(spec.title)}">` +
    `<text x="${M.left}" y="16" font-size="13" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`;
  const data = spec.layers.filter((l) => l.kind !== 'rule' && yValues(l).length > 0);
  if (data.length === 0) return `${head}<text class="empty" x="${w / 2}" y="${h / 2}" text-anchor="middle" font-size="12" fill="#777">no data</text></svg>`;
  const key = legend(spec.layers, w);
  const top = M.top + key.height;
  const x = scaleOf(spec.layers.flatMap(xValues), [M.left + 8, w - M.right - 8], { log: spec.x.log, ticks: 6, integer: spec.x.integer });
  const y = scaleOf(spec.layers.flatMap(yValues), [h - M.bottom, top + 8], { log: spec.y.log, zero: spec.y.zero });
  const xs = [...new Set(data.flatMap((l) => (l.kind === 'bars' ? l.bars.map((b) => b[0]) : l.kind === 'boxes' ? l.boxes.map((b) => b.x) : [])))].sort((a, b) => a - b);
  const step = xs.length > 1 ? Math.min(...xs.slice(1).map((v, k) => x(v) - x(xs[k]))) : (w - M.left - M.right) / 4;
  return `${head}${axes(x, y, spec, w, h, top)}${key.svg}<g class="layers">${spec.layers.map((l) => layerSvg(l, x, y, step)).join('')}</g></svg>`;
}
