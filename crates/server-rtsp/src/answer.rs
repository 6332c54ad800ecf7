//! The decisions a connection makes for the requests its session cannot
//! answer alone: which stream a URI names, the access check, DESCRIBE's
//! SDP, ANNOUNCE's tracks, SETUP's routes, and starting to play or
//! publish.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info};
use weir_hub::{Action, HubError};
use weir_media::TrackKind;
use weir_rtsp::headers::{LowerTransport, Transport, TransportMode};
use weir_rtsp::sdp::SessionDescription;
use weir_rtsp::server::Ask;
use weir_rtsp::session::MulticastGroup;

use crate::conn::{Conn, End};
use crate::play::{Channels, Dest};
use crate::publish::Publishing;
use crate::reports::PlayerReports;
use crate::udp::QUEUE;
use crate::url::{self, Target};
use crate::{auth, describe};

impl Conn {
    pub(crate) async fn describe(&mut self, ask: Ask) -> Result<(), End> {
        let Some(target) = url::parse(&ask.uri) else {
            self.rtsp.refuse(404);
            return Ok(());
        };
        if !self.admit(Action::Play, &target, &ask).await? {
            return Ok(());
        }
        match self.load_tracks(&ask.uri, &target).await {
            Some((sdp, base)) => self.rtsp.accept_describe(sdp, &format!("{base}/")),
            // Live, but none of its codecs goes over RTSP (VP9, AC-3...):
            // say so, rather than "not found".
            None if self.shared.hub.is_live(&target.key) => {
                let codecs = self.shared.hub.stream(&target.key).map(|info| {
                    [info.video_codec, info.audio_codec]
                        .into_iter()
                        .flatten()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(" + ")
                });
                tracing::debug!(stream = %target.key, ?codecs, "rtsp cannot carry the stream");
                self.rtsp.refuse(415);
            }
            None => self.rtsp.refuse(404),
        }
        Ok(())
    }

    /// The stream's tracks (waiting for it to go live) and its SDP and
    /// base URL; `None` when it is not live within `play_wait`.
    async fn load_tracks(&mut self, uri: &str, target: &Target) -> Option<(Bytes, String)> {
        let host = url::authority(uri).unwrap_or("localhost").to_owned();
        let admission = self.stream.admission.as_ref()?;
        let shared = &self.shared;
        let tracks = describe::tracks(
            &shared.hub,
            &shared.egress,
            admission,
            shared.config.play_wait,
        )
        .await?;
        self.stream.described = tracks.iter().map(|(k, m)| (*k, m.clock_rate)).collect();
        let base = url::stream_base(url::scheme(self.tls), &host, &target.key);
        let sdp = describe::sdp(&tracks, &base, &target.query, &host);
        Some((Bytes::from(sdp), base))
    }

    pub(crate) async fn announce(&mut self, ask: Ask, sdp: SessionDescription) -> Result<(), End> {
        let Some(target) = url::parse(&ask.uri) else {
            self.rtsp.refuse(404);
            return Ok(());
        };
        if !self.admit(Action::Publish, &target, &ask).await? {
            return Ok(());
        }
        let Some(publishing) = Publishing::new(&sdp, std::time::Instant::now()) else {
            self.shared
                .hub
                .clients()
                .count_error("rtsp", "unsupported_codec");
            self.rtsp.refuse(415);
            return Ok(());
        };
        self.stream.announced_controls = sdp
            .media
            .iter()
            .map(|m| url::parse(&m.control_url(&ask.uri)).and_then(|t| t.track_name))
            .collect();
        self.stream.publishing = Some(publishing);
        self.rtsp.accept();
        Ok(())
    }

