//! ServerSession driven by a scripted peer: the command dialogue.

mod common;

use bytes::Bytes;
use common::{code, parse, Peer};
use weir_amf0::Value;
use weir_rtmp::chunk::Message;
use weir_rtmp::message::{set_data_frame, type_id, LimitType, ProtocolControl, UserControl};
use weir_rtmp::server::ServerEvent;

/// Hand-written AMF0, independent of the encoder under test.
struct W(Vec<u8>);

impl W {
    fn key(mut self, k: &str) -> Self {
        self.0.extend_from_slice(&(k.len() as u16).to_be_bytes());
        self.0.extend_from_slice(k.as_bytes());
        self
    }
    fn string(mut self, s: &str) -> Self {
        self.0.push(0x02);
        self.key(s)
    }
    fn number(mut self, n: f64) -> Self {
        self.0.push(0x00);
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

#[test]
fn connect_answer_is_byte_exact() {
    let (mut server, mut peer) = Peer::connect();
    assert_eq!(server.chunk_size(), 128);
    let (msgs, events) = peer.rtmp_connect(&mut server);
    assert_eq!(
        events,
        vec![ServerEvent::Connect {
            app: "live".into(),
            tc_url: Some("rtmp://localhost/live".into()),
            flash_ver: Some("FMLE/3.0 (compatible; test)".into()),
            object_encoding: 0.0,
        }]
    );
    assert_eq!(msgs.len(), 4);
    let control: Vec<_> = msgs[..3]
        .iter()
        .map(|m| {
            assert_eq!((m.csid, m.stream_id), (2, 0));
            ProtocolControl::parse(m.type_id, &m.payload).unwrap()
        })
        .collect();
    assert_eq!(
        control,
        vec![
            ProtocolControl::WindowAckSize(2_500_000),
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit: LimitType::Dynamic
            },
            ProtocolControl::SetChunkSize(4096),
        ]
    );
    assert_eq!(server.chunk_size(), 4096);
    let result = &msgs[3];
    assert_eq!((result.csid, result.stream_id, result.type_id), (3, 0, 20));
    let expected = W(Vec::new())
        .string("_result")
        .number(1.0)
        .raw(&[0x03])
        .key("fmsVer")
        .string("FMS/3,0,1,123")
        .key("capabilities")
        .number(31.0)
        .key("mode")
        .number(1.0)
        .raw(&[0, 0, 9, 0x03])
        .key("level")
        .string("status")
        .key("code")
        .string("NetConnection.Connect.Success")
        .key("description")
        .string("Connection succeeded.")
        .key("objectEncoding")
        .number(0.0)
        .raw(&[0, 0, 9])
        .0;
    assert_eq!(&result.payload[..], &expected[..]);
}

/// A client that announces Enhanced RTMP codecs (as ffmpeg 6.1+ and OBS
/// 30+ do) learns the server's: every codec forwarded, multitrack and
/// ModEx understood. Legacy clients get the legacy answer (the byte-exact
/// test above).
#[test]
fn connect_answers_enhanced_rtmp_capabilities() {
    let (mut server, mut peer) = Peer::connect();
    let obj = Value::object([
        ("app", Value::from("live")),
        (
            "fourCcList",
            Value::StrictArray(vec![Value::from("hvc1"), Value::from("av01")]),
        ),
    ]);
    peer.command(&mut server, 0, "connect", 1.0, obj, vec![])
        .unwrap();
    let (msgs, _) = peer.receive(&mut server);
    let result = parse(&msgs[3]);
    assert_eq!(result.name, "_result");
    let props = &result.object;
    let Some(Value::StrictArray(list)) = props.get("fourCcList") else {
        panic!("no fourCcList in {props:?}");
    };
    let list: Vec<_> = list.iter().filter_map(Value::as_str).collect();
    assert_eq!(list, ["avc1", "hvc1", "av01", "vp09"]);
    let video = props.get("videoFourCcInfoMap").unwrap();
    assert_eq!(video.get("av01"), Some(&Value::Number(4.0)));
    let audio = props.get("audioFourCcInfoMap").unwrap();
    assert_eq!(audio.get("Opus"), Some(&Value::Number(4.0)));
    assert_eq!(props.get("capsEx"), Some(&Value::Number(6.0)));
}

#[test]
fn connect_echoes_object_encoding_and_trims_app() {
    let (mut server, mut peer) = Peer::connect();
    let obj = Value::object([
        ("app", Value::from("live/")),
        ("objectEncoding", Value::Number(3.0)),
    ]);
    peer.command(&mut server, 0, "connect", 1.0, obj, vec![])
        .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    let info = &parse(&msgs[3]).args[0];
    assert_eq!(info.get("objectEncoding"), Some(&Value::Number(3.0)));
    assert!(
        matches!(&events[0], ServerEvent::Connect { app, object_encoding, tc_url: None, .. }
        if app == "live" && *object_encoding == 3.0)
    );
    // A second connect is refused, not obeyed.
    peer.command(
        &mut server,
        0,
        "connect",
        2.0,
        Value::object([("app", Value::from("x"))]),
        vec![],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(events.is_empty());
    assert_eq!(parse(&msgs[0]).name, "_error");
    assert_eq!(code(&msgs[0]), "NetConnection.Connect.Rejected");
}

#[test]
fn publish_flow() {
    let (mut server, mut peer) = Peer::connect();
    peer.rtmp_connect(&mut server);
    let name = || vec![Value::from("cam?token=abc")];
    peer.command(&mut server, 0, "releaseStream", 2.0, Value::Null, name())
        .unwrap();
    peer.command(&mut server, 0, "FCPublish", 3.0, Value::Null, name())
        .unwrap();
    peer.command(&mut server, 0, "createStream", 4.0, Value::Null, vec![])
        .unwrap();
    let (msgs, _) = peer.receive(&mut server);
    let answers: Vec<_> = msgs
        .iter()
        .map(parse)
        .map(|c| (c.name, c.transaction_id))
        .collect();
    assert_eq!(
        answers,
        vec![
            ("_result".into(), 2.0),
            ("_result".into(), 3.0),
            ("_result".into(), 4.0)
        ]
    );
    assert_eq!(parse(&msgs[2]).args, vec![Value::Number(1.0)]);

    peer.command(
        &mut server,
        1,
        "publish",
        5.0,
        Value::Null,
        vec![Value::from("cam?token=abc"), Value::from("live")],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(msgs.is_empty());
    assert_eq!(
        events,
        vec![ServerEvent::Publish {
            stream_id: 1,
            name: "cam".into(),
            query: "token=abc".into(),
            kind: "live".into(),
        }]
    );

    server.accept_publish(1);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        UserControl::parse(&msgs[0].payload),
        Ok(UserControl::StreamBegin(1))
    );
    assert_eq!(parse(&msgs[1]).name, "onFCPublish");
    assert_eq!(code(&msgs[1]), "NetStream.Publish.Start");
    assert_eq!(
        (msgs[2].stream_id, code(&msgs[2])),
        (1, "NetStream.Publish.Start".into())
    );
    assert!(msgs.iter().all(|m| m.csid == 2 || m.csid == 3));

    let mut meta = Vec::new();
    weir_amf0::encode_all(
        &[
            Value::from("onMetaData"),
            Value::ecma_array([("width", Value::Number(1280.0))]),
        ],
        &mut meta,
    );
    let data = Message {
        csid: 5,
        timestamp: 0,
        type_id: type_id::DATA_AMF0,
        stream_id: 1,
        payload: set_data_frame(&meta),
    };
    peer.send(&mut server, &data).unwrap();
    peer.media(&mut server, 9, 0, &[0x17, 0, 0, 0, 0, 1]);
    peer.media(&mut server, 8, 23, &[0xAF, 1, 2]);
    let (_, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![
            ServerEvent::Metadata {
                stream_id: 1,
                timestamp: 0,
                payload: Bytes::from(meta)
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 9,
                timestamp: 0,
                payload: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1])
            },
            ServerEvent::Media {
                stream_id: 1,
                type_id: 8,
                timestamp: 23,
                payload: Bytes::from_static(&[0xAF, 1, 2])
            },
        ]
    );

