"""Studies from a PACS over DICOMweb, and results back to it: sources configured by name
(`CMR_DICOMWEB_SOURCES`), a study reference `{"dicomweb": name, "study_instance_uid": uid}`,
retrieval of the cine series it needs (QIDO-RS, WADO-RS), and STOW-RS of a result."""
