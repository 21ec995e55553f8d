-- wrk script: POSTs to the path given as the first script argument, a
-- different targetingKey on every request, as real traffic is (a fixed set
-- of users would flatter caches). The body is an OFREP evaluation context;
-- with a flag key as the second argument, an exposure report of that flag
-- (POST /v1/exposures).
local token = os.getenv("BENCH_TOKEN")
local threads = 0
local n = 0
local prefix = "u"
local flag = nil

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  wrk.method = "POST"
  wrk.path = args[1]
  wrk.headers["Content-Type"] = "application/json"
  if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
  prefix = "user_" .. (tid or 0) .. "_"
  flag = args[2]
end

function request()
  n = n + 1
  local context = '{"targetingKey":"' .. prefix .. n .. '","plan":"pro"}'
  if flag then
    return wrk.format(nil, nil, nil, '{"context":' .. context .. ',"flags":[{"key":"' .. flag .. '"}]}')
  end
  return wrk.format(nil, nil, nil, '{"context":' .. context .. '}')
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