    peer.command(&mut server, 0, "FCUnpublish", 6.0, Value::Null, name())
        .unwrap();
    peer.command(
        &mut server,
        0,
        "deleteStream",
        7.0,
        Value::Null,
        vec![Value::Number(1.0)],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert_eq!(events, vec![ServerEvent::Unpublish { stream_id: 1 }]);
    let codes: Vec<_> = msgs.iter().map(|m| (parse(m).name, code(m))).collect();
    assert_eq!(
        codes,
        vec![
            ("onStatus".into(), "NetStream.Unpublish.Success".into()),
            ("_result".into(), String::new()),
        ]
    );
    // Media after the stream is gone is ignored and counted.
    let before = server.unknown_messages();
    peer.media(&mut server, 9, 40, &[0x27]);
    assert!(peer.receive(&mut server).1.is_empty());
    assert_eq!(server.unknown_messages(), before + 1);
}

#[test]
fn reject_publish_and_publish_errors() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    // On a stream that does not exist.
    peer.command(
        &mut server,
        7,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("a")],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(events.is_empty());
    assert_eq!(
        (msgs[0].stream_id, code(&msgs[0])),
        (7, "NetStream.Publish.Failed".into())
    );
    // Without a name.
    peer.command(&mut server, 1, "publish", 0.0, Value::Null, vec![])
        .unwrap();
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(code(&msgs[0]), "NetStream.Publish.BadName");
    // Rejected by the application.
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("a")],
    )
    .unwrap();
    peer.receive(&mut server);
    server.reject_publish(1, "NetStream.Publish.BadName", "taken");
    let (msgs, _) = peer.receive(&mut server);
    let info = &parse(&msgs[0]).args[0];
    assert_eq!(info.get("level").and_then(Value::as_str), Some("error"));
    assert_eq!(
        info.get("description").and_then(Value::as_str),
        Some("taken")
    );
    // The stream is idle again: a new publish is asked for.
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("b")],
    )
    .unwrap();
    assert!(
        matches!(&peer.receive(&mut server).1[0], ServerEvent::Publish { name, .. } if name == "b")
    );
    // Publishing twice on one stream is refused.
    peer.command(
        &mut server,
        1,
        "publish",
        0.0,
        Value::Null,
        vec![Value::from("c")],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(events.is_empty());
    assert_eq!(code(&msgs[0]), "NetStream.Publish.Failed");
}

