//! The kernel's view of a test connection, from /proc/net/tcp: lets the
//! stalled-player test prove that the stall really reached the server (its
//! socket send buffer stopped draining) before it measures anyone else.

use std::collections::HashSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// TCP_ESTABLISHED in /proc/net/tcp's `st` column.
const ESTABLISHED: &str = "01";

/// How long the server's send queue must stay unchanged to count as stuck.
const STUCK_FOR: Duration = Duration::from_millis(1500);

/// The server's end of one client's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerEnd {
    /// The client has no connection to the server (yet).
    Absent,
    /// Established; bytes the server wrote that the client has not acknowledged.
    Queued(u64),
    /// The server closed or dropped the connection.
    Closed,
}

/// How a stall ended up at the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// The server's send queue for the player is full and not moving (bytes).
    Saturated(u64),
    /// The server disconnected the stalled player.
    Disconnected,
}

/// Waits until the connection from process `client_pid` to `server_port`
/// is stuck: the server-side send queue is non-empty and has not changed
/// for 1.5 s (the client's receive window is zero), or the server closed it.
pub fn wait_for_stall(server_port: u16, client_pid: u32, timeout: Duration) -> Stall {
    let deadline = Instant::now() + timeout;
    let mut last = ServerEnd::Absent;
    let mut since = Instant::now();
    loop {
        let now = Instant::now();
        let end = server_end(server_port, client_pid);
        match end {
            ServerEnd::Closed => return Stall::Disconnected,
            ServerEnd::Queued(bytes) if bytes > 0 && end == last => {
                if now - since >= STUCK_FOR {
                    return Stall::Saturated(bytes);
                }
            }
            _ => since = now,
        }
        last = end;
        if now >= deadline {
            panic!(
                "the stalled player's connection never backed up into the server within {timeout:?} \
                 (server end: {last:?})"
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the server closed its end of `client_pid`'s connection.
pub fn server_closed(server_port: u16, client_pid: u32) -> bool {
    server_end(server_port, client_pid) == ServerEnd::Closed
}

/// Whether process `client_pid` has an open connection to `server_port`.
pub fn is_connected(server_port: u16, client_pid: u32) -> bool {
    server_end(server_port, client_pid) != ServerEnd::Absent
}

/// Finds the server's end of `client_pid`'s connection to `server_port`.
fn server_end(server_port: u16, client_pid: u32) -> ServerEnd {
    let inodes = socket_inodes(client_pid);
    let table = fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let rows: Vec<Row> = table.lines().skip(1).filter_map(Row::parse).collect();
    let Some(client) = rows
        .iter()
        .find(|r| r.remote_port == server_port && inodes.contains(&r.inode))
    else {
        return ServerEnd::Absent;
    };
    if client.state != ESTABLISHED {
        return ServerEnd::Closed;
    }
    match rows
        .iter()
        .find(|r| r.local_port == server_port && r.remote_port == client.local_port)
    {
        Some(server) if server.state == ESTABLISHED => ServerEnd::Queued(server.tx_queue),
        _ => ServerEnd::Closed,
    }
}

/// Inodes of the sockets process `pid` has open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|fd| {
        let target = fs::read_link(fd.ok()?.path()).ok()?;
        let target = target.to_str()?;
        target
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}

/// The columns of one /proc/net/tcp row that the test needs.
struct Row {
    local_port: u16,
    remote_port: u16,
    state: String,
    tx_queue: u64,
    inode: u64,
}

impl Row {
    /// Parses `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`.
    fn parse(line: &str) -> Option<Row> {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
        let (tx, _rx) = cols.get(4)?.split_once(':')?;
        Some(Row {
            local_port: port(cols.get(1)?)?,
            remote_port: port(cols.get(2)?)?,
            state: cols.get(3)?.to_string(),
            tx_queue: u64::from_str_radix(tx, 16).ok()?,
            inode: cols.get(9)?.parse().ok()?,
        })
    }
}
