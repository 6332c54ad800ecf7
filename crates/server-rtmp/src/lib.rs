//! RTMP listener: drives weir-rtmp sessions over tokio sockets and talks to the hub.
