use super::*;

#[test]
fn protocol_control_round_trips() {
    for pc in [
        ProtocolControl::SetChunkSize(4096),
        ProtocolControl::Abort(7),
        ProtocolControl::Ack(123_456),
        ProtocolControl::WindowAckSize(2_500_000),
        ProtocolControl::SetPeerBandwidth {
            size: 2_500_000,
            limit: LimitType::Dynamic,
        },
        ProtocolControl::SetPeerBandwidth {
            size: 1,
            limit: LimitType::Hard,
        },
        ProtocolControl::SetPeerBandwidth {
            size: 1,
            limit: LimitType::Soft,
        },
    ] {
        let m = pc.to_message();
        assert_eq!((m.csid, m.stream_id, m.timestamp), (2, 0, 0));
        assert_eq!(ProtocolControl::parse(m.type_id, &m.payload), Ok(pc));
    }
}

#[test]
fn protocol_control_exact_bytes() {
    let m = ProtocolControl::SetPeerBandwidth {
        size: 2_500_000,
        limit: LimitType::Dynamic,
    }
    .to_message();
    assert_eq!(m.type_id, 6);
    assert_eq!(&m.payload[..], &[0x00, 0x26, 0x25, 0xA0, 0x02]);
    let m = ProtocolControl::SetChunkSize(4096).to_message();
    assert_eq!((m.type_id, &m.payload[..]), (1, &[0, 0, 0x10, 0][..]));
}

#[test]
fn protocol_control_errors() {
    assert_eq!(
        ProtocolControl::parse(1, &[0, 0, 1]),
        Err(MessageError::TooShort { len: 3, needed: 4 })
    );
    assert_eq!(
        ProtocolControl::parse(6, &[0, 0, 1, 0]),
        Err(MessageError::TooShort { len: 4, needed: 5 })
    );
    assert_eq!(
        ProtocolControl::parse(6, &[0, 0, 1, 0, 3]),
        Err(MessageError::InvalidLimitType { limit_type: 3 })
    );
    assert!(matches!(
        ProtocolControl::parse(9, &[0, 0, 0, 0]),
        Err(MessageError::WrongType { type_id: 9, .. })
    ));
    // Padding is tolerated.
    assert_eq!(
        ProtocolControl::parse(5, &[0, 0, 0, 9, 0xFF]),
        Ok(ProtocolControl::WindowAckSize(9))
    );
}

#[test]
fn user_control_round_trips() {
    for uc in [
        UserControl::StreamBegin(1),
        UserControl::StreamEof(1),
        UserControl::StreamDry(2),
        UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000,
        },
        UserControl::StreamIsRecorded(1),
        UserControl::PingRequest(0xDEAD_BEEF),
        UserControl::PingResponse(5),
        UserControl::Other { event_type: 0x1F },
    ] {
        let m = uc.to_message();
        assert_eq!((m.csid, m.type_id, m.stream_id), (2, 4, 0));
        assert_eq!(UserControl::parse(&m.payload), Ok(uc));
    }
    assert_eq!(
        &UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000
        }
        .to_message()
        .payload[..],
        &[0, 3, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8]
    );
}

#[test]
fn user_control_errors() {
    assert_eq!(
        UserControl::parse(&[0]),
        Err(MessageError::TooShort { len: 1, needed: 2 })
    );
    assert_eq!(
        UserControl::parse(&[0, 6, 1]),
        Err(MessageError::TooShort { len: 3, needed: 6 })
    );
    assert_eq!(
        UserControl::parse(&[0, 3, 0, 0, 0, 1]),
        Err(MessageError::TooShort { len: 6, needed: 10 })
    );
    // Event 5 is unassigned: reported, not an error.
    assert_eq!(
        UserControl::parse(&[0, 5]),
        Ok(UserControl::Other { event_type: 5 })
    );
}

#[test]
fn command_round_trip_and_amf3_prefix() {
    let cmd = Command::new(
        "publish",
        5.0,
        Value::Null,
        vec![Value::from("cam?k=1"), Value::from("live")],
    );
    let amf = Decoder::new();
    let m = cmd.to_message(3, 1);
    assert_eq!((m.type_id, m.csid, m.stream_id), (20, 3, 1));
    assert_eq!(Command::parse(20, &m.payload, &amf), Ok(cmd.clone()));
    let mut amf3 = vec![0u8];
    amf3.extend_from_slice(&m.payload);
    assert_eq!(Command::parse(17, &amf3, &amf), Ok(cmd.clone()));
    // A type 17 without the format byte still parses.
    assert_eq!(Command::parse(17, &m.payload, &amf), Ok(cmd));
}

#[test]
fn command_with_amf3_name_and_defaults() {
    let amf = Decoder::new();
    // 0x11 0x06 <len 4<<1|1> "play": just a name.
    let payload = [0x00, 0x11, 0x06, 0x09, b'p', b'l', b'a', b'y'];
    let cmd = Command::parse(17, &payload, &amf).unwrap();
    assert_eq!(cmd.name, "play");
    assert_eq!(cmd.transaction_id, 0.0);
    assert_eq!(cmd.object, Value::Null);
    assert!(cmd.args.is_empty());
}

