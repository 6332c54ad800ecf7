//! The media hub: streams, GOP cache, bounded fan-out, client registry. Knows no protocol.
