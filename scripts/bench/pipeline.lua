-- wrk script: HTTP/1.1 pipelining. Every write carries DEPTH requests back to back (default 16);
-- wrk counts each response, so Requests/sec counts requests, not writes.
--
--   wrk -t1 -c20 -d10s -s scripts/bench/pipeline.lua http://10.77.0.2/bytes/100 -- 16
--
-- The path comes from the URL on wrk's command line; the depth from the first argument after `--`.

local depth = 16
local batch

init = function(args)
  if args[1] ~= nil then depth = tonumber(args[1]) end
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format("GET", wrk.path)
  end
  batch = table.concat(reqs)
end

request = function()
  return batch
end
