//! What wamp-bench reads from Linux's /proc: its own CPU time and a router's resident memory.
//! (No extra dependency: both are plain text files.)

use std::path::PathBuf;

use super::error::BenchError;

/// Clock ticks per second of /proc's CPU times (`USER_HZ`): 100 on every Linux architecture
/// in use (the kernel fixes it for user space whatever its internal tick rate).
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system, every thread) this process has used so far; `None` where
/// /proc/self/stat cannot be read (not Linux).
pub fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_secs_from_stat(&stat)
}

/// Parses `utime` and `stime` (fields 14 and 15) of a /proc/PID/stat line.
pub fn cpu_secs_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses:
    // the fields after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The resident memory (VmRSS) of process `pid`, in bytes.
pub fn resident_bytes(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = std::fs::read_to_string(&path).map_err(|source| BenchError::RouterMemory {
        path: path.clone(),
        source,
    })?;
    vm_rss_bytes(&status).ok_or(BenchError::NoVmRss { path })
}

/// Parses the `VmRSS:  1234 kB` line of /proc/PID/status.
pub fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = match parts.next() {
        Some("kB") | None => 1024,
        Some("mB") => 1024 * 1024,
        Some(_) => return None,
    };
    Some(value * unit)
}

/// Cores available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU use between two points of a run.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    cpu: Option<f64>,
    wall: std::time::Instant,
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start() -> CpuMeter {
        CpuMeter {
            cpu: own_cpu_secs(),
            wall: std::time::Instant::now(),
        }
    }

    /// The load generator's CPU use since [`CpuMeter::start`].
    pub fn stop(self) -> super::report::LoadGenerator {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, own_cpu_secs()) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => 0.0,
        };
        super::report::LoadGenerator::new(cores(), cpu, wall)
    }
}

/// How often [`RssSampler`] reads the router's memory.
const RSS_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A router's resident memory at the start, its highest sample and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RssFigures {
    /// VmRSS when sampling started, in bytes.
    pub before: u64,
    /// The highest VmRSS sampled, in bytes.
    pub peak: u64,
    /// VmRSS when sampling stopped, in bytes.
    pub after: u64,
}

/// Reads a router's VmRSS every 50 ms on a task of its own, keeping the highest.
pub struct RssSampler {
    pid: u32,
    before: u64,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    /// Reads the memory of `pid` once (an error if it cannot be read) and starts sampling.
    pub fn start(pid: u32) -> Result<RssSampler, BenchError> {
        let before = resident_bytes(pid)?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = before;
            let mut every = tokio::time::interval(RSS_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => return peak,
                    _ = every.tick() => {
                        // The router may be gone at the very end: keep what was seen.
                        if let Ok(rss) = resident_bytes(pid) {
                            peak = peak.max(rss);
                        }
                    }
                }
            }
        });
        Ok(RssSampler {
            pid,
            before,
            stop,
            task,
        })
    }

    /// Stops sampling and reads the memory a last time.
    pub async fn stop(self) -> Result<RssFigures, BenchError> {
        let _ = self.stop.send(());
        let peak = self.task.await.unwrap_or(self.before);
        let after = resident_bytes(self.pid)?;
        Ok(RssFigures {
            before: self.before,
            peak: peak.max(after),
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let stat = "4242 (wamp (bench) x) R 1 4242 4242 0 -1 4194304 1234 0 0 0 250 75 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(cpu_secs_from_stat(stat), Some(3.25));
        assert_eq!(cpu_secs_from_stat("garbage"), None);
        assert_eq!(cpu_secs_from_stat("1 (x) R 1 2"), None);
    }

    #[test]
    fn own_cpu_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(own_cpu_secs().is_some());
            let rss = resident_bytes(std::process::id()).unwrap();
            assert!(rss > 0);
        }
    }

    #[tokio::test]
    async fn the_sampler_reads_this_process() {
        if cfg!(target_os = "linux") {
            let sampler = RssSampler::start(std::process::id()).unwrap();
            let figures = sampler.stop().await.unwrap();
            assert!(figures.before > 0 && figures.after > 0);
            assert!(figures.peak >= figures.before.max(figures.after));
        }
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tnexusd\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_bytes(status), Some(5120 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tx\n"), None);
    }

    #[test]
    fn missing_process_is_an_actionable_error() {
        // PIDs are below 2^22 on Linux.
        let e = resident_bytes(u32::MAX).unwrap_err();
        assert!(e.to_string().contains("--router-pid"), "{e}");
    }
}
