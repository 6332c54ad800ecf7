//! Known byte vectors, written out by hand from the AMF0 spec rather than
//! produced by our encoder, so that a symmetric encoder/decoder bug cannot
//! hide.

use weir_amf0::{decode, decode_all, encode, encode_all, Amf0Error, Amf3Value, Decoder, Value};

/// Builds wire bytes from readable pieces.
struct W(Vec<u8>);

impl W {
    fn new() -> Self {
        W(Vec::new())
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn key(self, k: &str) -> Self {
        let len = (k.len() as u16).to_be_bytes();
        self.raw(&len).raw(k.as_bytes())
    }
    fn string(self, s: &str) -> Self {
        self.raw(&[0x02]).key(s)
    }
    fn number(self, n: f64) -> Self {
        self.raw(&[0x00]).raw(&n.to_be_bytes())
    }
    fn end(self) -> Self {
        self.raw(&[0x00, 0x00, 0x09])
    }
}

/// The `connect` command ffmpeg sends when publishing (`-f flv rtmp://...`).
fn ffmpeg_publish_connect() -> Vec<u8> {
    W::new()
        .string("connect")
        .number(1.0)
        .raw(&[0x03])
        .key("app")
        .string("live")
        .key("type")
        .string("nonprivate")
        .key("flashVer")
        .string("FMLE/3.0 (compatible; Lavf61.7.100)")
        .key("tcUrl")
        .string("rtmp://127.0.0.1:1935/live")
        .end()
        .0
}

#[test]
fn number_one_is_exact() {
    let mut out = Vec::new();
    encode(&Value::Number(1.0), &mut out);
    assert_eq!(out, [0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn ffmpeg_connect_decodes_and_reencodes_byte_exact() {
    let bytes = ffmpeg_publish_connect();
    let values = decode_all(&bytes).unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[0].as_str(), Some("connect"));
    assert_eq!(values[1].as_number(), Some(1.0));
    let obj = &values[2];
    assert_eq!(obj.get("app").and_then(Value::as_str), Some("live"));
    assert_eq!(obj.get("type").and_then(Value::as_str), Some("nonprivate"));
    assert_eq!(
        obj.get("tcUrl").and_then(Value::as_str),
        Some("rtmp://127.0.0.1:1935/live")
    );
    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, bytes);
}

#[test]
fn on_metadata_ecma_array() {
    let bytes = W::new()
        .string("onMetaData")
        .raw(&[0x08, 0, 0, 0, 2])
        .key("width")
        .number(1280.0)
        .key("stereo")
        .raw(&[0x01, 0x01])
        .end()
        .0;
    let values = decode_all(&bytes).unwrap();
    assert_eq!(
        values[1],
        Value::ecma_array([
            ("width", Value::Number(1280.0)),
            ("stereo", Value::Boolean(true))
        ])
    );
    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, bytes);
}

#[test]
fn ecma_array_without_end_marker_at_end_of_input() {
    let bytes = W::new()
        .raw(&[0x08, 0, 0, 0, 1])
        .key("duration")
        .number(0.0)
        .0;
    let v = decode(&mut bytes.as_slice()).unwrap();
    assert_eq!(v.get("duration").and_then(Value::as_number), Some(0.0));
    // Cut short of the declared count: still an error.
    let short = W::new().raw(&[0x08, 0, 0, 0, 2]).key("a").number(0.0).0;
    assert!(matches!(
        decode(&mut short.as_slice()),
        Err(Amf0Error::Truncated { .. })
    ));
    // Objects get no such leniency.
    let obj = W::new().raw(&[0x03]).key("a").number(0.0).0;
    assert!(decode(&mut obj.as_slice()).is_err());
}

#[test]
fn other_scalars() {
    let bytes = W::new()
        .raw(&[0x05, 0x06, 0x0D])
        .raw(&[0x07, 0x01, 0x02])
        .raw(&[0x0B])
        .raw(&1.5e12f64.to_be_bytes())
        .raw(&[0xFF, 0xC4])
        .raw(&[0x0C, 0, 0, 0, 2])
        .raw(b"hi")
        .raw(&[0x0F, 0, 0, 0, 3])
        .raw(b"<a>")
        .raw(&[0x10])
        .key("Cls")
        .key("x")
        .raw(&[0x05])
        .end()
        .raw(&[0x0A, 0, 0, 0, 2, 0x05, 0x01, 0x00])
        .0;
    let values = decode_all(&bytes).unwrap();
    assert_eq!(
        values,
        vec![
            Value::Null,
            Value::Undefined,
            Value::Unsupported,
            Value::Reference(0x0102),
            Value::Date {
                millis: 1.5e12,
                tz: -60
            },
            Value::LongString("hi".into()),
            Value::XmlDocument("<a>".into()),
            Value::TypedObject {
                class: "Cls".into(),
                props: vec![("x".into(), Value::Null)]
            },
            Value::StrictArray(vec![Value::Null, Value::Boolean(false)]),
        ]
    );
    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, bytes);
}

