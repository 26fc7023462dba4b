// CLIP: see docs/ARCHITECTURE.md.
