// Prometheus' text format, parsed in the browser, and what the deployment charts need from it.

/** [{name, labels, value}] for every sample line. */
export function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Cumulative histogram buckets of `name` for one deployment: [[upperBound, count], ...]. */
export function buckets(samples, name, deployment) {
  return samples
    .filter((s) => s.name === `${name}_bucket` && s.labels.deployment === deployment)
    .map((s) => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

export function total(samples, name, deployment) {
  return samples
    .filter((s) => s.name === name && (!deployment || s.labels.deployment === deployment))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The q-quantile of a (delta) histogram, interpolated inside its bucket, as Prometheus does. */
export function quantile(q, cumulative) {
  if (!cumulative.length) return NaN;
  const count = cumulative[cumulative.length - 1][1];
  if (!count) return NaN;
  const rank = q * count;
  let previousBound = 0;
  let previousCount = 0;
  for (const [bound, seen] of cumulative) {
    if (seen >= rank) {
      if (bound === Infinity) return previousBound;
      const inBucket = seen - previousCount;
      return previousBound + (bound - previousBound) * (inBucket ? (rank - previousCount) / inBucket : 1);
    }
    previousBound = bound;
    previousCount = seen;
  }
  return previousBound;
}

/** The change between two scrapes' bucket lists (counters only grow, so this is the window). */
export function bucketDelta(now, before) {
  const earlier = new Map(before.map(([bound, count]) => [bound, count]));
  return now.map(([bound, count]) => [bound, count - (earlier.get(bound) || 0)]);
}

/** Requests that ended in a 5xx over all requests, on the inference routes. */
export function errorCounts(samples) {
  let errors = 0;
  let all = 0;
  for (const s of samples) {
    if (s.name !== "modelmart_requests_total" || s.labels.method !== "POST") continue;
    all += s.value;
    if (s.labels.status.startsWith("5")) errors += s.value;
  }
  return { errors, all };
}
