-- wrk script: POST pre-generated TokenRequests (36-byte records from
-- `athm_loadgen requests`) to the issuance route, cycling through the records
-- and through the buckets 0..3 (X-Athm-Bucket, trusted from loopback in dev
-- mode). Counts the statuses.
--
--   wrk -t2 -c32 -d20s --latency -s issue.lua http://127.0.0.1:PORT -- REQUESTS_FILE [PATH]
local record = 36
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  bodies = {}
  for i = 1, #data - record + 1, record do
    bodies[#bodies + 1] = data:sub(i, i + record - 1)
  end
  assert(#bodies > 0, "no request records in " .. args[1])
  path = args[2] or "/request"
  idx = tid * 7919
  ok = 0
  other = 0
end

function request()
  idx = idx + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do
    headers[k] = v
  end
  headers["Content-Type"] = "application/private-token-request"
  headers["X-Athm-Bucket"] = tostring(idx % 4)
  return wrk.format("POST", path, headers, bodies[(idx % #bodies) + 1])
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_other = total_other + t:get("other")
  end
  io.write(string.format("lua.status_200=%d\nlua.status_other=%d\n", total_ok, total_other))
end
