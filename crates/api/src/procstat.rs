//! CPU time and resident memory of this process, from Linux's
//! `/proc/self/stat` and `/proc/self/status`. Elsewhere they are unknown
//! and shown as absent rather than as zero.

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`), fixed at 100
/// by Linux's user-space ABI whatever the kernel's internal tick rate.
pub(crate) const TICKS_PER_SEC: u64 = 100;

/// One reading of the process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// User plus system CPU time, in [`TICKS_PER_SEC`] ticks.
    pub(crate) cpu_ticks: u64,
    /// Resident set size in bytes.
    pub(crate) rss_bytes: u64,
}

/// Reads this process's numbers; `None` where `/proc` is missing or reads
/// oddly.
pub(crate) fn read_self() -> Option<ProcStat> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(ProcStat {
        cpu_ticks: cpu_ticks(&stat)?,
        rss_bytes: rss_bytes(&status)?,
    })
}

/// `utime + stime` from a `/proc/PID/stat` line. The command name (field
/// 2) is in parentheses and may itself contain spaces and parentheses, so
/// fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // After the name: field 3 (state) is index 0, so utime (field 14) is
    // index 11 and stime (field 15) index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` from `/proc/PID/status`, which the kernel gives in kB.
fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_an_awkward_command_name() {
        let line = "4242 (we ir) (x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                    150 37 0 0 20 0 9 0 1234 123456789 3000 18446744073709551615";
        assert_eq!(cpu_ticks(line), Some(187));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tweir\nVmPeak:\t  10000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(rss_bytes(status), Some(2048 * 1024));
        assert_eq!(rss_bytes("Name:\tweir\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let p = read_self().expect("/proc/self is readable on Linux");
        assert!(p.rss_bytes > 0);
    }
}
