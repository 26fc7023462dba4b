// Pipeline: see docs/ARCHITECTURE.md.
