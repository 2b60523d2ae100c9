//! End-to-end tests and examples for FerroTunnel live in `tests/` and `examples/`.