#[test]
fn command_errors() {
    let amf = Decoder::new();
    assert_eq!(
        Command::parse(20, &[0x05], &amf),
        Err(MessageError::MissingName)
    );
    assert_eq!(
        Command::parse(20, &[], &amf),
        Err(MessageError::MissingName)
    );
    assert!(matches!(
        Command::parse(20, &[0x02, 0x00], &amf),
        Err(MessageError::Amf(_))
    ));
    assert!(matches!(
        Command::parse(type_id::DATA_AMF0, &[], &amf),
        Err(MessageError::WrongType { .. })
    ));
    let deep = Decoder::new().max_depth(1);
    let mut nested = Vec::new();
    weir_amf0::encode(&Value::from("x"), &mut nested);
    weir_amf0::encode(
        &Value::object([("a", Value::object([("b", Value::Null)]))]),
        &mut nested,
    );
    assert!(matches!(
        Command::parse(20, &nested, &deep),
        Err(MessageError::Amf(weir_amf0::Amf0Error::TooDeep { .. }))
    ));
}

fn amf(values: &[Value]) -> Bytes {
    let mut out = BytesMut::new();
    weir_amf0::encode_all(values, &mut out);
    out.freeze()
}

#[test]
fn script_data_strips_set_data_frame_without_copy() {
    let meta = amf(&[
        Value::from("onMetaData"),
        Value::ecma_array([("width", Value::Number(640.0))]),
    ]);
    let wrapped = set_data_frame(&meta);
    let d = parse_script_data(type_id::DATA_AMF0, &wrapped, &Decoder::new()).unwrap();
    assert_eq!(d.name, "onMetaData");
    assert_eq!(d.payload, meta);
    // Same memory: a slice of the message.
    assert_eq!(
        d.payload.as_ptr(),
        wrapped[wrapped.len() - meta.len()..].as_ptr()
    );
    // Unwrapped data passes through unchanged.
    let d = parse_script_data(type_id::DATA_AMF0, &meta, &Decoder::new()).unwrap();
    assert_eq!(d.payload, meta);
}

#[test]
fn script_data_amf3_is_rewritten_as_amf0() {
    let mut p = vec![0u8];
    p.extend_from_slice(&amf(&[
        Value::from("@setDataFrame"),
        Value::Avmplus(weir_amf0::Amf3Value::String("onMetaData".into())),
        Value::object([
            ("w", Value::Avmplus(weir_amf0::Amf3Value::Integer(640))),
            (
                "s",
                Value::StrictArray(vec![Value::Avmplus(weir_amf0::Amf3Value::Null)]),
            ),
        ]),
    ]));
    let d = parse_script_data(15, &Bytes::from(p), &Decoder::new()).unwrap();
    assert_eq!(d.name, "onMetaData");
    assert_eq!(
        d.payload,
        amf(&[
            Value::from("onMetaData"),
            Value::object([
                ("w", Value::Number(640.0)),
                ("s", Value::StrictArray(vec![Value::Null])),
            ]),
        ])
    );
}

#[test]
fn script_data_errors() {
    let amf0 = Decoder::new();
    let only_wrapper = set_data_frame(&[]);
    assert_eq!(
        parse_script_data(type_id::DATA_AMF0, &only_wrapper, &amf0),
        Err(MessageError::MissingName)
    );
    assert_eq!(
        parse_script_data(type_id::DATA_AMF0, &amf(&[Value::Number(1.0)]), &amf0),
        Err(MessageError::MissingName)
    );
    assert!(matches!(
        parse_script_data(type_id::DATA_AMF0, &Bytes::new(), &amf0),
        Err(MessageError::Amf(_))
    ));
    assert!(matches!(
        parse_script_data(20, &Bytes::new(), &amf0),
        Err(MessageError::WrongType { .. })
    ));
}

/// One aggregate sub-message: FLV tag header, body, back pointer.
fn sub(type_id: u8, ts: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![type_id];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&ts.to_be_bytes()[1..]);
    v.push((ts >> 24) as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(body);
    v.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    v
}

fn aggregate(payload: Vec<u8>, timestamp: u32) -> Message {
    Message {
        csid: 7,
        timestamp,
        type_id: type_id::AGGREGATE,
        stream_id: 1,
        payload: Bytes::from(payload),
    }
}

#[test]
fn aggregate_split_rebases_timestamps() {
    let mut p = sub(9, 0x0100_0000, b"video");
    p.extend(sub(8, 0x0100_0020, b"au"));
    p.extend(sub(9, 0x0100_0040, b""));
    let parts = split_aggregate(&aggregate(p, 1000)).unwrap();
    let summary: Vec<_> = parts
        .iter()
        .map(|m| (m.type_id, m.timestamp, &m.payload[..], m.csid, m.stream_id))
        .collect();
    assert_eq!(
        summary,
        vec![
            (9, 1000, &b"video"[..], 7, 1),
            (8, 1032, &b"au"[..], 7, 1),
            (9, 1064, &b""[..], 7, 1),
        ]
    );
}

#[test]
fn aggregate_tolerates_missing_last_back_pointer_and_wraps() {
    let mut p = sub(8, 10, b"a");
    let mut last = sub(8, 5, b"b");
    last.truncate(last.len() - 4);
    p.extend(last);
    let parts = split_aggregate(&aggregate(p, 0)).unwrap();
    // A sub-timestamp before the first one wraps like RTMP timestamps do.
    assert_eq!(parts[1].timestamp, u32::MAX - 4);
    assert!(split_aggregate(&aggregate(Vec::new(), 0))
        .unwrap()
        .is_empty());
}

#[test]
fn aggregate_errors() {
    assert_eq!(
        split_aggregate(&aggregate(vec![9, 0, 0], 0)),
        Err(MessageError::BadAggregate {
            offset: 0,
            detail: "sub-message header"
        })
    );
    let mut p = sub(9, 0, b"abc");
    p.extend(&sub(9, 0, b"long body")[..14]);
    assert_eq!(
        split_aggregate(&aggregate(p, 0)),
        Err(MessageError::BadAggregate {
            offset: 18,
            detail: "sub-message body"
        })
    );
}
