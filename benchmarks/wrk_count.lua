-- wrk script (benchmarks.serving_pipeline): counts non-200 and degraded answers; prints them at the end.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) degraded = 0; non200 = 0 end
response = function(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  elseif body and body:find('"degraded":true', 1, true) then
    degraded = degraded + 1
  end
end
done = function(summary, latency, requests)
  local d, n = 0, 0
  for _, t in ipairs(threads) do d = d + t:get("degraded"); n = n + t:get("non200") end
  io.write(string.format("lambdarec-degraded %d\nlambdarec-non200 %d\n", d, n))
end
