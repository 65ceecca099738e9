-- wrk script for `bench/crisis.py`'s endpoint phase (not meant to be run by hand).
--
-- KB_WRK_SCENARIO names the endpoint; KB_WRK_TOKENS a file of "token<TAB>extra" lines (one per
-- simulated agent, the extra column is the page path or the content hash the agent sends).
-- Each connection walks the agents from its own offset, so consecutive requests are different
-- agents, as in a wave. `done` prints one JSON line with the figures crisis.py reads.

local scenario = os.getenv("KB_WRK_SCENARIO") or "hello"
local tokens_file = os.getenv("KB_WRK_TOKENS")
local searches = { "hacked%20account", "sim%20swap", "2fa%20reset", "phishing%20email", "passkey",
  "session%20revoke", "refund%20fraud" }
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  agents = {}
  if tokens_file then
    for line in io.lines(tokens_file) do
      local token, extra = line:match("^([^\t]+)\t?(.*)$")
      if token then table.insert(agents, { token = token, extra = extra }) end
    end
  end
  turn = id * 7919
  statuses = {}
  failures = 0
end

local function next_agent()
  turn = turn + 1
  return agents[(turn % #agents) + 1]
end

function request()
  if scenario == "hello" then
    return wrk.format("GET", "/")
  elseif scenario == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  local agent = next_agent()
  local headers = { ["Authorization"] = "Bearer " .. agent.token }
  if scenario == "banner" then
    return wrk.format("GET", "/api/v1/me/banner?path=" .. agent.extra, headers)
  elseif scenario == "reading_list" then
    return wrk.format("GET", "/api/v1/reading-list", headers)
  elseif scenario == "search" then
    return wrk.format("GET", "/api/v1/search?q=" .. searches[(turn % #searches) + 1], headers)
  elseif scenario == "acknowledge" then
    headers["Content-Type"] = "application/json"
    local body = '{"sop_id": "ATO-RECOVERY", "content_hash": "' .. agent.extra .. '"}'
    return wrk.format("POST", "/api/v1/acknowledgements", headers, body)
  end
  error("unknown scenario " .. scenario)
end

function response(status, headers, body)
  if status < 200 or status >= 300 then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("failures") or 0)
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "non_2xx": %d, "socket_errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, failed, socket_errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
