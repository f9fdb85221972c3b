-- Auto-routing of new cine studies to the CMR-CLIP gateway (Orthanc's Lua, OnStableStudy).
--
-- Once a study has received no new instance for `StableAge` seconds, Orthanc calls
-- OnStableStudy. A study that holds MR images and no result of the model yet is sent to the
-- gateway by reference, with "store": true: the gateway retrieves its cine series over
-- DICOMweb from this Orthanc (its source `Source`) and stores the DICOM SR of the result back
-- into the study over STOW-RS. The stored SR makes the study unstable again; when it settles,
-- the SR series (its description holds `ResultMarker`) tells this script the study is done.
--
-- Settings, in Orthanc's configuration:
--   "CmrGateway": {"Url": "https://gateway:8080", "ApiKey": "…", "Source": "orthanc",
--                  "Mode": "findings", "ResultMarker": "AI result"}
-- Only Orthanc's own study id is printed to its log, never a DICOM value.

local gateway = GetOrthancConfiguration()['CmrGateway']

local function StudyState(studyId)
  local hasMr, hasResult = false, false
  for _, series in ipairs(ParseJson(RestApiGet('/studies/' .. studyId .. '/series'))) do
    local tags = series['MainDicomTags']
    if tags['Modality'] == 'MR' then
      hasMr = true
    elseif tags['Modality'] == 'SR' and
        string.find(tags['SeriesDescription'] or '', gateway['ResultMarker'], 1, true) then
      hasResult = true
    end
  end
  return hasMr, hasResult
end

function OnStableStudy(studyId, tags, metadata)
  local hasMr, hasResult = StudyState(studyId)
  if not hasMr or hasResult then
    return
  end
  local body = DumpJson({
    study = {dicomweb = gateway['Source'], study_instance_uid = tags['StudyInstanceUID']},
    mode = gateway['Mode'],
    store = true,
  }, true)
  local headers = {
    ['Content-Type'] = 'application/json',
    ['Authorization'] = 'Bearer ' .. gateway['ApiKey'],
  }
  local sent = pcall(HttpPost, gateway['Url'] .. '/v1/diagnose', body, headers)
  if sent then
    print('CMR-CLIP: study ' .. studyId .. ' diagnosed, its report stored')
  else
    print('CMR-CLIP: the gateway did not diagnose study ' .. studyId)
  end
end
