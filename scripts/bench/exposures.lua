-- wrk script: flagd's POST /v1/exposures, one used flag (its key given as the
-- first script argument) for 1,000 users in turn, bodies built once up front.
local bodies = {}
local i = 0
local token = os.getenv("BENCH_TOKEN")

function init(args)
  wrk.method = "POST"
  wrk.path = "/v1/exposures"
  wrk.headers["Content-Type"] = "application/json"
  if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
  for u = 1, 1000 do
    bodies[u] = '{"context":{"targetingKey":"user_' .. u .. '","plan":"pro"},"flags":[{"key":"' .. args[1] .. '"}]}'
  end
end

function request()
  i = i % 1000 + 1
  return wrk.format(nil, nil, nil, bodies[i])
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
