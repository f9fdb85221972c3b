"""The audit trail: who asked what about which study (docs/design.md, "Audit trail")."""
