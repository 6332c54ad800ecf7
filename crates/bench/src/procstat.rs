//! CPU time and memory of a server's process tree (and of this tool),
//! from Linux's /proc.
//!
//! A server may be several processes (nginx's master and worker), so a
//! pid's descendants are summed with it. CPU is utime + stime in clock
//! ticks; memory is the sum of the processes' resident set sizes.

use std::collections::HashMap;
use std::fs;

/// CPU and memory fields of one `/proc/<pid>/stat` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) ppid: u32,
    /// utime + stime, clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Resident pages.
    pub(crate) rss_pages: u64,
}

/// Parses a stat line. The command name may hold spaces and parentheses,
/// so fields are counted from the *last* `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) ... utime(14) stime(15) ... rss(24).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        rss_pages: field(24)?,
    })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when unknown (the value
/// of every mainstream Linux architecture).
pub(crate) fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Page size in bytes (`getconf PAGESIZE`), 4096 when unknown.
pub(crate) fn page_size() -> u64 {
    std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(4096)
}

/// CPU ticks and resident pages of a process and all its descendants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TreeUsage {
    pub(crate) cpu_ticks: u64,
    pub(crate) rss_pages: u64,
    pub(crate) processes: usize,
}

/// Sums `root` and its descendants given every process's stat.
pub(crate) fn tree_usage(root: u32, all: &HashMap<u32, Stat>) -> TreeUsage {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, st) in all {
        children.entry(st.ppid).or_default().push(pid);
    }
    let mut usage = TreeUsage::default();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        let Some(st) = all.get(&pid) else { continue };
        usage.cpu_ticks += st.cpu_ticks;
        usage.rss_pages += st.rss_pages;
        usage.processes += 1;
        if let Some(kids) = children.get(&pid) {
            todo.extend(kids.iter().copied().filter(|&k| k != pid));
        }
    }
    usage
}

/// Current usage of `root`'s process tree, `None` if it is gone.
pub(crate) fn sample_tree(root: u32) -> Option<TreeUsage> {
    let mut all = HashMap::new();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(st) = read_stat(pid) {
            all.insert(pid, st);
        }
    }
    all.contains_key(&root).then(|| tree_usage(root, &all))
}

/// This process's own CPU ticks.
pub(crate) fn self_cpu_ticks() -> u64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0, |s| s.cpu_ticks)
}

/// Bytes process `pid` has caused to be written to storage
/// (`write_bytes` of `/proc/PID/io`: page-cache dirtying included, so a
/// file rewritten in place counts every time). Its own threads only.
pub(crate) fn write_bytes(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit on open files, to warn before a run runs out of them.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let line = "4242 (we ird) (x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 100 123456 789 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 17,
                cpu_ticks: 281,
                rss_pages: 789
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn tree_sums_descendants_only() {
        let st = |ppid, cpu| Stat {
            ppid,
            cpu_ticks: cpu,
            rss_pages: 1,
        };
        let all: HashMap<u32, Stat> = [
            (1, st(0, 1000)),
            (10, st(1, 5)),
            (11, st(10, 7)),
            (12, st(11, 11)),
            (20, st(1, 100)),
        ]
        .into_iter()
        .collect();
        let u = tree_usage(10, &all);
        assert_eq!((u.cpu_ticks, u.rss_pages, u.processes), (23, 3, 3));
        assert_eq!(tree_usage(99, &all), TreeUsage::default());
    }

    #[test]
    fn own_process_is_visible() {
        assert!(sample_tree(std::process::id()).is_some_and(|u| u.rss_pages > 0));
    }
}
