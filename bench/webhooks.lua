-- Sends each prepared webhook delivery once; the file holds one "signature<TAB>body" per line.
-- Run with one wrk thread (-t1); extra requests after the last delivery are cheap health checks.
local path = os.getenv("WEBHOOK_STREAM")

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  requests = {}
  for line in io.lines(path) do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = wrk.format("POST", "/api/webhooks/stripe",
      {["Content-Type"] = "application/json", ["Stripe-Signature"] = line:sub(1, tab - 1)},
      line:sub(tab + 1))
  end
  idle = wrk.format("GET", "/api/health")
  -- wrk calls request() once after init to inspect it (script_verify_request): sent starts at
  -- -1 so that call does not use up a delivery.
  sent, answered, failed = -1, 0, 0
  io.write("ready\n"); io.flush()
end

function request()
  sent = sent + 1
  return requests[math.max(sent, 1)] or idle
end

function response(status, headers, body)
  if body:find('"event_id"', 1, true) or status ~= 200 then
    answered = answered + 1
    if status ~= 200 then failed = failed + 1 end
    if answered == #requests then io.write("done\n"); io.flush() end
  end
end

function done(summary, latency, requests)
  local failures = 0
  for _, thread in ipairs(threads) do failures = failures + thread:get("failed") end
  io.write(string.format("failed %d\n", failures))
  io.write(string.format("p50 %d\np99 %d\n", latency:percentile(50), latency:percentile(99)))
end
