-- wrk script for bench/ingest.py: every request is a distinct, pre-signed Zendesk webhook.
-- args: <bodies file> <thread count>; each line of the file is "signature<TAB>timestamp<TAB>body".
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  requests_made, statuses_ok, statuses_bad, wrapped = 0, 0, 0, 0
  bodies = {}
  local nthreads, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local sig, ts, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(bodies, wrk.format("POST", nil, {["Content-Type"] = "application/json",
        ["X-Zendesk-Webhook-Signature"] = sig, ["X-Zendesk-Webhook-Signature-Timestamp"] = ts}, body))
    end
    i = i + 1
  end
end

function request()
  requests_made = requests_made + 1
  if requests_made > #bodies then wrapped = wrapped + 1 end
  return bodies[(requests_made - 1) % #bodies + 1]
end

function response(status, headers, body)
  if status == tonumber(os.getenv("BENCH_EXPECT")) then statuses_ok = statuses_ok + 1
  else statuses_bad = statuses_bad + 1 end
end

function done(summary, latency, requests)
  local ok, bad, wraps = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok, bad, wraps = ok + thread:get("statuses_ok"), bad + thread:get("statuses_bad"), wraps + thread:get("wrapped")
  end
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "ok": %d, "bad": %d, ' ..
    '"wrapped": %d, "socket_errors": %d}\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, ok, bad, wraps,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
