-- wrk script: every request registers a new appeal (POST /v1/appeals) as an operator.
-- The token comes from the environment (OTINISH_TOKEN); each thread varies category, topic and district.
local token = os.getenv("OTINISH_TOKEN")
local topics = {  -- topic ids from examples/catalogue/topics.yaml (the server may run with that catalogue)
  {"complaint", "utilities.heating.no_heat"}, {"incident", "lifts.operation.not_working"},
  {"consultation", "reference.contacts.agency_phone"}, {"complaint", "waste.collection.not_collected"},
  {"proposal", "improvement.yard.paving_queue"}, {"incident", "manholes.open.sewer"},
  {"complaint", "housing.osi.setting_up"}, {"gratitude", "transport.routes.timetable_info"},
}
local districts = {"Abay", "Al-Farabi", "Yenbekshi", "Karatau", "Turan"}
local counter = 0
local failures = 0

request = function()
  counter = counter + 1
  local t = topics[(counter % #topics) + 1]
  local body = string.format(
    '{"centre":"SHY","category":"%s","topic":"%s","channel":"phone","location":{"district":"%s","street":"Tauke khan"},' ..
    '"text":"bench appeal %d","applicant":{"name":"Bench","phone":"+7 700 000 %04d","address":"Tauke khan 1"}}',
    t[1], t[2], districts[(counter % #districts) + 1], counter, counter % 10000)
  return wrk.format("POST", "/v1/appeals",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

response = function(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures == 1 then io.stderr:write("first failure: " .. status .. " " .. body .. "\n") end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("otinish p50 %.2f ms, p99 %.2f ms, non-2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