#[test]
fn play_flow() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "play",
        0.0,
        Value::Null,
        vec![
            Value::from("cam"),
            Value::Number(-1.0),
            Value::Number(-1.0),
            Value::Boolean(false),
        ],
    )
    .unwrap();
    peer.send(
        &mut server,
        &UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000,
        }
        .to_message(),
    )
    .unwrap();
    let (_, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![ServerEvent::Play {
            stream_id: 1,
            name: "cam".into(),
            query: String::new(),
            start: -1.0,
            duration: -1.0,
            reset: false,
        }]
    );
    server.accept_play(1, true);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        UserControl::parse(&msgs[0].payload),
        Ok(UserControl::StreamBegin(1))
    );
    assert_eq!(code(&msgs[1]), "NetStream.Play.Reset");
    assert_eq!(code(&msgs[2]), "NetStream.Play.Start");
    assert_eq!(
        (msgs[3].type_id, msgs[3].csid, msgs[3].stream_id),
        (type_id::DATA_AMF0, 3, 1)
    );
    let access = weir_amf0::decode_all(&msgs[3].payload).unwrap();
    assert_eq!(access[0].as_str(), Some("|RtmpSampleAccess"));

    peer.command(
        &mut server,
        1,
        "receiveAudio",
        0.0,
        Value::Null,
        vec![Value::Boolean(false)],
    )
    .unwrap();
    peer.command(
        &mut server,
        1,
        "receiveVideo",
        0.0,
        Value::Null,
        vec![Value::Boolean(true)],
    )
    .unwrap();
    peer.command(
        &mut server,
        1,
        "pause",
        0.0,
        Value::Null,
        vec![Value::Boolean(true), Value::Number(1500.0)],
    )
    .unwrap();
    peer.command(
        &mut server,
        1,
        "pause",
        0.0,
        Value::Null,
        vec![Value::Boolean(false), Value::Number(1500.0)],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![
            ServerEvent::ReceiveAudio {
                stream_id: 1,
                enabled: false
            },
            ServerEvent::ReceiveVideo {
                stream_id: 1,
                enabled: true
            },
            ServerEvent::Pause {
                stream_id: 1,
                paused: true,
                position: 1500.0
            },
            ServerEvent::Pause {
                stream_id: 1,
                paused: false,
                position: 1500.0
            },
        ]
    );
    let codes: Vec<_> = msgs.iter().map(code).collect();
    assert_eq!(
        codes,
        ["NetStream.Pause.Notify", "NetStream.Unpause.Notify"]
    );

    server.notify_unpublish(1);
    server.notify_publish(1);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(code(&msgs[0]), "NetStream.Play.UnpublishNotify");
    assert_eq!(
        UserControl::parse(&msgs[1].payload),
        Ok(UserControl::StreamEof(1))
    );
    assert_eq!(
        UserControl::parse(&msgs[2].payload),
        Ok(UserControl::StreamBegin(1))
    );
    assert_eq!(code(&msgs[3]), "NetStream.Play.PublishNotify");

    peer.command(&mut server, 1, "closeStream", 0.0, Value::Null, vec![])
        .unwrap();
    assert_eq!(
        peer.receive(&mut server).1,
        vec![ServerEvent::StopPlay { stream_id: 1 }]
    );
    // Already stopped: deleteStream adds nothing.
    peer.command(
        &mut server,
        0,
        "deleteStream",
        0.0,
        Value::Null,
        vec![Value::Number(1.0)],
    )
    .unwrap();
    assert!(peer.receive(&mut server).1.is_empty());
}

