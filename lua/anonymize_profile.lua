-- anonymize_profile.lua: what dgate's anonymize_script.lua changes, shared with
-- deanonymize_script.lua. Written for dgate after DICOM PS3.15 Annex E (Basic
-- Application Level Confidentiality Profile), keeping dates (the "Retain Longitudinal
-- Temporal Information with Full Dates" option) so that studies stay findable by date.
--
-- dummy:   replaced by a dummy value (PatientID and PatientName: see the script)
-- empty:   emptied when present (action Z)
-- remove:  removed (action X)
-- UIDs (action U) are replaced consistently through changeuid(); private groups are
-- removed unless KeepPrivate is set. A site can change these lists in a copy of this
-- file in <BaseDir>/lua/ (found before the shipped one).

local profile = {}

profile.empty = {
  "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "ReferringPhysicianName",
  "ContentCreatorName", "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
}

profile.remove = {
  "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianAddress",
  "ReferringPhysicianTelephoneNumbers", "StationName", "StudyDescription", "SeriesDescription",
  "PhysiciansOfRecord", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName",
  "AdmittingDiagnosesDescription", "DerivationDescription", "OtherPatientIDs", "OtherPatientNames",
  "PatientBirthName", "PatientBirthTime", "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
  "PatientTelephoneNumbers", "PatientMotherBirthName", "MedicalRecordLocator", "MilitaryRank",
  "BranchOfService", "EthnicGroup", "Occupation", "AdditionalPatientHistory", "PatientComments",
  "DeviceSerialNumber", "ProtocolName", "RequestingPhysician", "RequestingService", "ImageComments",
  "PerformedProcedureStepDescription", "PerformedProcedureStepID", "ScheduledProcedureStepDescription",
  "RequestedProcedureDescription", "ReasonForStudy", "InterpretationAuthor", "PatientInsurancePlanCodeSequence",
  "OtherPatientIDsSequence", "ReferencedPatientSequence", "InstitutionCodeSequence",
  "RequestAttributesSequence", "ReferringPhysicianIdentificationSequence",
  "PerformingPhysicianIdentificationSequence", "PhysiciansOfRecordIdentificationSequence",
  "OperatorIdentificationSequence", "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
}

-- elements the script adds (deanonymize removes them again)
profile.added = { "PatientIdentityRemoved", "DeidentificationMethod" }

profile.method = "dgate Basic Profile, Retain Full Dates"
profile.KeepPrivate = false

-- the UIDMODS key under which an object's original values are kept: per object, derived
-- from its anonymised SOP instance UID, and the element's tag
function profile.key(sop, name)
  local g, e = dictionary(name)
  return md5(sop or '') .. '.' .. string.format('%04X%04X', g or 0, e or 0)
end

-- every UI element of an object (and of its sequence items) that names an instance
-- (not a class, not the transfer syntax), with a function to replace its value
function profile.uids(obj, visit)
  local names, vrs, groups, elements = obj:ListItems()
  local function split(s)
    local out = {}
    for part in string.gmatch((s or '') .. '|', '([^|]*)|') do out[#out + 1] = part end
    return out
  end
  names, vrs, groups, elements = split(names), split(vrs), split(groups), split(elements)
  for i = 1, #names do
    local g, e = tonumber(groups[i]), tonumber(elements[i])
    if g and e and g ~= 2 then
      if vrs[i] == 'SQ' then
        local seq = obj:GetVR(g, e)
        if seq then
          for j = 0, #seq - 1 do profile.uids(seq[j], visit) end
        end
      elseif vrs[i] == 'UI' and not string.find(names[i], 'Class', 1, true) and names[i] ~= 'TransferSyntaxUID' then
        local value = obj:GetVR(g, e, true)
        if value then
          value = string.gsub(value, '[%z ]+$', '')
          if value ~= '' then
            local new = visit(value, names[i])
            if new and new ~= value then obj:SetVR(g, e, new) end
          end
        end
      end
    end
  end
end

-- private elements (odd groups) of the top level as 'gggg,eeee' names
function profile.private(obj)
  local _, _, groups, elements = obj:ListItems()
  local gs, es, out = {}, {}, {}
  for part in string.gmatch((groups or '') .. '|', '([^|]*)|') do gs[#gs + 1] = tonumber(part) end
  for part in string.gmatch((elements or '') .. '|', '([^|]*)|') do es[#es + 1] = tonumber(part) end
  for i = 1, #gs do
    if gs[i] and es[i] and gs[i] % 2 == 1 then out[#out + 1] = string.format('%04x,%04x', gs[i], es[i]) end
  end
  return out
end

return profile
