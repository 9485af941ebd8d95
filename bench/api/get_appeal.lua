-- wrk script: GET one of the registered appeals (ids in OTINISH_IDS_FILE, one per line) as an operator; with
-- OTINISH_PURPOSE set, the applicant's contact instead (GET /v1/appeals/{id}/applicant with Access-Purpose),
-- which the server records as a PersonalDataRead event.
local token = os.getenv("OTINISH_TOKEN")
local purpose = os.getenv("OTINISH_PURPOSE")
local ids = {}
for line in io.lines(os.getenv("OTINISH_IDS_FILE")) do ids[#ids + 1] = line end
local counter = 0
local failures = 0

request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local headers = {["Authorization"] = "Bearer " .. token}
  local path = "/v1/appeals/" .. id
  if purpose then
    path = path .. "/applicant"
    headers["Access-Purpose"] = purpose
  end
  return wrk.format("GET", path, headers)
end

response = function(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures == 1 then io.stderr:write("first failure: " .. status .. " " .. string.sub(body, 1, 200) .. "\n") end
  end
end
