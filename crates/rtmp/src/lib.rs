//! Sans-IO RTMP: handshake, chunk stream codec, messages, server and client
//! sessions, and the rules of RTMPT (RTMP tunnelled over HTTP).
//!
//! Nothing here opens sockets, reads clocks or draws random numbers: callers
//! feed received bytes in, take bytes to send out, and pass time and
//! randomness explicitly. That keeps every state machine testable byte by
//! byte and fuzzable.

#![warn(missing_docs, unreachable_pub)]

pub mod chunk;
pub mod client;
pub mod error;
pub mod handshake;
pub mod message;
pub mod rtmpt;
pub mod server;
mod session;
pub mod url;
