// GeoIO: see docs/ARCHITECTURE.md.
