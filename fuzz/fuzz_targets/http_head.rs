//! Fuzzes the reading of a plain-TCP connection's first request head, which
//! decides whether weir answers HTTP-FLV itself or hands the bytes to hyper
//! (weir-server-http `classify_first_request`, httparse underneath). Every
//! HTTP client's first bytes reach it before any limit but size and time.
//!
//! Panics are bugs, and so is taking a request that is not a complete
//! `GET`/`HEAD` of `/{app}/{file}.flv` without an upgrade: whatever weir
//! takes must be exactly such a request, with the path segments and query
//! it claims, and the names then go through the same parser as every route.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_server_http::{classify_first_request, parse_media_path};

fuzz_target!(|data: &[u8]| {
    let Some(Some(req)) = classify_first_request(data) else {
        return;
    };
    // Complete head (httparse, like hyper, skips empty lines before the
    // request line and also ends lines with a bare LF), right method, no
    // upgrade.
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .expect("taken from empty lines");
    let data = &data[start..];
    let end = (0..data.len())
        .find(|&i| data[i..].starts_with(b"\n\n") || data[i..].starts_with(b"\n\r\n"))
        .expect("taken before the head was complete");
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let method = if req.head { "head " } else { "get " };
    assert!(head.starts_with(method), "method: {head:?}");
    assert!(
        !head.lines().skip(1).any(|l| l
            .split(':')
            .next()
            .is_some_and(|name| name.trim() == "upgrade")),
        "an upgrade request was taken: {head:?}"
    );
    // The target spells out what was taken.
    let target = format!(
        "/{}/{}{}",
        req.app,
        req.file,
        req.query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    assert!(
        String::from_utf8_lossy(&data[..end]).contains(&format!(" {target} ")),
        "target {target:?} not in {head:?}"
    );
    assert!(!req.app.is_empty() && !req.app.contains(['/', '%']));
    assert!(req.file.ends_with(".flv") && !req.file.contains(['/', '%']));
    let _ = parse_media_path(&req.app, &req.file);
});
