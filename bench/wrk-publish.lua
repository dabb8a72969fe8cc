-- wrk script: each request publishes a short text/plain message to one of 1,000 random channels, or, with
-- BENCH_CHANNEL set, always to that channel (scenario D, whose subscribers listen there).
local channels = {}
local fixed = os.getenv("BENCH_CHANNEL")
math.randomseed(os.time())
if fixed then
  channels[1] = fixed
else
  for i = 1, 1000 do
    channels[i] = string.format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0xffffffff), math.random(0, 0xffff),
      math.random(0, 0xfff), math.random(0, 0xfff), math.random(0, 0xffffffffffff))
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.body = "benchmark message"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/api/channels/" .. channels[(n % #channels) + 1] .. "/messages")
end