    pub(crate) async fn setup(&mut self, ask: Ask, offered: &[Transport]) -> Result<(), End> {
        let Some(target) = url::parse(&ask.uri) else {
            self.rtsp.refuse(404);
            return Ok(());
        };
        // A publisher's SETUP names one of its announced controls; a
        // player's names ours (`trackID=N`, N the SDP index).
        let track = target
            .track_name
            .as_ref()
            .and_then(|name| {
                let controls = &self.stream.announced_controls;
                controls.iter().position(|c| c.as_ref() == Some(name))
            })
            .or(target.track)
            .unwrap_or(0);
        if self.stream.key.as_ref().is_some_and(|k| *k != target.key) {
            self.rtsp.refuse(459);
            return Ok(());
        }
        let count = match &self.stream.publishing {
            Some(publishing) => publishing.len(),
            None => {
                if self.stream.admission.is_none() {
                    // SETUP without DESCRIBE: describe now.
                    if !self.admit(Action::Play, &target, &ask).await? {
                        return Ok(());
                    }
                    if self.load_tracks(&ask.uri, &target).await.is_none() {
                        self.rtsp.refuse(404);
                        return Ok(());
                    }
                }
                self.stream.described.len()
            }
        };
        if track >= count {
            self.rtsp.refuse(404);
            return Ok(());
        }
        let group = self.multicast_group(track, offered);
        let Some(answer) = self.rtsp.accept_setup(track, group.as_ref()) else {
            return Ok(());
        };
        if let (Some(udp), LowerTransport::Udp, Some((a, b))) =
            (self.shared.udp.clone(), answer.lower, answer.client_port)
        {
            let ip = self.addr.ip();
            let (rtp, rtcp) = (SocketAddr::new(ip, a), SocketAddr::new(ip, b));
            // A publisher's media and RTCP, or a player's receiver
            // reports, come back to this session.
            let tx = match &self.stream.udp_tx {
                Some(tx) => tx.clone(),
                None => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    self.udp_in = Some(rx);
                    self.stream.udp_tx = Some(tx.clone());
                    tx
                }
            };
            self.stream.routes.push(udp.register(rtp, rtcp, track, tx));
            if answer.mode != Some(TransportMode::Record) {
                self.stream.udp_dest.retain(|d| d.0 != track);
                self.stream.udp_dest.push((track, rtp, rtcp));
            }
        }
        Ok(())
    }

    /// The multicast group of `track` when the client offers multicast
    /// and the server has a range (`None` otherwise: the session then
    /// takes the next transport offered, or answers 461).
    fn multicast_group(&mut self, track: usize, offered: &[Transport]) -> Option<MulticastGroup> {
        let multicast = self.shared.multicast.as_ref()?;
        if !offered.iter().any(|t| t.multicast) {
            return None;
        }
        let (kind, _) = *self.stream.described.get(track)?;
        if self.stream.multicast.is_none() {
            self.stream.multicast = multicast.groups(self.stream.key.as_ref()?);
        }
        Some(self.stream.multicast.as_ref()?.group(kind))
    }

    pub(crate) async fn play(&mut self) -> Result<(), End> {
        let Some(admission) = self.stream.admission.as_ref() else {
            self.rtsp.refuse(455);
            return Ok(());
        };
        self.client.set_transport(self.session_transport());
        let mut ch = Channels::default();
        let mut multicast = false;
        for t in self.rtsp.session().map(|s| s.tracks()).unwrap_or_default() {
            let udp = self.stream.udp_dest.iter().find(|d| d.0 == t.track);
            let dest = match (t.transport.interleaved, udp) {
                (Some((rtp, _)), _) => Some(Dest::Tcp(rtp)),
                (None, Some(&(_, rtp, rtcp))) => Some(Dest::Udp(rtp, rtcp)),
                _ => None,
            };
            multicast |= t.transport.multicast;
            match self.stream.described.get(t.track).map(|d| d.0) {
                Some(TrackKind::Video) => ch.video = dest,
                Some(TrackKind::Audio) => ch.audio = dest,
                _ => {}
            }
        }
        self.channels = ch;
        if self.reports.is_none() {
            let clocks = self.stream.described.iter().map(|d| d.1);
            self.reports = Some(PlayerReports::new(clocks));
        }
        info!(id = self.client.id(), peer = %self.addr, stream = %admission.key(), multicast, "rtsp play");
        if multicast && self.stream.multicast_player.is_none() {
            if let Some(groups) = &self.stream.multicast {
                let shared = &self.shared;
                let player = groups.play(&shared.hub, &shared.egress, &shared.shutdown);
                self.stream.multicast_player = Some(player);
            }
        }
        // Multicast tracks are sent by the stream's sender; this
        // connection writes the others.
        if self.feed.receiver().is_none()
            && !self.feed.is_parked()
            && (ch.video.is_some() || ch.audio.is_some())
        {
            let rx = self.shared.egress.subscribe(admission);
            self.set_receiver(Some(rx)).await?;
        }
        self.rtsp.accept();
        Ok(())
    }

    /// How the session's media travels, for the client list: `"tcp"`
    /// (interleaved), `"multicast"` or `"udp"`.
    fn session_transport(&self) -> &'static str {
        let tracks = self.rtsp.session().map(|s| s.tracks()).unwrap_or_default();
        if tracks.iter().any(|t| t.transport.interleaved.is_some()) {
            "tcp"
        } else if tracks.iter().any(|t| t.transport.multicast) {
            "multicast"
        } else {
            "udp"
        }
    }

    pub(crate) fn record(&mut self) -> Result<(), End> {
        let Some(admission) = self.stream.admission.as_ref() else {
            self.rtsp.refuse(455);
            return Ok(());
        };
        self.client.set_transport(self.session_transport());
        if self.publisher.is_none() {
            match self.shared.hub.publish(admission) {
                Ok(p) => {
                    info!(id = self.client.id(), peer = %self.addr, stream = %admission.key(), "rtsp publish");
                    self.publisher = Some(p);
                }
                Err(HubError::AlreadyPublishing(_)) => {
                    self.rtsp.refuse(403);
                    return Err(End::Protocol(
                        "already_publishing",
                        "stream already published".into(),
                    ));
                }
                Err(e) => {
                    self.rtsp.refuse(503);
                    return Err(End::Protocol("publish_refused", e.to_string()));
                }
            }
        }
        self.rtsp.accept();
        Ok(())
    }

    /// The access check for `action` on the target (once per session: a
    /// second DESCRIBE/ANNOUNCE of the same stream is fine, another is
    /// 455). Credentials stand in for a `key=` the query lacks (see
    /// `auth.rs`). `Ok(false)`: refused, and already answered.
    async fn admit(&mut self, action: Action, target: &Target, ask: &Ask) -> Result<bool, End> {
        if let Some(admission) = &self.stream.admission {
            if self.stream.key.as_ref() == Some(&target.key) && admission.action() == action {
                return Ok(true);
            }
            self.rtsp.refuse(455);
            return Ok(false);
        }
        let query = match &ask.credentials {
            Some(_) => {
                let keys = self
                    .shared
                    .hub
                    .password_keys(&self.client, action, &target.key);
                match ask.password(keys.iter().map(String::as_str)) {
                    Some(password) => auth::with_key(&target.query, &password),
                    None => target.query.clone(),
                }
            }
            None => target.query.clone(),
        };
        let hub = self.shared.hub.clone();
        match hub.admit(&self.client, action, &target.key, &query).await {
            Ok(a) => {
                self.stream.key = Some(target.key.clone());
                self.stream.admission = Some(a);
                Ok(true)
            }
            Err(denied) => {
                let retry = ask.credentials.is_none() || self.auth_failures == 0;
                if !auth::has_key(&target.query) && retry {
                    // Ask for credentials (again): the password is the key.
                    if ask.credentials.is_some() {
                        self.auth_failures += 1;
                    }
                    debug!(id = self.client.id(), reason = %denied, "rtsp: 401, asking for credentials");
                    self.rtsp.challenge(auth::nonce());
                    return Ok(false);
                }
                self.rtsp.refuse(403);
                Err(End::Denied(denied.to_string()))
            }
        }
    }
}
