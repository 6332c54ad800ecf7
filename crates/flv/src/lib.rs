//! FLV tags and files: sans-IO demuxer and muxer, FLV tag body <-> Frame.
