-- wrk script: plain GETs of the URL given to wrk, counting the statuses
-- (used for the issuer directory).
--
--   wrk -t2 -c32 -d20s --latency -s status.lua http://127.0.0.1:PORT/.well-known/private-token-issuer-directory
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  other = 0
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
