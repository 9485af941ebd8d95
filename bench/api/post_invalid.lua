-- wrk script: the HTTP layer alone. Every request is a registration (POST /v1/appeals, as an operator, the
-- same size as post_appeal.lua's) that validation refuses (422: no topic), so it is parsed, authenticated,
-- routed, validated and answered, and never reaches the engine or the log.
local token = os.getenv("OTINISH_TOKEN")
local counter = 0
local unexpected = 0

request = function()
  counter = counter + 1
  local body = string.format(
    '{"centre":"SHY","category":"complaint","channel":"phone","location":{"district":"Abay","street":"Tauke khan"},' ..
    '"text":"bench appeal %d","applicant":{"name":"Bench","phone":"+7 700 000 %04d","address":"Tauke khan 1"}}',
    counter, counter % 10000)
  return wrk.format("POST", "/v1/appeals",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

response = function(status, headers, body)
  if status ~= 422 then
    unexpected = unexpected + 1
    if unexpected == 1 then io.stderr:write("expected 422, got: " .. status .. " " .. body .. "\n") end
  end
end
