-- Replays prepared requests (one per line, made by bench/seed.py) round-robin.
-- Usage: wrk -t2 -c16 -d8s -s bench/replay.lua http://127.0.0.1:PORT -- requests.tsv 2
-- A line is: method TAB path TAB body TAB header-name TAB header-value ...
-- Thread k of n takes lines k, k+n, k+2n ... so no two threads send the same request, and the
-- prepared pools (a right code, an answer URL, a receipt) are each used once while they last.
-- done() prints one machine-readable line: BENCH_JSON {...} (latencies in microseconds).

local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local function split(s)
  local parts, start = {}, 1
  while true do
    local i = string.find(s, "\t", start, true)
    if not i then
      parts[#parts + 1] = string.sub(s, start)
      return parts
    end
    parts[#parts + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  local lines = {}
  for l in io.lines(file) do
    if l ~= "" then lines[#lines + 1] = l end
  end
  if #lines == 0 then error("no requests in " .. file) end
  reqs = {}
  for i = 1, #lines do
    -- this thread's share; a file shorter than the thread count is shared whole
    if #lines < nthreads or (i - 1) % nthreads == tid then
      local p = split(lines[i])
      local headers = {}
      for h = 4, #p - 1, 2 do headers[p[h]] = p[h + 1] end
      local body = p[3]
      if body == "" then body = nil end
      reqs[#reqs + 1] = wrk.format(p[1], p[2], headers, body)
    end
  end
  n = 0
end

function request()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
