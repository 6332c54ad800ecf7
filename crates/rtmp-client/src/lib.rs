//! Async RTMP client (publish and play) over the sans-IO weir-rtmp crate.
