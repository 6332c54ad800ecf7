#!/usr/bin/env bash
# The one test command: `bash scripts/test.sh` (CI runs it through .ci/run).
#
# 1. Installs what the tests need when it is missing: Debian packages for the
#    third-party clients the end-to-end tests drive, and Python packages.
#    Nothing is installed (and `apt-get update` is not run) when all is there,
#    so running it again is cheap.
# 2. Checks formatting and lints, then runs every test in release mode: the
#    end-to-end tests stream real media and need realistic speed.
# Any failing step stops the script with a non-zero exit. The last line is
# the total over every test binary: "tests: N passed, M failed".
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive
export PIP_ROOT_USER_ACTION=ignore
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_BREAK_SYSTEM_PACKAGES=1 # Debian's own python3 refuses pip installs without it

# Debian packages, each for the tools the tests use from it.
APT_PACKAGES=(
  ffmpeg                    # ffmpeg, ffprobe: publishers, players, analysis
  rtmpdump                  # librtmp player (plain and FP9 digest handshakes)
  gstreamer1.0-tools        # gst-launch-1.0, gst-inspect-1.0
  gstreamer1.0-plugins-base # videotestsrc, audiotestsrc, audioconvert
  gstreamer1.0-plugins-good # flvmux, flvdemux, rtspsrc, rtph264depay
  gstreamer1.0-plugins-bad  # rtmp2sink, rtmp2src, h264parse, x265enc (the pull_e2e.rs camera)
  gstreamer1.0-plugins-ugly # x264enc
  gstreamer1.0-libav        # avenc_aac, avdec_h264
  gstreamer1.0-rtsp         # rtspclientsink: GStreamer publishing over RTSP (rtsp_clients_e2e.rs)
  gir1.2-gst-rtsp-server-1.0 # gst-rtsp-server bindings: the simulated camera of pull_e2e.rs
  python3-gi                # GObject introspection for Debian's /usr/bin/python3 (the camera script)
  openssl                   # s_client, x509: which certificate is served and logged
  curl                      # HTTPS requests verified against a test CA
  hostname                  # hostname -I: a non-loopback address for access tests
  iproute2                  # ip addr: adds one to lo when the machine has none; ip link/route: multicast on lo (rtsp_secure_e2e.rs)
  glib-networking           # GIO's TLS backend: rtspsrc over rtsps:// (rtsp_secure_e2e.rs)
  vlc-bin                   # cvlc: VLC 3 as a player (players_e2e.rs)
  vlc-plugin-base           # VLC's own demuxers (mp4, ts, HLS) and access modules
  util-linux                # runuser: runs VLC (which refuses root) as nobody
  nginx                     # nginx-rtmp as a push destination (push_e2e.rs)
  libnginx-mod-rtmp         # its RTMP module
  redis-server              # redis-server, redis-cli: the cluster's Redis (cluster_e2e.rs)
)

# Python packages (pip name and the module it provides).
PIP_PACKAGES=(
  "websockets:websockets"
  "imageio-ffmpeg:imageio_ffmpeg" # ffmpeg 9 (static build): Enhanced RTMP (HEVC/AV1/VP9/Opus), rtmpe://, rtmpt://
)

# How many tests of one binary run at once. The end-to-end tests mostly
# wait on real-time streams, so more than the 2 cores keeps the run short.
TEST_THREADS="${TEST_THREADS:-4}"

step() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root (directly, or through sudo for a developer).
as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

install_apt_packages() {
  command -v dpkg-query >/dev/null || die "not a Debian system: install ${APT_PACKAGES[*]} by hand"
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    echo "Debian packages: all present"
    return
  fi
  step "apt-get install ${missing[*]}"
  as_root apt-get update -q
  as_root apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
}

install_pip_packages() {
  command -v python3 >/dev/null || die "python3 not found"
  local missing=() entry
  for entry in "${PIP_PACKAGES[@]}"; do
    python3 -c "import ${entry#*:}" 2>/dev/null || missing+=("${entry%%:*}")
  done
  if ((${#missing[@]} == 0)); then
    echo "Python packages: all present"
    return
  fi
  step "pip install ${missing[*]}"
  python3 -m pip install --quiet "${missing[@]}"
}

# ---- HTTP delivery tests (crates/app/tests/http_e2e.rs) --------------------
# Headless Chromium (Debian `chromium`) plays weir's streams with hls.js,
# mpegts.js, Video.js, Shaka Player and flv.js (http_e2e.rs, players_e2e.rs),
# driven by playwright-core; these npm packages go into
# crates/app/tests/browser/node_modules (gitignored) at the versions its
# package-lock.json pins. playwright-core needs Node >= 20.
BROWSER_TEST_DIR=crates/app/tests/browser

install_browser_test_deps() {
  local missing=()
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]} > 0)); then
    step "apt-get install ${missing[*]}"
    as_root apt-get update -q
    as_root apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ((major >= 20)) || die "Node $(node --version) is too old for playwright-core: install Node >= 20"
  # npm ci again only when the lock file changed since the last install.
  if [[ ! -f "$BROWSER_TEST_DIR/node_modules/.package-lock.json" ||
        "$BROWSER_TEST_DIR/package-lock.json" -nt "$BROWSER_TEST_DIR/node_modules/.package-lock.json" ]]; then
    step "npm ci in $BROWSER_TEST_DIR"
    npm ci --prefix "$BROWSER_TEST_DIR" --no-audit --no-fund --loglevel=error
  else
    echo "npm packages for the browser tests: all present"
  fi
}
# ---- end of HTTP delivery tests ----------------------------------------------

check_rust_tools() {
  cargo --version
  cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
  cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
}

# cargo test prints one "test result:" line per test binary; the sum is
# printed last so one line tells the whole outcome.
run_tests() {
  local log status
  log="$(mktemp)"
  set +e
  cargo test --workspace --release --no-fail-fast -- --test-threads="$TEST_THREADS" 2>&1 | tee "$log"
  status="${PIPESTATUS[0]}"
  set -e
  local counts passed failed
  counts="$(awk '/^test result:/ {
      for (i = 2; i <= NF; i++) {
        if ($i == "passed;") p += $(i - 1)
        if ($i == "failed;") f += $(i - 1)
      }
    } END { printf "%d %d", p, f }' "$log")"
  rm -f "$log"
  read -r passed failed <<<"$counts"
  if ((status != 0)); then
    echo "error: cargo test failed (exit $status)" >&2
  elif ((passed == 0)); then
    echo "error: no test ran" >&2
    status=1
  fi
  echo "tests: $passed passed, $failed failed"
  return "$status"
}

main() {
  step "dependencies"
  install_apt_packages
  install_pip_packages
  install_browser_test_deps
  check_rust_tools

  step "cargo fmt --check"
  cargo fmt --all -- --check

  step "cargo clippy"
  cargo clippy --workspace --all-targets -- -D warnings

  step "cargo test --release"
  run_tests
}

main "$@"
