-- deanonymize_script.lua: undo lua/anonymize_script.lua for one object (dgate).
--
-- Use as a converter/modifier script:  lua/deanonymize_script.lua(stage)
-- The original PatientID, UIDs and recorded values come back from UIDMODS; an object that
-- was not anonymised in this stage on this server is rejected (left unchanged).

local profile = require('anonymize_profile')
local stage = command_line or ''

local anonid = Data.PatientID or ''
local oldid = changeuidback(anonid, stage)
if oldid == nil then
  print('*** deanonymize: patient ' .. anonid .. ' was not anonymised on this server in stage "' .. stage .. '"')
  reject()
  return
end

-- values recorded under the anonymised SOP instance UID (read before UIDs change back)
local sop = Data.SOPInstanceUID
local names = { 'PatientName' }
for _, name in ipairs(profile.empty) do names[#names + 1] = name end
for _, name in ipairs(profile.remove) do names[#names + 1] = name end
local restored = {}
for _, name in ipairs(names) do
  local value = changeuidback(profile.key(sop, name), stage)
  if value ~= nil then restored[name] = value end
end

profile.uids(Data, function(uid)
  return changeuidback(uid, stage)
end)

Data.PatientID = oldid
for _, name in ipairs(names) do
  if restored[name] ~= nil then
    Data[name] = restored[name]
  elseif name ~= 'PatientName' then
    Data[name] = nil
  end
end
for _, name in ipairs(profile.added) do Data[name] = nil end
