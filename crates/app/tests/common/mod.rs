//! Harness for end-to-end tests of the `weir` binary with real third-party
//! clients (ffmpeg/ffprobe, rtmpdump, GStreamer).
//!
//! Every test starts its own `weir serve` on free loopback ports
//! ([`server::Server`]), so tests run in parallel. Every process a test
//! starts sits in a [`process::Proc`] guard that kills it on drop and, when
//! the test fails, prints its stderr tail. Every wait is bounded. A missing
//! tool fails the test ([`clients::require_tool`]): nothing passes by skipping.
//!
//! Each test binary uses only part of this module: declare it with
//! `#[allow(dead_code)] mod common;`.

pub mod clients;
pub mod hooks;
pub mod http;
pub mod probe;
pub mod process;
pub mod rtsp;
pub mod server;
pub mod tcp;
pub mod tls;
