//! This node's load, measured between two heartbeats: bytes sent to
//! clients and CPU used by the process.

use std::time::Instant;

use weir_hub::{Action, Hub};

/// Clients and rates of the node now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Load {
    pub(crate) connections: usize,
    pub(crate) viewers: usize,
    pub(crate) egress_mbps: f64,
    pub(crate) cpu: f64,
}

/// Turns counters into rates between two samples.
#[derive(Debug, Default)]
pub(crate) struct LoadMeter {
    last: Option<(Instant, u64, f64)>,
}

impl LoadMeter {
    pub(crate) fn sample(&mut self, hub: &Hub) -> Load {
        let clients = hub.clients();
        let bytes_out: u64 = clients.totals().iter().map(|t| t.bytes_out).sum();
        let list = clients.list();
        let viewers = list.iter().filter(|c| c.role == Some(Action::Play)).count();
        let cpu_secs = process_cpu_secs().unwrap_or(0.0);
        let now = Instant::now();
        let mut load = Load {
            connections: list.len(),
            viewers,
            ..Load::default()
        };
        if let Some((then, bytes, cpu)) = self.last {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                load.egress_mbps = bytes_out.saturating_sub(bytes) as f64 * 8.0 / 1e6 / secs;
                load.cpu = ((cpu_secs - cpu) / secs).max(0.0);
            }
        }
        self.last = Some((now, bytes_out, cpu_secs));
        load
    }
}

/// User + system CPU seconds of this process (Linux `/proc`, whose
/// counters are in USER_HZ = 100 ticks a second on every architecture);
/// `None` elsewhere.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may
    // itself hold spaces: state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_cpu_time() {
        if cfg!(target_os = "linux") {
            let a = super::process_cpu_secs().unwrap();
            let mut x = 0u64;
            for i in 0..50_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            assert!(super::process_cpu_secs().unwrap() >= a);
        }
    }
}
