//! Refusing a viewer whose format can carry none of a stream's tracks
//! (an AV1 + Opus stream asked for as HLS, which is MPEG-TS here), with a
//! reason and the formats that do carry it, instead of a playlist that
//! never fills or a file without media.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_hub::Hub;
use weir_media::{Codec, StreamKey};

/// `415 Unsupported Media Type` when the stream's known codecs are all
/// ones `carries` refuses; `None` when any track fits, or while the
/// stream's codecs are not known yet. A stream with one track the format
/// carries is served with that track alone.
pub(crate) fn refuse_uncarried(
    hub: &Hub,
    key: &StreamKey,
    format: &str,
    carries: fn(Codec) -> bool,
) -> Option<Response> {
    let info = hub.stream(key)?;
    let tracks: Vec<Codec> = [info.video_codec, info.audio_codec]
        .into_iter()
        .flatten()
        .collect();
    if tracks.is_empty() || tracks.iter().any(|c| carries(*c)) {
        return None;
    }
    let names: Vec<&str> = tracks.iter().map(Codec::name).collect();
    let mut fits: Vec<&str> = Vec::new();
    if tracks.iter().any(|c| weir_fmp4::carries(*c)) {
        fits.push(".mp4");
        fits.push("/llhls.m3u8");
    }
    if tracks.iter().any(|c| weir_flv::carries(*c)) {
        fits.push(".flv");
    }
    let hint = if fits.is_empty() {
        String::new()
    } else {
        format!("; play it as {}", fits.join(" or "))
    };
    tracing::debug!(stream = %key, format, codecs = ?names, "format cannot carry the stream");
    Some(
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{format} cannot carry {} ({key}){hint}\n",
                names.join(" + ")
            ),
        )
            .into_response(),
    )
}
