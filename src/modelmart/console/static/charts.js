// Small inline SVG charts. The markup goes through the HTML parser, which puts <svg> in
// its namespace by itself; every value written into it is a number or escaped text.
const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"];

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function frame(label, width, height, body, legend) {
  const wrapper = document.createElement("figure");
  wrapper.className = "chart";
  wrapper.innerHTML =
    `<svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escape(label)}">` +
    `${body}</svg><figcaption>${escape(label)}${legend}</figcaption>`;
  return wrapper;
}

function bounds(values) {
  const finite = values.filter(Number.isFinite);
  const max = finite.length ? Math.max(...finite) : 1;
  const min = finite.length ? Math.min(0, ...finite) : 0;
  return [min, max > min ? max : min + 1];
}

// The legend's colours are classes (style.css), not style attributes: the console's
// Content-Security-Policy allows no inline style.
function legendOf(series) {
  if (series.length < 2) return "";
  return series.map((s, i) =>
    ` <span class="key series-${i % PALETTE.length}">■ ${escape(s.name)}</span>`).join("");
}

/** Lines over x = 0..n-1; `series` is [{name, values: [y, ...]}]. */
export function lineChart(label, series, { width = 320, height = 120 } = {}) {
  const pad = 28;
  const all = series.flatMap((s) => s.values);
  const [min, max] = bounds(all);
  const longest = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => pad + (i * (width - pad - 4)) / (longest - 1);
  const y = (v) => height - 14 - ((v - min) * (height - 22)) / (max - min);
  let body = `<line x1="${pad}" y1="${height - 14}" x2="${width}" y2="${height - 14}" class="axis"/>` +
    `<text x="0" y="12" class="tick">${escape(+max.toPrecision(3))}</text>` +
    `<text x="0" y="${height - 14}" class="tick">${escape(+min.toPrecision(3))}</text>`;
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null))
      .filter(Boolean).join(" ");
    body += `<polyline fill="none" stroke="${PALETTE[index % PALETTE.length]}" stroke-width="2" points="${points}"/>`;
  });
  if (!all.some(Number.isFinite)) body += `<text x="${width / 2}" y="${height / 2}" class="tick" text-anchor="middle">no data yet</text>`;
  return frame(label, width, height, body, legendOf(series));
}

/** Vertical bars; `bars` is [{label, value}]. */
export function barChart(label, bars, { width = 640, height = 160 } = {}) {
  const [, max] = bounds(bars.map((b) => b.value));
  const slot = (width - 10) / Math.max(1, bars.length);
  let body = `<line x1="0" y1="${height - 20}" x2="${width}" y2="${height - 20}" class="axis"/>`;
  const barWidth = Math.min(slot * 0.7, 64);
  const characters = Math.max(4, Math.floor(slot / 6));
  bars.forEach((bar, i) => {
    const barHeight = ((height - 36) * bar.value) / max;
    const middle = 5 + i * slot + slot / 2;
    body += `<rect x="${(middle - barWidth / 2).toFixed(1)}" y="${(height - 20 - barHeight).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${PALETTE[0]}"><title>${escape(bar.label)}: ${escape(bar.value)}</title></rect>` +
      `<text x="${middle.toFixed(1)}" y="${height - 6}" class="tick" text-anchor="middle">${escape(bar.label.slice(0, characters))}</text>` +
      `<text x="${middle.toFixed(1)}" y="${(height - 24 - barHeight).toFixed(1)}" class="tick" text-anchor="middle">${escape(+Number(bar.value).toPrecision(4))}</text>`;
  });
  return frame(label, width, height, body, "");
}

/** Boxes (and optional labels) drawn over an image, in the image's pixels. */
export function boxesOver(imageUrl, width, height, shapes) {
  const body = `<image href="${escape(imageUrl)}" width="${width}" height="${height}"/>` +
    shapes.map((shape) =>
      `<polygon points="${shape.points.map((p) => p.map(Number).join(",")).join(" ")}" class="box"/>` +
      (shape.label ? `<text x="${Number(shape.points[0][0])}" y="${Math.max(12, Number(shape.points[0][1]) - 4)}" class="box-label">${escape(shape.label)}</text>` : "")).join("");
  return frame(`${shapes.length} region(s) found`, width, height, body, "");
}
