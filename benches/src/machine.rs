//! What the benchmarks ran on, and the process's memory, from `/proc`.

use std::fs;

/// The machine, in the words of `/proc/cpuinfo`, `/proc/meminfo` and the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Machine {
    /// The CPU's model name, when the kernel reports one.
    pub cpu: Option<String>,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// Total memory, in KiB.
    pub memory_kib: Option<u64>,
    /// The kernel release.
    pub kernel: Option<String>,
}

impl Machine {
    /// Reads the machine's description (fields it cannot read stay `None`).
    pub fn detect() -> Self {
        Self {
            cpu: fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|text| cpu_model(&text)),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_kib: fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| kib_field(&text, "MemTotal")),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|text| text.trim().to_owned()),
        }
    }
}

/// The first `model name` of a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// A `Name:   1234 kB` field of `/proc/meminfo` or `/proc/self/status`, in KiB.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key.trim() != name {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

/// This process's resident set now (`VmRSS`) and at its peak (`VmHWM`), in KiB.
pub fn resident_kib() -> Option<(u64, u64)> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    Some((kib_field(&status, "VmRSS")?, kib_field(&status, "VmHWM")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpu_model("processor : 0\n"), None);

        let status = "Name:\tbench\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(10_240));
        assert_eq!(kib_field(status, "VmHWM"), Some(20_480));
        assert_eq!(kib_field(status, "VmSwap"), None);
        assert_eq!(kib_field("VmRSS: lots kB", "VmRSS"), None);
    }

    #[test]
    fn this_machine_is_described() {
        let machine = Machine::detect();
        assert!(machine.cpus >= 1);
        if cfg!(target_os = "linux") {
            assert!(machine.memory_kib.is_some_and(|kib| kib > 0));
            let (rss, peak) = resident_kib().unwrap();
            assert!(rss > 0 && peak >= rss);
        }
    }
}
