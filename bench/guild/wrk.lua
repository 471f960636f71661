-- wrk script of bench/guild.bench.ts: POSTs the request body in GUILD_WRK_BODY_FILE; with GUILD_WRK_TOKENS_FILE
-- (one JWT a line) each request carries the next token in turn (`Authorization: Bearer …`), so requests in flight
-- at the same time belong to distinct principals. Prints one line `GUILD_WRK_RESULT {json}` at the end
-- (latencies in microseconds).

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local body = slurp(os.getenv("GUILD_WRK_BODY_FILE"))
local tokens = {}
local tokens_file = os.getenv("GUILD_WRK_TOKENS_FILE")
if tokens_file and tokens_file ~= "" then
  for line in io.lines(tokens_file) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
end

local prepared = {}
local next_request = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  if #tokens == 0 then
    prepared[1] = wrk.format("POST", nil, headers, body)
  else
    for i, token in ipairs(tokens) do
      headers["Authorization"] = "Bearer " .. token
      prepared[i] = wrk.format("POST", nil, headers, body)
    end
  end
end

function request()
  next_request = next_request % #prepared + 1
  return prepared[next_request]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'GUILD_WRK_RESULT {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