#[test]
fn recorded_play_seek_and_completion() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    // librtmp's `-A 10`: the start on the wire is in milliseconds.
    peer.command(
        &mut server,
        1,
        "play",
        0.0,
        Value::Null,
        vec![Value::from("mp4:a/b.mp4"), Value::Number(10_000.0)],
    )
    .unwrap();
    let (_, events) = peer.receive(&mut server);
    assert!(matches!(events[..], [ServerEvent::Play { start, .. }] if start == 10_000.0));
    server.accept_recorded_play(1, true);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        UserControl::parse(&msgs[0].payload),
        Ok(UserControl::StreamIsRecorded(1))
    );
    assert_eq!(
        UserControl::parse(&msgs[1].payload),
        Ok(UserControl::StreamBegin(1))
    );
    assert_eq!(code(&msgs[2]), "NetStream.Play.Reset");
    assert_eq!(code(&msgs[3]), "NetStream.Play.Start");

    // ffmpeg's seek: a number of milliseconds; junk is counted, unanswered.
    peer.command(
        &mut server,
        1,
        "seek",
        0.0,
        Value::Null,
        vec![Value::Number(4_500.0)],
    )
    .unwrap();
    peer.command(
        &mut server,
        1,
        "seek",
        0.0,
        Value::Null,
        vec![Value::from("x")],
    )
    .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(msgs.is_empty());
    assert_eq!(
        events,
        vec![ServerEvent::Seek {
            stream_id: 1,
            position_ms: 4_500.0
        }]
    );
    assert_eq!(server.unknown_messages(), 1);
    server.accept_seek(1);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        UserControl::parse(&msgs[0].payload),
        Ok(UserControl::StreamBegin(1))
    );
    assert_eq!(code(&msgs[1]), "NetStream.Seek.Notify");
    assert_eq!(code(&msgs[2]), "NetStream.Play.Start");
    server.reject_seek(1, "live streams cannot seek");
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(code(&msgs[0]), "NetStream.Seek.Failed");

    server.play_complete(1, 20.5, 1234);
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(
        (msgs[0].type_id, msgs[0].stream_id),
        (type_id::DATA_AMF0, 1)
    );
    let status = weir_amf0::decode_all(&msgs[0].payload).unwrap();
    assert_eq!(status[0].as_str(), Some("onPlayStatus"));
    assert_eq!(
        status[1].get("code").and_then(Value::as_str),
        Some("NetStream.Play.Complete")
    );
    assert_eq!(
        status[1].get("duration").and_then(Value::as_number),
        Some(20.5)
    );
    assert_eq!(
        UserControl::parse(&msgs[1].payload),
        Ok(UserControl::StreamEof(1))
    );
    assert_eq!(code(&msgs[2]), "NetStream.Play.Stop");
}

