// Tensor: see docs/ARCHITECTURE.md.
