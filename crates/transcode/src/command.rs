//! The ffmpeg command line of one ladder: the source as FLV on stdin, one
//! FLV output per rendition sent to a loopback TCP address weir listens on.

use std::net::SocketAddr;

use crate::Rendition;

/// ffmpeg's arguments for `renditions`, each written to the matching
/// address of `outputs`.
///
/// - One decode, one scale and encode per rendition (`-map` per output).
/// - `-force_key_frames source`: a rendition's keyframes fall where the
///   source's do, so that a player switching renditions at a segment
///   boundary lands on a keyframe in both.
/// - `-tune zerolatency`: no B-frames and no look-ahead, so transcoding
///   adds little delay to a live stream.
/// - `-maxrate`/`-bufsize`: the bit rate is a cap a bandwidth-limited
///   viewer can count on, not only an average.
pub(crate) fn args(renditions: &[Rendition], outputs: &[SocketAddr]) -> Vec<String> {
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-fflags",
        "+genpts",
        "-f",
        "flv",
        "-i",
        "pipe:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (r, out) in renditions.iter().zip(outputs) {
        let v = r.video_kbps;
        a.extend([
            "-map".into(),
            "0:v:0".into(),
            "-map".into(),
            "0:a:0?".into(),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-tune".into(),
            "zerolatency".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-vf".into(),
            format!("scale=-2:{}", r.height),
            "-b:v".into(),
            format!("{v}k"),
            "-maxrate".into(),
            format!("{v}k"),
            "-bufsize".into(),
            format!("{}k", v * 2),
            "-force_key_frames".into(),
            "source".into(),
            "-c:a".into(),
            "aac".into(),
            "-b:a".into(),
            format!("{}k", r.audio_kbps),
            "-f".into(),
            "flv".into(),
            format!("tcp://{out}"),
        ]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_output_per_rendition_with_its_size_and_rates() {
        let renditions = [
            Rendition {
                name: "low".into(),
                height: 180,
                video_kbps: 300,
                audio_kbps: 48,
            },
            Rendition {
                name: "mid".into(),
                height: 360,
                video_kbps: 800,
                audio_kbps: 64,
            },
        ];
        let outs: Vec<SocketAddr> = vec![
            "127.0.0.1:4001".parse().unwrap(),
            "127.0.0.1:4002".parse().unwrap(),
        ];
        let a = args(&renditions, &outs).join(" ");
        assert!(a.starts_with("-hide_banner -nostdin"));
        assert!(a.contains("-f flv -i pipe:0"));
        let low = a.find("scale=-2:180").unwrap();
        let mid = a.find("scale=-2:360").unwrap();
        let out1 = a.find("tcp://127.0.0.1:4001").unwrap();
        let out2 = a.find("tcp://127.0.0.1:4002").unwrap();
        assert!(low < out1 && out1 < mid && mid < out2, "{a}");
        assert!(a.contains("-b:v 300k -maxrate 300k -bufsize 600k"));
        assert!(a.contains("-b:a 48k"));
        assert_eq!(a.matches("-force_key_frames source").count(), 2);
    }
}
