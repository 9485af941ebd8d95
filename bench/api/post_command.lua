-- wrk script: every request is a command on an appeal already registered: a comment
-- (POST /v1/appeals/{id}/comment, If-Match: *) on the appeals SHY-<year>-0000001 .. <count>, in turn, as an
-- operator. The token, the year and the count come from the environment (OTINISH_TOKEN, BENCH_YEAR,
-- BENCH_APPEALS). Each is durable before its 200, as a registration is.
local token = os.getenv("OTINISH_TOKEN")
local year = os.getenv("BENCH_YEAR")
local appeals = tonumber(os.getenv("BENCH_APPEALS") or "1000")
local counter = 0
local failures = 0

init = function(args)
  -- each thread starts at its own place among the appeals (its own Lua state, its own counter)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16))
  counter = math.random(appeals)
end

request = function()
  counter = counter + 1
  local id = string.format("SHY-%s-%07d", year, (counter % appeals) + 1)
  return wrk.format("POST", "/v1/appeals/" .. id .. "/comment",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token, ["If-Match"] = "*"},
    string.format('{"text":"the desk called the agency back (%d)"}', counter))
end

response = function(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures == 1 then io.stderr:write("first failure: " .. status .. " " .. body .. "\n") end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("otinish commands p50 %.2f ms, p99 %.2f ms, non-2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
