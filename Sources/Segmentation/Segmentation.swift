// Segmentation: see docs/ARCHITECTURE.md.