#[test]
fn amf3_switch_scalars() {
    let bytes = [
        0x11, 0x00, // undefined
        0x11, 0x01, // null
        0x11, 0x02, // false
        0x11, 0x03, // true
        0x11, 0x04, 0x81, 0x00, // integer 128
        0x11, 0x06, 0x09, b'a', b'b', b'c', b'd', // "abcd"
        0x11, 0x06, 0x01, // ""
        0x11, 0x05, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, // double 1.0
    ];
    let values = decode_all(&bytes).unwrap();
    assert_eq!(
        values,
        [
            Amf3Value::Undefined,
            Amf3Value::Null,
            Amf3Value::Boolean(false),
            Amf3Value::Boolean(true),
            Amf3Value::Integer(128),
            Amf3Value::String("abcd".into()),
            Amf3Value::String(String::new()),
            Amf3Value::Double(1.0),
        ]
        .map(Value::Avmplus)
    );
    let mut out = Vec::new();
    encode_all(&values, &mut out);
    assert_eq!(out, bytes);
}

#[test]
fn amf3_complex_values_error_cleanly() {
    for (bytes, what) in [
        (&[0x11, 0x0A, 0x0B][..], "object"),
        (&[0x11, 0x09, 0x01][..], "array"),
        (&[0x11, 0x06, 0x00][..], "string reference"),
        (&[0x11, 0x7F][..], "unknown marker"),
    ] {
        match decode(&mut &bytes[..]) {
            Err(Amf0Error::UnsupportedAmf3 {
                what: w, offset, ..
            }) => {
                assert_eq!(w, what);
                assert_eq!(offset, 1);
            }
            other => panic!("{bytes:02x?}: {other:?}"),
        }
    }
}

#[test]
fn reserved_and_unknown_markers() {
    for m in [0x04u8, 0x0E, 0x12, 0xFF] {
        assert_eq!(
            decode(&mut &[m][..]),
            Err(Amf0Error::UnknownMarker {
                marker: m,
                offset: 0
            })
        );
    }
    assert_eq!(
        decode(&mut &[0x09][..]),
        Err(Amf0Error::UnexpectedObjectEnd { offset: 0 })
    );
}

#[test]
fn forged_lengths_do_not_allocate() {
    let long = [0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a'];
    assert_eq!(
        decode(&mut &long[..]),
        Err(Amf0Error::LengthExceedsInput {
            offset: 1,
            declared: u64::from(u32::MAX),
            remaining: 1
        })
    );
    let arr = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05];
    assert!(matches!(
        decode(&mut &arr[..]),
        Err(Amf0Error::LengthExceedsInput { offset: 1, .. })
    ));
    let amf3 = [0x11, 0x06, 0xFF, 0xFF, 0xFF, 0xFF];
    assert!(matches!(
        decode(&mut &amf3[..]),
        Err(Amf0Error::LengthExceedsInput { offset: 2, .. })
    ));
}

