-- wrk script: POST the JSON bodies of a file (one per line, named after "--" on the wrk
-- command line) in turn, and print one machine-readable summary line when the run ends.
-- Requests are formatted once, in init, so the per-request cost in wrk is a table lookup.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local requests = {}
local position = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format(nil, nil, nil, line)
    end
  end
  assert(#requests > 0, "no request bodies in " .. tostring(args[1]))
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "status_errors": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout))
end
