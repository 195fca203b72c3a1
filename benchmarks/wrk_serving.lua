-- wrk script (benchmarks.serving_pipeline): counts non-200 and degraded answers and prints them at
-- the end. With USERS_FILE set, each request asks for the next user of that file (uncached path);
-- without it, wrk requests the URL it was given.
local threads = {}
local users_file = os.getenv("USERS_FILE") or ""
local users = {}
local i = 0
setup = function(thread) table.insert(threads, thread) end
init = function(args)
  degraded = 0; non200 = 0
  if users_file ~= "" then
    for line in io.lines(users_file) do users[#users + 1] = line end
  end
end
if users_file ~= "" then
  request = function()
    i = i % #users + 1
    return wrk.format("GET", "/v1/recommendations/" .. users[i] .. "?k=10")
  end
end
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