#[test]
fn invalid_utf8_is_reported() {
    let bytes = [0x02, 0x00, 0x02, 0xC3, 0x28];
    assert_eq!(
        decode(&mut &bytes[..]),
        Err(Amf0Error::InvalidUtf8 { offset: 3 })
    );
}

fn nested_objects(depth: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..depth {
        b.extend_from_slice(&[0x03, 0x00, 0x01, b'k']);
    }
    b.push(0x05);
    for _ in 0..depth {
        b.extend_from_slice(&[0x00, 0x00, 0x09]);
    }
    b
}

#[test]
fn depth_limit_default_and_custom() {
    assert!(decode(&mut nested_objects(64).as_slice()).is_ok());
    assert_eq!(
        decode(&mut nested_objects(65).as_slice()),
        Err(Amf0Error::TooDeep {
            limit: 64,
            offset: 64 * 4
        })
    );
    let d = Decoder::new().max_depth(2);
    assert!(d.decode(&mut nested_objects(2).as_slice()).is_ok());
    assert!(matches!(
        d.decode(&mut nested_objects(3).as_slice()),
        Err(Amf0Error::TooDeep { limit: 2, .. })
    ));
    // Arrays count as containers too.
    let arrays = [0x0A, 0, 0, 0, 1, 0x0A, 0, 0, 0, 1, 0x0A, 0, 0, 0, 0];
    assert!(matches!(
        d.decode(&mut &arrays[..]),
        Err(Amf0Error::TooDeep { offset: 10, .. })
    ));
}

#[test]
fn hostile_depth_does_not_overflow_the_stack() {
    let bytes = [0x0A, 0, 0, 0, 1].repeat(1_000_000);
    assert!(matches!(
        decode(&mut bytes.as_slice()),
        Err(Amf0Error::TooDeep { .. })
    ));
}

#[test]
fn decode_advances_only_on_success() {
    let mut bytes = ffmpeg_publish_connect();
    bytes.push(0x05);
    let mut buf = bytes.as_slice();
    assert_eq!(decode(&mut buf).unwrap().as_str(), Some("connect"));
    assert_eq!(decode(&mut buf).unwrap().as_number(), Some(1.0));
    let before = buf;
    let truncated = &before[..before.len() - 3];
    let mut t = truncated;
    assert!(decode(&mut t).is_err());
    assert_eq!(t.len(), truncated.len());
    assert!(decode(&mut buf).unwrap().get("app").is_some());
    assert_eq!(buf, &[0x05]);
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let full = W::new()
        .string("onStatus")
        .number(0.0)
        .raw(&[0x05])
        .raw(&[0x03])
        .key("level")
        .string("status")
        .key("list")
        .raw(&[0x0A, 0, 0, 0, 2])
        .number(1.0)
        .raw(&[0x11, 0x06, 0x03, b'z'])
        .key("when")
        .raw(&[0x0B])
        .raw(&0f64.to_be_bytes())
        .raw(&[0, 0])
        .end()
        .0;
    let all = decode_all(&full).unwrap();
    assert_eq!(all.len(), 4);
    // Offsets where each value ends.
    let mut boundaries = vec![0];
    let mut rest = full.as_slice();
    while !rest.is_empty() {
        decode(&mut rest).unwrap();
        boundaries.push(full.len() - rest.len());
    }
    for cut in 0..full.len() {
        match decode_all(&full[..cut]) {
            Ok(values) => {
                assert!(boundaries.contains(&cut), "cut {cut} decoded");
                assert_eq!(
                    values.len(),
                    boundaries.iter().position(|&b| b == cut).unwrap()
                );
            }
            Err(_) => assert!(!boundaries.contains(&cut), "cut {cut} failed"),
        }
    }
}
