//! Sans-IO RTMP: handshake, chunk stream codec, messages, server and client sessions.
