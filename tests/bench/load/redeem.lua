-- wrk script: POST distinct pre-generated tokens (132-byte records from
-- `athm_loadgen mint` or `athm_loadgen tokens`) to /redeem on the internal
-- listener. Thread k of T sends records k, k+T, k+2T, ... so that no token is
-- sent twice while records last; after that a thread starts over and the
-- daemon answers 409, which is counted separately.
--
--   wrk -t2 -c32 -d20s --latency -s redeem.lua http://127.0.0.1:PORT -- TOKENS_FILE THREADS
local record = 132
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local nthreads = tonumber(args[2] or "1")
  tokens = {}
  local i = 0
  for off = 1, #data - record + 1, record do
    if i % nthreads == tid then
      tokens[#tokens + 1] = data:sub(off, off + record - 1)
    end
    i = i + 1
  end
  assert(#tokens > 0, "no token records for thread " .. tid)
  idx = 0
  ok = 0
  spent = 0
  other = 0
end

function request()
  idx = idx + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do
    headers[k] = v
  end
  headers["Content-Type"] = "application/private-token"
  return wrk.format("POST", "/redeem", headers, tokens[((idx - 1) % #tokens) + 1])
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 409 then
    spent = spent + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_spent, total_other = 0, 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_spent = total_spent + t:get("spent")
    total_other = total_other + t:get("other")
  end
  io.write(string.format("lua.status_200=%d\nlua.status_409=%d\nlua.status_other=%d\n",
                         total_ok, total_spent, total_other))
end
