// Tiling: see docs/ARCHITECTURE.md.
