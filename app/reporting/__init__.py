"""Draft impressions from findings and similar cases, and their FHIR R4 form for the EHR."""
