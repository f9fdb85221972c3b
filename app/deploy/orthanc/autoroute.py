"""Auto-routing of new cine studies to the CMR-CLIP gateway: a script of Orthanc's Python
plugin (Debian's `orthanc-python`; it runs in Orthanc's own interpreter, not the gateway's).

Once a study has received no new instance for `StableAge` seconds, Orthanc reports it stable.
A study that holds MR images and no result of the model yet is sent to the gateway by
reference, with "store": true: the gateway retrieves its cine series from this Orthanc over
DICOMweb (as its source `Source`) and stores the DICOM SR of the result back into the study
over STOW-RS. The stored SR makes the study unstable again; when it settles, the SR series (its
description holds `ResultMarker`) says the study is done.

The request goes from a thread of its own: the gateway calls back into Orthanc while it works,
and a callback that waited for it would hold Orthanc up. (A Lua `OnStableStudy` cannot do
this: its synchronous HttpPost holds the Lua engine, which every incoming HTTP request waits
for, so the gateway's own retrieval stalls until it times out.)

Settings, in Orthanc's configuration:
    "PythonScript": ".../autoroute.py",
    "CmrGateway": {"Url": "https://gateway:8080", "ApiKey": "…", "Source": "orthanc",
                   "Mode": "findings", "ResultMarker": "AI result"}
Only Orthanc's own study id is logged, never a DICOM value.
"""

import json
import threading
import urllib.request

import orthanc

GATEWAY = json.loads(orthanc.GetConfiguration())["CmrGateway"]


def _study_state(study_id: str) -> tuple[bool, bool]:
    """(holds MR images, holds a result of the model)."""
    has_mr = has_result = False
    for series in json.loads(orthanc.RestApiGet(f"/studies/{study_id}/series")):
        tags = series["MainDicomTags"]
        if tags.get("Modality") == "MR":
            has_mr = True
        elif tags.get("Modality") == "SR":
            has_result |= GATEWAY["ResultMarker"] in tags.get("SeriesDescription", "")
    return has_mr, has_result


def _diagnose(study_id: str, study_instance_uid: str) -> None:
    body = {
        "study": {"dicomweb": GATEWAY["Source"], "study_instance_uid": study_instance_uid},
        "mode": GATEWAY["Mode"],
        "store": True,
    }
    request = urllib.request.Request(
        GATEWAY["Url"].rstrip("/") + "/v1/diagnose",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {GATEWAY['ApiKey']}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=300):
            orthanc.LogWarning(f"CMR-CLIP: study {study_id} diagnosed, its report stored")
    except OSError as error:  # URLError, HTTPError, timeouts
        orthanc.LogError(f"CMR-CLIP: the gateway did not diagnose study {study_id}: {error}")


def on_change(change_type: int, level: int, resource_id: str) -> None:
    if change_type != orthanc.ChangeType.STABLE_STUDY:
        return
    has_mr, has_result = _study_state(resource_id)
    if not has_mr or has_result:
        return
    study = json.loads(orthanc.RestApiGet(f"/studies/{resource_id}"))
    uid = study["MainDicomTags"]["StudyInstanceUID"]
    threading.Thread(target=_diagnose, args=(resource_id, uid), daemon=True).start()


orthanc.RegisterOnChangeCallback(on_change)
