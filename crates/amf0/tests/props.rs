//! Property tests: encode/decode round trips and arbitrary input.

use proptest::prelude::*;
use weir_amf0::{decode, decode_all, encode, Amf3Value, Decoder, Value};

fn short_string() -> BoxedStrategy<String> {
    ".{0,12}".boxed()
}

fn amf3() -> impl Strategy<Value = Amf3Value> {
    prop_oneof![
        Just(Amf3Value::Undefined),
        Just(Amf3Value::Null),
        any::<bool>().prop_map(Amf3Value::Boolean),
        (-(1i32 << 28)..(1i32 << 28)).prop_map(Amf3Value::Integer),
        any::<f64>().prop_map(Amf3Value::Double),
        short_string().prop_map(Amf3Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<f64>().prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        short_string().prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        any::<u16>().prop_map(Value::Reference),
        (any::<f64>(), any::<i16>()).prop_map(|(millis, tz)| Value::Date { millis, tz }),
        short_string().prop_map(Value::LongString),
        Just(Value::Unsupported),
        short_string().prop_map(Value::XmlDocument),
        amf3().prop_map(Value::Avmplus),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let props = prop::collection::vec((short_string(), inner.clone()), 0..6);
        prop_oneof![
            props.clone().prop_map(Value::Object),
            props.clone().prop_map(Value::EcmaArray),
            prop::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
            (short_string(), props).prop_map(|(class, props)| Value::TypedObject { class, props }),
        ]
    })
}

/// Equality that treats NaN as equal to itself by comparing encodings,
/// plus structural equality when no NaN is involved.
fn same(a: &Value, b: &Value) -> bool {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode(a, &mut x);
    encode(b, &mut y);
    x == y
}

proptest! {
    #[test]
    fn round_trip(v in value()) {
        let mut bytes = Vec::new();
        encode(&v, &mut bytes);
        let mut buf = bytes.as_slice();
        let back = decode(&mut buf).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert!(same(&v, &back), "{:?} != {:?}", v, back);
        if !format!("{v:?}").contains("NaN") {
            prop_assert_eq!(v, back);
        }
    }

    #[test]
    fn round_trip_sequences(vs in prop::collection::vec(value(), 0..5)) {
        let mut bytes = Vec::new();
        weir_amf0::encode_all(&vs, &mut bytes);
        let back = decode_all(&bytes).unwrap();
        prop_assert_eq!(back.len(), vs.len());
        for (a, b) in vs.iter().zip(&back) {
            prop_assert!(same(a, b));
        }
    }

    #[test]
    fn truncations_of_valid_values_never_panic(v in value(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Vec::new();
        encode(&v, &mut bytes);
        let cut = cut.index(bytes.len());
        let mut buf = &bytes[..cut];
        // A strict prefix of one value can only decode if an ECMA array
        // ended early by the lenient rule; everything else must error.
        if decode(&mut buf).is_ok() {
            let debug = format!("{:?}", v);
            prop_assert!(debug.contains("EcmaArray"), "decoded a strict prefix of {}", debug);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_all(&bytes);
        let _ = Decoder::new().max_depth(3).decode_all(&bytes);
    }
}
