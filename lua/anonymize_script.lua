-- anonymize_script.lua: anonymise the object in Data (dgate; see anonymize_profile.lua).
--
-- Use as a converter/modifier script:  lua/anonymize_script.lua(newid|stage|newname)
-- (all three optional): e.g. modifier:PAT1,,,,1,lua/anonymize_script.lua(STUDY7|trial1)
--   newid    the new PatientID (default ANON<crc of the old ID>)
--   stage    the UIDMODS stage: objects anonymised in the same stage get the same new
--            UIDs and IDs; a stage starting with '#' is irreversible (MD5-based UIDs,
--            nothing is recorded)
--   newname  the new PatientName (default ANON^<newid>)
-- With a reversible stage, the original PatientID, every replaced UID and every changed
-- value (up to 64 characters) are recorded in UIDMODS so that
-- lua/deanonymize_script.lua(stage) restores them.

local profile = require('anonymize_profile')

local args = {}
for part in string.gmatch((command_line or '') .. '|', '([^|]*)|') do args[#args + 1] = part end
local newid, stage, newname = args[1] or '', args[2] or '', args[3] or ''
local reversible = string.sub(stage, 1, 1) ~= '#'
local oldid = Data.PatientID or ''

if newid == '' then newid = 'ANON' .. crc(oldid) end
if newname == '' then newname = 'ANON^' .. newid end

-- 1. the values that will change, before anything changes
local saved = {}
local function remember(name)
  local value = Data[name]
  if type(value) == 'string' and value ~= '(too long)' then saved[name] = value end
end
remember('PatientName')
for _, name in ipairs(profile.empty) do remember(name) end
for _, name in ipairs(profile.remove) do remember(name) end

-- 2. UIDs: consistent new ones for the stage
profile.uids(Data, function(uid, name)
  return changeuid(uid, nil, stage, name)
end)

-- 3. identifying attributes
Data.PatientID = newid
if Data.PatientName ~= nil or oldid ~= '' then Data.PatientName = newname end
for _, name in ipairs(profile.empty) do
  if Data[name] ~= nil then Data[name] = '' end
end
for _, name in ipairs(profile.remove) do Data[name] = nil end
if not profile.KeepPrivate then
  for _, tag in ipairs(profile.private(Data)) do Data[tag] = nil end
end
Data.PatientIdentityRemoved = 'YES'
Data.DeidentificationMethod = profile.method

-- 4. bookkeeping for deanonymize (reversible stages only)
if reversible then
  if oldid ~= '' then changeuid(oldid, newid, stage, 'PatientID') end
  local sop = Data.SOPInstanceUID
  for name, value in pairs(saved) do
    if #value <= 64 then changeuid(value, profile.key(sop, name), stage, name) end
  end
end