#[test]
fn play_defaults_and_rejection() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "play",
        0.0,
        Value::Null,
        vec![Value::from("x?a=b")],
    )
    .unwrap();
    let (_, events) = peer.receive(&mut server);
    assert_eq!(
        events,
        vec![ServerEvent::Play {
            stream_id: 1,
            name: "x".into(),
            query: "a=b".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        }]
    );
    server.reject_play(1, "NetStream.Play.StreamNotFound", "no such stream");
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(code(&msgs[0]), "NetStream.Play.StreamNotFound");
    // Idle again, so it may play something else.
    peer.command(
        &mut server,
        1,
        "play",
        0.0,
        Value::Null,
        vec![Value::from("y")],
    )
    .unwrap();
    assert_eq!(peer.receive(&mut server).1.len(), 1);
}

#[test]
fn small_commands_get_clean_answers() {
    let (mut server, mut peer) = Peer::connect();
    peer.create_stream(&mut server);
    peer.command(
        &mut server,
        1,
        "play2",
        0.0,
        Value::Null,
        vec![Value::object([("streamName", Value::from("a"))])],
    )
    .unwrap();
    peer.command(
        &mut server,
        1,
        "getStreamLength",
        3.0,
        Value::Null,
        vec![Value::from("a")],
    )
    .unwrap();
    peer.command(&mut server, 0, "_checkbw", 4.0, Value::Null, vec![])
        .unwrap();
    let (msgs, events) = peer.receive(&mut server);
    assert!(events.is_empty());
    assert_eq!(code(&msgs[0]), "NetStream.Play.Failed");
    assert_eq!(parse(&msgs[1]).args, vec![Value::Number(0.0)]);
    assert_eq!(
        (
            parse(&msgs[1]).name.as_str(),
            parse(&msgs[1]).transaction_id
        ),
        ("_result", 3.0)
    );
    assert_eq!(
        (
            parse(&msgs[2]).name.as_str(),
            parse(&msgs[2]).transaction_id
        ),
        ("_result", 4.0)
    );
}

#[test]
fn unknown_commands_get_error_when_answer_expected() {
    let (mut server, mut peer) = Peer::connect();
    peer.rtmp_connect(&mut server);
    peer.command(&mut server, 0, "fancyMethod", 9.0, Value::Null, vec![])
        .unwrap();
    let (msgs, _) = peer.receive(&mut server);
    let c = parse(&msgs[0]);
    assert_eq!((c.name.as_str(), c.transaction_id), ("_error", 9.0));
    assert_eq!(code(&msgs[0]), "NetConnection.Call.Failed");
    assert_eq!(server.unknown_messages(), 1);
    // Fire-and-forget unknown commands and stray replies are only counted.
    peer.command(&mut server, 0, "fancyMethod", 0.0, Value::Null, vec![])
        .unwrap();
    peer.command(&mut server, 0, "_result", 3.0, Value::Null, vec![])
        .unwrap();
    assert_eq!(peer.receive(&mut server).0, vec![]);
    assert_eq!(server.unknown_messages(), 3);
    // Unknown message types too.
    let shared_object = Message {
        csid: 3,
        timestamp: 0,
        type_id: 19,
        stream_id: 0,
        payload: Bytes::new(),
    };
    peer.send(&mut server, &shared_object).unwrap();
    assert_eq!(server.unknown_messages(), 4);
}

#[test]
fn too_many_streams() {
    let (mut server, mut peer) = Peer::connect();
    peer.rtmp_connect(&mut server);
    for i in 0..17 {
        peer.command(
            &mut server,
            0,
            "createStream",
            2.0 + f64::from(i),
            Value::Null,
            vec![],
        )
        .unwrap();
    }
    let (msgs, _) = peer.receive(&mut server);
    assert_eq!(parse(&msgs[15]).args, vec![Value::Number(16.0)]);
    assert_eq!(parse(&msgs[16]).name, "_error");
}
