//! The connection plumbing server and client sessions share: chunk codec,
//! acknowledgements, protocol control handling and an ordered output queue.
//!
//! Kept apart from the command logic so that the two session types differ
//! only in what they say, not in how bytes move.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use weir_amf0::Decoder;

use crate::chunk::{ChunkDecoder, ChunkEncoder, DecoderLimits, Message};
use crate::error::{MessageError, SessionError};
use crate::message::{type_id, Command, ProtocolControl, UserControl, CSID_COMMAND};

/// One item of a session's output, generic over the event type.
#[derive(Debug)]
pub(crate) enum Output<E> {
    Transmit(Bytes),
    Event(E),
}

/// What [`Core::on_control`] made of a message.
pub(crate) enum Control {
    /// A protocol control message, fully handled here.
    Handled,
    /// A user control event the session may want to act on (pings are
    /// already answered).
    User(UserControl),
    /// Not a control message: the session's to interpret.
    Other(Message),
}

#[derive(Debug)]
pub(crate) struct Core<E> {
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    pub(crate) amf: Decoder,
    /// Received bytes not yet consumed by the handshake or chunk decoder.
    pub(crate) inbuf: BytesMut,
    /// Outgoing bytes not yet handed out: consecutive sends coalesce into
    /// one `Transmit`.
    pending: BytesMut,
    out: VecDeque<Output<E>>,
    bytes_received: u64,
    /// `bytes_received` when we last sent an Ack.
    acked: u64,
    /// Acknowledge every this many bytes (the peer's Window Ack Size).
    ack_window: u32,
}

impl<E> Core<E> {
    pub(crate) fn new(limits: DecoderLimits, amf_max_depth: usize, ack_window: u32) -> Self {
        Core {
            decoder: ChunkDecoder::new(limits),
            encoder: ChunkEncoder::new(),
            amf: Decoder::new().max_depth(amf_max_depth),
            inbuf: BytesMut::new(),
            pending: BytesMut::new(),
            out: VecDeque::new(),
            bytes_received: 0,
            acked: 0,
            ack_window,
        }
    }

    /// Takes in received bytes.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.bytes_received += data.len() as u64;
        self.inbuf.extend_from_slice(data);
    }

    pub(crate) fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    pub(crate) fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    /// The next complete message from the buffered input.
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, SessionError> {
        Ok(self.decoder.decode(&mut self.inbuf)?)
    }

    /// Queues raw bytes (handshake blocks).
    pub(crate) fn transmit(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Chunks and queues a message.
    pub(crate) fn send(&mut self, msg: &Message) {
        self.encoder.encode(msg, &mut self.pending);
    }

    pub(crate) fn send_control(&mut self, pc: ProtocolControl) {
        self.send(&pc.to_message());
    }

    pub(crate) fn send_user(&mut self, uc: UserControl) {
        self.send(&uc.to_message());
    }

    pub(crate) fn send_command(&mut self, stream_id: u32, cmd: &Command) {
        self.send(&cmd.to_message(CSID_COMMAND, stream_id));
    }

    /// Announces a new outgoing chunk size, then switches to it (the
    /// announcement itself still goes out at the old size).
    pub(crate) fn set_chunk_size(&mut self, size: u32) {
        self.send_control(ProtocolControl::SetChunkSize(size));
        self.encoder.set_chunk_size(size);
    }

    /// Queues an event after everything queued so far.
    pub(crate) fn event(&mut self, e: E) {
        self.flush_pending();
        self.out.push_back(Output::Event(e));
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let bytes = self.pending.split().freeze();
            self.out.push_back(Output::Transmit(bytes));
        }
    }

    pub(crate) fn poll(&mut self) -> Option<Output<E>> {
        if self.out.is_empty() {
            self.flush_pending();
        }
        self.out.pop_front()
    }

    /// Sends an Ack once a window's worth of bytes has arrived since the
    /// last one, as the receiving side must.
    pub(crate) fn maybe_ack(&mut self) {
        if self.bytes_received - self.acked >= u64::from(self.ack_window) {
            self.acked = self.bytes_received;
            // The sequence number is a wrapping 32-bit byte count.
            self.send_control(ProtocolControl::Ack(self.bytes_received as u32));
        }
    }

    /// Handles protocol control messages and pings, which mean the same for
    /// both sides; returns what is left for the session.
    pub(crate) fn on_control(&mut self, msg: Message) -> Result<Control, SessionError> {
        match msg.type_id {
            type_id::SET_CHUNK_SIZE
            | type_id::ABORT
            | type_id::ACK
            | type_id::WINDOW_ACK_SIZE
            | type_id::SET_PEER_BANDWIDTH => {
                let pc = ProtocolControl::parse(msg.type_id, &msg.payload)
                    .map_err(|e| Self::message_error(&msg, e))?;
                match pc {
                    // The top bit is reserved; peers that set it mean the
                    // 31-bit value (the decoder rejects 0).
                    ProtocolControl::SetChunkSize(size) => self.decoder.set_chunk_size(size)?,
                    ProtocolControl::Abort(csid) => self.decoder.abort(csid),
                    // We never throttle on the peer's acks.
                    ProtocolControl::Ack(_) => {}
                    // 0 would mean "ack every byte": ignore it instead.
                    ProtocolControl::WindowAckSize(size) if size > 0 => self.ack_window = size,
                    ProtocolControl::WindowAckSize(_) => {}
                    // We do not limit our output rate; players are paced by
                    // the hub.
                    ProtocolControl::SetPeerBandwidth { .. } => {}
                }
                Ok(Control::Handled)
            }
            type_id::USER_CONTROL => {
                let uc =
                    UserControl::parse(&msg.payload).map_err(|e| Self::message_error(&msg, e))?;
                if let UserControl::PingRequest(v) = uc {
                    self.send_user(UserControl::PingResponse(v));
                }
                Ok(Control::User(uc))
            }
            _ => Ok(Control::Other(msg)),
        }
    }

    /// Wraps a message parse error with the message's identity.
    pub(crate) fn message_error(msg: &Message, source: MessageError) -> SessionError {
        SessionError::Message {
            type_id: msg.type_id,
            csid: msg.csid,
            stream_id: msg.stream_id,
            source,
        }
    }
}
