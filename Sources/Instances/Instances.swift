// Instances: see docs/ARCHITECTURE.md.
