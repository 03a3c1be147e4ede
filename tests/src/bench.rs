//! The line protocol of the `bench` guest program, and the table and JSON made from it.
//!
//! The guest prints one line per benchmark, then a terminator:
//!
//! ```text
//! BENCH <name> median=<ticks> min=<ticks> max=<ticks> p90=<ticks> iterations=<n> [<key>=<n>]...
//! BENCHCOUNT <name> <key>=<n>...
//! BENCH DONE
//! ```
//!
//! Every `BENCH` line also carries one `<counter>=<n>` field per kernel event counter
//! ([`Counter::name`]): the total the kernel counted over the timed iterations together.
//! A `BENCHCOUNT` line is a count ([`EXPECTED_COUNTS`]): a workload that is not timed but
//! counted, e.g. `memsrv_mixed_flips`, whose line must carry `allocations=`, `flips=` and
//! `forced=` ([`COUNT_REQUIRED`]).
//!
//! Ticks are time-stamp counter differences around one iteration, nothing subtracted.
//! [`OVERHEAD`] times an empty iteration; [`CALIBRATION`] carries `instructions=<n>`, the
//! exact number of instructions its loop adds over an empty iteration, so
//! `(calibration median - overhead median) / n` is ticks per instruction (1 under QEMU's
//! `-icount shift=0`). Every other line is a log line.

use std::collections::HashSet;
use std::fmt::Write as _;

use syscall_abi::counters::{COUNT, Counter};

/// The benchmark timing two back-to-back counter reads.
pub const OVERHEAD: &str = "rdtsc_overhead";
/// The benchmark timing a loop of a known number of instructions.
pub const CALIBRATION: &str = "calibration_loop";
/// The boot module the `bench` program spawns as the server of its cross-address-space
/// benchmarks; it is booted after `bench` (the root task, the first module).
pub const PEER_MODULE: &str = "bench-peer";
/// The boot module the `bench` program starts memsrv from, for the memsrv benchmarks and
/// counts; booted after [`PEER_MODULE`].
pub const MEMSRV_MODULE: &str = "memsrv-server";
/// The register-only round trip between address spaces: what the memsrv round trips are
/// measured against.
pub const IPC_ROUND_TRIP: &str = "ipc_call_reply_0_cross_as";
/// Every benchmark the guest must report; a missing one fails the run.
pub const EXPECTED: &[&str] = &[
    OVERHEAD,
    CALIBRATION,
    "null_syscall",
    "debug_write_0",
    "ipc_call_reply_0_same_as",
    "ipc_call_reply_16_same_as",
    "ipc_call_reply_0_cross_as",
    "ipc_call_reply_16_cross_as",
    "notification_signal_wait",
    "retype_endpoint",
    "map_unmap_frame",
    "asi_counters_read_nonsensitive_buffer",
    "asi_exit_reentry",
    "flip_pageblock_to_sensitive",
    "flip_pageblock_to_nonsensitive",
    "memsrv_alloc_free_4k_nonsensitive",
    "memsrv_alloc_free_4k_sensitive",
    "memsrv_kept_alloc_free_4k_nonsensitive",
    "memsrv_kept_alloc_free_4k_sensitive",
];

/// Every count the guest must report; a missing one fails the run.
pub const EXPECTED_COUNTS: &[&str] = &[MIXED_FLIPS];
/// Flips per 10,000 4 KiB allocations of a mixed workload through memsrv.
pub const MIXED_FLIPS: &str = "memsrv_mixed_flips";
/// The fields every count line carries: the allocations made, the flips made and the
/// least flips the workload forces.
pub const COUNT_REQUIRED: [&str; 3] = ["allocations", "flips", "forced"];

/// A project goal for a benchmark, in guest instructions of `-overhead` in [`TARGET_MODE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// At most this many.
    Instructions(u64),
    /// At most `factor` times another benchmark's figure in the same run.
    TimesOf { factor: u64, benchmark: &'static str },
}

impl Target {
    /// The most instructions it allows in `results`; `None` if the other benchmark is
    /// missing there.
    fn bound(self, results: &Results) -> Option<u64> {
        match self {
            Self::Instructions(limit) => Some(limit),
            Self::TimesOf { factor, benchmark } => {
                let other = corrected(results.get(benchmark)?, results.overhead);
                u64::try_from(other).ok().map(|other| other * factor)
            }
        }
    }

    /// How the report names the rule, besides the bound: `3x ipc_call_reply_0_cross_as`.
    fn rule(self) -> Option<String> {
        match self {
            Self::Instructions(_) => None,
            Self::TimesOf { factor, benchmark } => Some(format!("{factor}x {benchmark}")),
        }
    }
}
/// What the report says about one benchmark besides its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    /// The benchmark's name.
    pub name: &'static str,
    /// The most instructions the operation should take (compared with the median minus
    /// [`OVERHEAD`]'s), if the project set a target.
    pub target: Option<Target>,
    /// The kernel events one iteration causes, as the benchmark is built: what the counts
    /// should show in mode [`TARGET_MODE`].
    pub events: &'static str,
}

/// A note for every name in [`EXPECTED`].
pub const NOTES: &[Note] = &[
    Note { name: OVERHEAD, target: None, events: "none: two counter reads" },
    Note { name: CALIBRATION, target: None, events: "none: 10001 user instructions" },
    Note {
        name: "null_syscall",
        target: Some(Target::Instructions(100)),
        events: "1 kernel entry (the Null call), straight back to the caller; no thread switch",
    },
    Note {
        name: "debug_write_0",
        target: None,
        events: "1 kernel entry, argument checks, nothing printed; no thread switch",
    },
    Note {
        name: "ipc_call_reply_0_same_as",
        target: None,
        events: "2 kernel entries (root Call, server ReplyRecv), 2 thread switches, 0 address-space \
                 switches (one VSpace), 0 FPU switches expected (no thread uses the FPU); \
                 register-only message",
    },
    Note {
        name: "ipc_call_reply_16_same_as",
        target: None,
        events: "as ipc_call_reply_0_same_as, plus 12 words copied between IPC buffers each way \
                 (not register-only)",
    },
    Note {
        name: "ipc_call_reply_0_cross_as",
        target: Some(Target::Instructions(400)),
        events: "2 kernel entries (root Call, peer ReplyRecv), 2 thread switches, 2 address-space \
                 switches (a CR3 write each way, flushing the TLB: TCG has no PCIDs), 0 FPU \
                 switches expected (neither thread uses the FPU); register-only message",
    },
    Note {
        name: "ipc_call_reply_16_cross_as",
        target: None,
        events: "as ipc_call_reply_0_cross_as, plus 12 words copied between IPC buffers each way \
                 (not register-only)",
    },
    Note {
        name: "notification_signal_wait",
        target: None,
        events: "4 kernel entries (root Signal, waiter Signal back, waiter Wait, root Wait finding \
                 the signal pending), 2 thread switches, 0 address-space switches",
    },
    Note {
        name: "retype_endpoint",
        target: None,
        events: "1 kernel entry: a 16-byte endpoint carved from an untyped with no children and \
                 zeroed, one capability inserted (its delete is untimed, but counted: 2 kernel \
                 entries per iteration in the counts)",
    },
    Note {
        name: "map_unmap_frame",
        target: None,
        events: "2 kernel entries: one leaf entry written (tables already there), then cleared \
                 with one TLB entry flushed (active VSpace); no CR3 write",
    },
    Note {
        name: "asi_counters_read_nonsensitive_buffer",
        target: None,
        events: "1 kernel entry (AsiControlCounters: 12 reply words, 8 written into the root \
                 task's IPC buffer, nonsensitive); no thread switch, no ASI exit in any mode: \
                 asi_exit_reentry without the exit",
    },
    Note {
        name: "asi_exit_reentry",
        target: None,
        events: "as asi_counters_read_nonsensitive_buffer, with the IPC buffer in a sensitive \
                 pageblock: with asi=on 1 ASI exit (window fault, CR3 write) and 1 re-entry (CR3 \
                 write, L1D flush) per call, the difference of the two medians their cost; \
                 none with asi=off",
    },
    Note {
        name: "flip_pageblock_to_sensitive",
        target: None,
        events: "1 kernel entry: 1 flip of a 2 MiB pageblock with nothing carved from it, its \
                 restricted-view entry cleared, 1 TLB shootdown; the flip back is untimed and \
                 uncounted",
    },
    Note {
        name: "flip_pageblock_to_nonsensitive",
        target: None,
        events: "1 kernel entry: 1 flip of a 2 MiB pageblock, 512 pages zeroed (with asi=on \
                 through an ASI exit and re-entry: the block is still sensitive), its \
                 restricted-view entry written; the flip back is untimed and uncounted",
    },
    Note {
        name: "memsrv_alloc_free_4k_nonsensitive",
        target: None,
        events: "2 Calls to memsrv (alloc, free), each a round trip with 2 address-space \
                 switches; in between memsrv's own system calls: the alloc retypes the frame \
                 from the 4 KiB half the last iteration left cached and reads its address, \
                 the free revokes and deletes it (8 kernel entries); no flip after warm-up \
                 (memsrv starts with 2 pageblocks of each sensitivity), no ASI exit. A new, \
                 zeroed frame every time, for comparison with the kept rows, which carry \
                 the round-trip target: the two round trips and the zeroing alone (512 \
                 stores) are above it",
    },
    Note {
        name: "memsrv_alloc_free_4k_sensitive",
        target: None,
        events: "as memsrv_alloc_free_4k_nonsensitive, from a sensitive pageblock: the \
                 kernel zeroes every new frame at its retype, and this one, with asi=on, \
                 through 1 ASI exit and 1 re-entry (2 more CR3 writes, 1 L1D flush) per \
                 iteration; none with asi=off; no flip",
    },
    Note {
        name: "memsrv_kept_alloc_free_4k_nonsensitive",
        target: Some(Target::TimesOf { factor: 3, benchmark: IPC_ROUND_TRIP }),
        events: "2 Calls to memsrv through a FramePool (alloc, free), each a register-only \
                 round trip on the fastpath with 2 address-space switches (4 kernel entries, \
                 4 CR3 writes): the frame freed is kept for the client, unrevoked, and the \
                 next alloc gets it back; no retype, no zeroing, no flip, no ASI exit",
    },
    Note {
        name: "memsrv_kept_alloc_free_4k_sensitive",
        target: Some(Target::TimesOf { factor: 3, benchmark: IPC_ROUND_TRIP }),
        events: "as memsrv_kept_alloc_free_4k_nonsensitive, from a sensitive pageblock: the \
                 kept frame goes to no other client, so it is not zeroed and even with \
                 asi=on there is no ASI exit",
    },
];

/// The note on benchmark `name`.
pub fn note(name: &str) -> Option<&'static Note> {
    NOTES.iter().find(|note| note.name == name)
}

/// `figures`' target in `results` (its bound in instructions and its rule) and whether
/// they meet it: `None` without one.
fn target_met(figures: &Figures, results: &Results) -> Option<(u64, Option<String>, bool)> {
    let target = note(&figures.name)?.target?;
    let bound = target.bound(results)?;
    Some((bound, target.rule(), corrected(figures, results.overhead) <= i128::from(bound)))
}

/// The fields every benchmark line carries, in the order the guest prints them.
const REQUIRED: [&str; 5] = ["median", "min", "max", "p90", "iterations"];

/// One benchmark's figures, as the guest printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    /// The benchmark's name.
    pub name: String,
    /// The median sample, in ticks (the lower middle one for an even count).
    pub median: u64,
    /// The smallest sample.
    pub min: u64,
    /// The largest sample.
    pub max: u64,
    /// The 90th percentile (nearest rank).
    pub p90: u64,
    /// How many timed iterations the figures summarise.
    pub iterations: u64,
    /// Each kernel event counter's total over the timed iterations, in [`Counter`] order.
    pub counters: [u64; COUNT],
    /// Any further `key=value` fields, in order (e.g. `instructions`).
    pub extra: Vec<(String, u64)>,
}

impl Figures {
    /// An extra field's value.
    pub fn extra(&self, key: &str) -> Option<u64> {
        self.extra.iter().find(|(name, _)| name == key).map(|&(_, value)| value)
    }

    /// What the kernel counted of `counter` over the timed iterations, in total.
    pub fn counted(&self, counter: Counter) -> u64 {
        self.counters[counter as usize]
    }
}

/// One protocol line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A benchmark's figures.
    Result(Figures),
    /// A count's numbers.
    Count(Tally),
    /// `BENCH DONE`: every benchmark has run.
    Done,
    /// Starts like a protocol line but does not follow the protocol.
    Malformed(String),
}

/// A count's numbers, as the guest printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// The count's name.
    pub name: String,
    /// Every `key=value` field, in order; [`COUNT_REQUIRED`] are among them.
    pub fields: Vec<(String, u64)>,
}

impl Tally {
    /// A field's value.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.fields.iter().find(|(name, _)| name == key).map(|&(_, value)| value)
    }

    /// Whether the flips meet the target, the least the workload forces: `None` for a
    /// count without flips.
    pub fn flips_forced(&self) -> Option<bool> {
        Some(self.get("flips")? == self.get("forced")?)
    }
}

/// Parses a serial line; `None` for log lines. A stray `\r` is ignored.
pub fn parse(line: &str) -> Option<Line> {
    let line = line.trim_matches('\r');
    if let Some(rest) = line.strip_prefix("BENCHCOUNT ") {
        return Some(parse_tally(rest).map_or_else(Line::Malformed, Line::Count));
    }
    let rest = line.strip_prefix("BENCH ")?;
    if rest == "DONE" {
        return Some(Line::Done);
    }
    Some(parse_figures(rest).map_or_else(Line::Malformed, Line::Result))
}

/// A line's `key=value` fields, in order.
type Fields = Vec<(String, u64)>;

/// A line's name and its `key=value` fields: unsigned numbers, keys not repeated.
fn parse_fields(text: &str) -> Result<(&str, Fields), String> {
    let mut words = text.split(' ');
    let name = words
        .next()
        .filter(|name| !name.is_empty() && !name.contains('='))
        .ok_or("no benchmark name")?;
    let mut fields: Fields = Vec::new();
    for word in words {
        let (key, value) =
            word.split_once('=').ok_or_else(|| format!("`{word}` is not key=value"))?;
        let value = value.parse().map_err(|_| format!("`{word}` has no unsigned number"))?;
        if key.is_empty() || fields.iter().any(|(seen, _)| seen == key) {
            return Err(format!("`{word}`: empty or repeated key"));
        }
        fields.push((key.to_owned(), value));
    }
    Ok((name, fields))
}

fn parse_tally(text: &str) -> Result<Tally, String> {
    let (name, fields) = parse_fields(text)?;
    let tally = Tally { name: name.to_owned(), fields };
    if let Some(key) = COUNT_REQUIRED.iter().find(|key| tally.get(key).is_none()) {
        return Err(format!("no `{key}=`"));
    }
    Ok(tally)
}

fn parse_figures(text: &str) -> Result<Figures, String> {
    let (name, mut fields) = parse_fields(text)?;
    let mut take = |key: &str| {
        let at = fields.iter().position(|(name, _)| name == key);
        at.map(|at| fields.remove(at).1).ok_or_else(|| format!("no `{key}=`"))
    };
    let [median, min, max, p90, iterations] = REQUIRED.map(&mut take);
    let (median, min, max, p90, iterations) = (median?, min?, max?, p90?, iterations?);
    let mut counters = [0; COUNT];
    for (value, counter) in counters.iter_mut().zip(Counter::ALL) {
        *value = take(counter.name())?;
    }
    let figures = Figures {
        name: name.to_owned(),
        median,
        min,
        max,
        p90,
        iterations,
        counters,
        extra: fields,
    };
    let ordered = figures.min <= figures.median
        && figures.median <= figures.p90
        && figures.p90 <= figures.max;
    if figures.iterations == 0 || !ordered {
        return Err("figures out of order (min <= median <= p90 <= max, iterations > 0)".into());
    }
    Ok(figures)
}

/// A complete run's figures, with the measurement's own two benchmarks checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// Every benchmark, in the order the guest printed them.
    pub benchmarks: Vec<Figures>,
    /// Every count, in the order the guest printed them.
    pub counts: Vec<Tally>,
    /// [`OVERHEAD`]'s median: the ticks an empty iteration costs.
    pub overhead: u64,
    /// The instructions [`CALIBRATION`]'s loop executes.
    pub calibration_instructions: u64,
    /// Ticks per instruction: calibration median minus overhead, over its instructions.
    pub ticks_per_instruction: f64,
}

impl Results {
    /// A benchmark's figures by name.
    pub fn get(&self, name: &str) -> Option<&Figures> {
        self.benchmarks.iter().find(|figures| figures.name == name)
    }

    /// A count by name.
    pub fn count(&self, name: &str) -> Option<&Tally> {
        self.counts.iter().find(|tally| tally.name == name)
    }
}

/// Reads the benchmark lines out of a serial log. Fails, saying why, if a line breaks the
/// protocol, a benchmark or count repeats or is missing from `expected` or
/// [`EXPECTED_COUNTS`], `BENCH DONE` is missing or followed by more results, or the
/// calibration figures make no sense.
pub fn collect(lines: &[String], expected: &[&str]) -> Result<Results, String> {
    let mut benchmarks: Vec<Figures> = Vec::new();
    let mut counts: Vec<Tally> = Vec::new();
    let mut problems = Vec::new();
    let mut done = false;
    let mut seen = HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        match parse(line) {
            None => {}
            Some(Line::Done) if done => problems.push("`BENCH DONE` appears twice".to_owned()),
            Some(Line::Done) => done = true,
            Some(Line::Malformed(why)) => problems.push(format!(
                "serial line {} breaks the benchmark protocol ({why}): `{line}`",
                index + 1
            )),
            Some(Line::Result(figures)) => {
                if done {
                    problems.push(format!("`{}` is reported after `BENCH DONE`", figures.name));
                }
                if !seen.insert(figures.name.clone()) {
                    problems.push(format!("`{}` is reported more than once", figures.name));
                }
                benchmarks.push(figures);
            }
            Some(Line::Count(tally)) => {
                if done {
                    problems.push(format!("`{}` is reported after `BENCH DONE`", tally.name));
                }
                if counts.iter().any(|seen| seen.name == tally.name) {
                    problems.push(format!("`{}` is reported more than once", tally.name));
                }
                counts.push(tally);
            }
        }
    }
    let missing: Vec<_> = expected.iter().filter(|name| !seen.contains(**name)).collect();
    let missing_counts = EXPECTED_COUNTS
        .iter()
        .filter(|name| !counts.iter().any(|tally| tally.name == **name))
        .map(|name| format!("`BENCHCOUNT {name} ...`"));
    let names: Vec<_> =
        missing.iter().map(|name| format!("`BENCH {name} ...`")).chain(missing_counts).collect();
    if !names.is_empty() {
        problems.push(format!("expected: {}\nbut: there is none", names.join(", ")));
    }
    if !done {
        problems.push("expected: a line `BENCH DONE`\nbut: there is none".to_owned());
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let find = |name: &str| benchmarks.iter().find(|figures| figures.name == name);
    let (Some(overhead), Some(calibration)) = (find(OVERHEAD), find(CALIBRATION)) else {
        return Err(format!("`{OVERHEAD}` and `{CALIBRATION}` are needed to read the figures"));
    };
    let instructions = calibration
        .extra("instructions")
        .filter(|&count| count > 0)
        .ok_or_else(|| format!("`{CALIBRATION}` needs a positive `instructions=` field"))?;
    let overhead = overhead.median;
    let ticks_per_instruction =
        calibration.median.saturating_sub(overhead) as f64 / instructions as f64;
    Ok(Results {
        benchmarks,
        counts,
        overhead,
        calibration_instructions: instructions,
        ticks_per_instruction,
    })
}

/// A kernel configuration the benchmarks run under, one boot each; the report puts the
/// modes side by side. Adding a mode (`asi=on`, once the kernel has it) is adding an entry
/// to [`MODES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Its name in the table and the JSON.
    pub name: &'static str,
    /// The kernel command line that chooses it.
    pub cmdline: &'static str,
    /// The start of the boot log line saying that the kernel runs in this mode: a run
    /// without it fails, so that an option the kernel does not take cannot pass for the mode.
    pub confirmed_by: &'static str,
}

/// The modes `just bench` runs, in the order the table shows them.
pub const MODES: &[Mode] = &[
    Mode {
        name: "off",
        cmdline: "mitigations=off asi=off",
        confirmed_by: "kernel: mitigations: off; asi off;",
    },
    Mode {
        name: "asi",
        cmdline: "mitigations=off asi=on",
        confirmed_by: "kernel: mitigations: off; asi on;",
    },
    Mode {
        name: "blanket",
        cmdline: "mitigations=blanket asi=off",
        confirmed_by: "kernel: mitigations: blanket; asi off;",
    },
];

/// The mode the targets apply to: the project's goals are for the kernel that flushes
/// nothing.
pub const TARGET_MODE: &str = "off";

/// How the figures were taken, for the report's header and the JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// `qemu-system-x86_64 --version`'s first line, if it could be asked.
    pub qemu_version: Option<String>,
    /// The cargo profile the images were built with.
    pub profile: String,
    /// Timed iterations per benchmark.
    pub iterations: u64,
}

/// The prefixes of the kernel log lines copied into the report: the machine (`cpu`,
/// `timer`) and the flush mechanisms the kernel found (`mitigations`).
pub const KERNEL_LINE_PREFIXES: &[&str] =
    &["kernel: cpu:", "kernel: timer:", "kernel: mitigations:"];

/// The serial lines the report copies: those starting with a [`KERNEL_LINE_PREFIXES`] entry.
pub fn kernel_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| KERNEL_LINE_PREFIXES.iter().any(|prefix| line.starts_with(prefix)))
        .cloned()
        .collect()
}

/// One mode's boot: how QEMU was started, what the kernel said about the machine and the
/// mode, and the figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub mode: Mode,
    /// The QEMU command line, as a shell would show it.
    pub qemu_command: String,
    /// The serial lines [`kernel_lines`] picks.
    pub kernel_lines: Vec<String>,
    pub results: Results,
}

impl Run {
    /// Reads one mode's serial log: every benchmark ([`collect`]), each over `iterations`
    /// timed iterations, and the kernel's confirmation of the mode.
    pub fn read(
        mode: Mode,
        qemu_command: String,
        lines: &[String],
        iterations: u64,
    ) -> Result<Self, String> {
        let results = collect(lines, EXPECTED)?;
        if !lines.iter().any(|line| line.starts_with(mode.confirmed_by)) {
            return Err(format!(
                "expected: a line starting `{}` (mode {})\nbut: there is none",
                mode.confirmed_by, mode.name
            ));
        }
        if let Some(figures) = results.benchmarks.iter().find(|f| f.iterations != iterations) {
            return Err(format!(
                "expected: iterations={iterations} on every line\nbut: `{}` has {}",
                figures.name, figures.iterations
            ));
        }
        Ok(Self { mode, qemu_command, kernel_lines: kernel_lines(lines), results })
    }

    /// `figures`' target (bound and rule) and whether they meet it, if the targets apply
    /// to this run's mode.
    fn target_met(&self, figures: &Figures) -> Option<(u64, Option<String>, bool)> {
        if self.mode.name == TARGET_MODE { target_met(figures, &self.results) } else { None }
    }
}

/// How the report shows one kind of kernel event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    /// Summed with the other kinds of entry into kernel entries per iteration.
    Entry,
    /// Per iteration, in a column of its own.
    PerIteration,
    /// Per 1,000 kernel entries, in a column of its own: how many entries pay for one.
    /// Under TCG a flush is one instruction, so its count, not the ticks, shows its cost.
    PerThousandEntries,
}

/// Where each counter goes. A new counter needs its line here, and then has its column in
/// the table and its field in the JSON.
const fn shown(counter: Counter) -> Shown {
    match counter {
        Counter::SyscallEntries | Counter::InterruptEntries | Counter::ExceptionEntries => {
            Shown::Entry
        }
        Counter::Cr3Writes | Counter::Flips | Counter::PagesZeroed | Counter::TlbShootdowns => {
            Shown::PerIteration
        }
        Counter::Ibpb
        | Counter::L1dFlushes
        | Counter::Verws
        | Counter::AsiExits
        | Counter::AsiEntries => Shown::PerThousandEntries,
    }
}

/// The counters shown as `how`, in [`Counter`] order.
fn counters_shown(how: Shown) -> impl Iterator<Item = Counter> {
    Counter::ALL.into_iter().filter(move |&counter| shown(counter) == how)
}

/// The counters with a column of their own: per iteration, then per 1,000 kernel entries.
fn counter_columns() -> impl Iterator<Item = Counter> {
    counters_shown(Shown::PerIteration).chain(counters_shown(Shown::PerThousandEntries))
}

impl Figures {
    /// Kernel entries of every kind over the timed iterations.
    pub fn kernel_entries(&self) -> u64 {
        counters_shown(Shown::Entry).map(|counter| self.counted(counter)).sum()
    }

    /// A total over the timed iterations, per iteration.
    fn per_iteration(&self, total: u64) -> f64 {
        total as f64 / self.iterations as f64
    }

    /// `counter` per 1,000 kernel entries; `None` without kernel entries.
    fn per_thousand_entries(&self, counter: Counter) -> Option<f64> {
        let entries = self.kernel_entries();
        (entries > 0).then(|| self.counted(counter) as f64 * 1000.0 / entries as f64)
    }

    /// The value of `counter`'s own column.
    fn shown_value(&self, counter: Counter) -> Option<f64> {
        match shown(counter) {
            Shown::Entry => None,
            Shown::PerIteration => Some(self.per_iteration(self.counted(counter))),
            Shown::PerThousandEntries => self.per_thousand_entries(counter),
        }
    }
}

/// The median with the empty iteration's cost taken off.
fn corrected(figures: &Figures, overhead: u64) -> i128 {
    i128::from(figures.median) - i128::from(overhead)
}

/// Lays out `rows` (the first is the header, underlined) in columns two spaces apart;
/// columns whose index `left` accepts read from the left, the others (numbers) from the right.
fn push_columns(out: &mut String, rows: &[Vec<String>], left: impl Fn(usize) -> bool) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| rows.iter().filter_map(|row| row.get(column)).map(String::len).max())
        .map(Option::unwrap_or_default)
        .collect();
    for (index, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (column, (cell, &width)) in row.iter().zip(&widths).enumerate() {
            let gap = if column == 0 { "" } else { "  " };
            if left(column) {
                let _ = write!(line, "{gap}{cell:<width$}");
            } else {
                let _ = write!(line, "{gap}{cell:>width$}");
            }
        }
        let line = line.trim_end();
        let _ = writeln!(out, "{line}");
        if index == 0 {
            let _ = writeln!(out, "{}", "-".repeat(line.len()));
        }
    }
}

/// The kernel lines every run printed alike, in the first run's order.
fn common_kernel_lines(runs: &[Run]) -> Vec<&String> {
    let Some(first) = runs.first() else { return Vec::new() };
    first
        .kernel_lines
        .iter()
        .filter(|line| runs.iter().all(|run| run.kernel_lines.contains(line)))
        .collect()
}

/// The human-readable report: the setup, the modes with what each kernel found, then one
/// row per benchmark and mode with the figures and the kernel events counted.
pub fn table(setup: &Setup, runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "setup: QEMU TCG, -icount shift=0,align=off,sleep=off, {} images, one boot per mode; \
         ticks are rdtsc ticks = guest instructions",
        setup.profile
    );
    if let Some(version) = &setup.qemu_version {
        let _ = writeln!(out, "qemu: {version}");
    }
    let common = common_kernel_lines(runs);
    for line in &common {
        let _ = writeln!(out, "{line}");
    }
    let calibration = runs.first().map_or(0, |run| run.results.calibration_instructions);
    let _ = writeln!(
        out,
        "\nmodes, one boot each: ticks/instruction measured over a {calibration}-instruction \
         loop; what the kernel found, from its boot log (`kernel: mitigations:` names the \
         flush mechanisms)\n"
    );
    let mut modes = vec![
        ["mode", "kernel command line", "ticks/instruction", OVERHEAD, "the kernel found"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for run in runs {
        let own: Vec<_> = run
            .kernel_lines
            .iter()
            .filter(|line| !common.contains(line))
            .map(|line| line.strip_prefix("kernel: ").unwrap_or(line))
            .collect();
        modes.push(vec![
            run.mode.name.to_owned(),
            run.mode.cmdline.to_owned(),
            format!("{:.4}", run.results.ticks_per_instruction),
            run.results.overhead.to_string(),
            own.join("; "),
        ]);
    }
    push_columns(&mut out, &modes, |column| column <= 1 || column == 4);
    let _ = writeln!(
        out,
        "\nmedians of {} iterations each, in ticks; `-overhead` subtracts the mode's \
         {OVERHEAD} median\n",
        setup.iterations
    );
    let mut header: Vec<String> =
        ["benchmark", "mode", "median", "-overhead", "min", "p90", "max", "entries"]
            .map(str::to_owned)
            .to_vec();
    header.extend(counter_columns().map(|counter| counter.name().to_owned()));
    header.push("target".to_owned());
    let mut rows = vec![header];
    for name in benchmark_names(runs) {
        let mut first = true;
        for run in runs {
            let Some(figures) = run.results.get(name) else { continue };
            let target = match run.target_met(figures) {
                Some((bound, rule, met)) => {
                    let rule = rule.map_or_else(String::new, |rule| format!(" ({rule})"));
                    format!("<={bound}{rule} {}", if met { "met" } else { "NOT met" })
                }
                None => String::new(),
            };
            let mut row = vec![
                if first { name.to_owned() } else { String::new() },
                run.mode.name.to_owned(),
                figures.median.to_string(),
                corrected(figures, run.results.overhead).to_string(),
                figures.min.to_string(),
                figures.p90.to_string(),
                figures.max.to_string(),
                format!("{:.3}", figures.per_iteration(figures.kernel_entries())),
            ];
            row.extend(counter_columns().map(|counter| {
                match (shown(counter), figures.shown_value(counter)) {
                    (_, None) => "-".to_owned(),
                    (Shown::PerThousandEntries, Some(value)) => format!("{value:.0}"),
                    (_, Some(value)) => format!("{value:.3}"),
                }
            }));
            row.push(target);
            rows.push(row);
            first = false;
        }
    }
    let columns = rows[0].len();
    push_columns(&mut out, &rows, |column| column <= 1 || column + 1 == columns);
    push_counts(&mut out, runs);
    let names = |how| counters_shown(how).map(Counter::name).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "\nevents: what the kernel counted on CPU 0 over the timed iterations (and the untimed \
         work between them)\n  \
         entries: kernel entries ({}) per iteration\n  \
         {}: per iteration\n  \
         {}: per 1,000 kernel entries (- without entries)",
        counters_shown(Shown::Entry).map(Counter::name).collect::<Vec<_>>().join(" + "),
        names(Shown::PerIteration),
        names(Shown::PerThousandEntries),
    );
    let _ = writeln!(
        out,
        "targets compare `-overhead` in mode {TARGET_MODE} with the project's goal in guest \
         instructions\nkernel events per iteration as each benchmark is built (mode \
         {TARGET_MODE}):"
    );
    for name in benchmark_names(runs) {
        if let Some(note) = note(name) {
            let _ = writeln!(out, "  {name}: {}", note.events);
        }
    }
    out
}

/// The counts, one row per count and mode: every field, then whether the flips are the
/// least the workload forces (the target; in every mode, since flips do not depend on it).
fn push_counts(out: &mut String, runs: &[Run]) {
    let mut names: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for tally in runs.iter().flat_map(|run| &run.results.counts) {
        if !names.contains(&tally.name.as_str()) {
            names.push(&tally.name);
        }
        for (key, _) in &tally.fields {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\ncounts: workloads counted, not timed (the same in every mode); {MIXED_FLIPS}: \
         flips per {} 4 KiB allocations of both sensitivities through memsrv (frees \
         interleaved) against `forced`, the least any allocator could flip on that \
         workload; target: flips = forced\n",
        runs.iter()
            .find_map(|run| run.results.count(MIXED_FLIPS)?.get("allocations"))
            .unwrap_or_default()
    );
    let mut header = vec!["count".to_owned(), "mode".to_owned()];
    header.extend(keys.iter().map(|key| (*key).to_owned()));
    header.push("target".to_owned());
    let mut rows = vec![header];
    for name in names {
        let mut first = true;
        for run in runs {
            let Some(tally) = run.results.count(name) else { continue };
            let mut row =
                vec![if first { name.to_owned() } else { String::new() }, run.mode.name.to_owned()];
            row.extend(
                keys.iter().map(|key| tally.get(key).map_or_else(|| "-".into(), |v| v.to_string())),
            );
            row.push(match tally.flips_forced() {
                Some(true) => "=forced met".to_owned(),
                Some(false) => "=forced NOT met".to_owned(),
                None => String::new(),
            });
            rows.push(row);
            first = false;
        }
    }
    let columns = rows[0].len();
    push_columns(out, &rows, |column| column <= 1 || column + 1 == columns);
}

/// Every benchmark any run reported, in the order they first appear.
fn benchmark_names(runs: &[Run]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for figures in runs.iter().flat_map(|run| &run.results.benchmarks) {
        if !names.contains(&figures.name.as_str()) {
            names.push(&figures.name);
        }
    }
    names
}

/// A JSON object of `(key, value)` pairs on one line.
fn object<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    let pairs: Vec<_> = pairs.map(|(key, value)| format!("{}: {value}", quote(key))).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A number with three decimals, or `null`.
fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_owned(), |value| format!("{value:.3}"))
}

/// The JSON document: the setup, then per mode its boot and every benchmark's figures and
/// counted events, with the same derived values as the table.
pub fn json(setup: &Setup, runs: &[Run]) -> String {
    let mut out = String::from("{\n  \"setup\": {\n");
    let version = setup.qemu_version.as_deref().map_or_else(|| "null".to_owned(), quote);
    let fields = [
        ("accelerator", quote("tcg")),
        ("icount", quote("shift=0,align=off,sleep=off")),
        ("unit", quote("rdtsc ticks (guest instructions under icount)")),
        ("qemu_version", version),
        ("profile", quote(&setup.profile)),
        ("iterations", setup.iterations.to_string()),
        ("target_mode", quote(TARGET_MODE)),
    ];
    push_fields(&mut out, "    ", &fields);
    out.push_str("  },\n  \"modes\": [\n");
    for (run_index, run) in runs.iter().enumerate() {
        let results = &run.results;
        let benchmarks: Vec<_> =
            results.benchmarks.iter().map(|figures| benchmark_json(run, figures)).collect();
        let kernel_lines: Vec<_> = run.kernel_lines.iter().map(|line| quote(line)).collect();
        let counts: Vec<_> = results.counts.iter().map(count_json).collect();
        let fields = [
            ("name", quote(run.mode.name)),
            ("cmdline", quote(run.mode.cmdline)),
            ("qemu_command", quote(&run.qemu_command)),
            ("kernel_lines", format!("[{}]", kernel_lines.join(", "))),
            ("rdtsc_overhead_median", results.overhead.to_string()),
            ("calibration_instructions", results.calibration_instructions.to_string()),
            ("ticks_per_instruction", format!("{:.6}", results.ticks_per_instruction)),
            ("benchmarks", format!("[\n{}\n      ]", benchmarks.join(",\n"))),
            ("counts", format!("[\n{}\n      ]", counts.join(",\n"))),
        ];
        out.push_str("    {\n");
        push_fields(&mut out, "      ", &fields);
        out.push_str(if run_index + 1 == runs.len() { "    }\n" } else { "    },\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// One count's object in a mode's `counts` array: its name, every field, and whether the
/// flips are the least the workload forces (`null` for a count without flips).
fn count_json(tally: &Tally) -> String {
    let met = tally.flips_forced().map_or_else(|| "null".to_owned(), |met| met.to_string());
    let fields = [
        ("name", quote(&tally.name)),
        (
            "fields",
            object(tally.fields.iter().map(|(key, value)| (key.as_str(), value.to_string()))),
        ),
        ("target", quote("flips = forced")),
        ("target_met", met),
    ];
    let mut out = String::from("        {\n");
    push_fields(&mut out, "          ", &fields);
    out.push_str("        }");
    out
}

/// One benchmark's object in a mode's `benchmarks` array.
fn benchmark_json(run: &Run, figures: &Figures) -> String {
    let target = run.target_met(figures);
    let per_iteration = std::iter::once((
        "kernel_entries",
        decimal(Some(figures.per_iteration(figures.kernel_entries()))),
    ))
    .chain(
        counters_shown(Shown::PerIteration)
            .map(|counter| (counter.name(), decimal(figures.shown_value(counter)))),
    );
    let per_thousand = counters_shown(Shown::PerThousandEntries)
        .map(|counter| (counter.name(), decimal(figures.shown_value(counter))));
    let counters = Counter::ALL.iter().map(|&c| (c.name(), figures.counted(c).to_string()));
    let extra = figures.extra.iter().map(|(key, value)| (key.as_str(), value.to_string()));
    let fields = [
        ("name", quote(&figures.name)),
        ("median", figures.median.to_string()),
        ("median_minus_overhead", corrected(figures, run.results.overhead).to_string()),
        ("min", figures.min.to_string()),
        ("p90", figures.p90.to_string()),
        ("max", figures.max.to_string()),
        ("iterations", figures.iterations.to_string()),
        ("counters", object(counters)),
        ("kernel_entries", figures.kernel_entries().to_string()),
        ("per_iteration", object(per_iteration)),
        ("per_1000_kernel_entries", object(per_thousand)),
        ("extra", object(extra)),
        (
            "target",
            target.as_ref().map_or_else(|| "null".to_owned(), |(bound, ..)| bound.to_string()),
        ),
        (
            "target_rule",
            target
                .as_ref()
                .and_then(|(_, rule, _)| rule.as_deref())
                .map_or_else(|| "null".to_owned(), quote),
        ),
        (
            "target_met",
            target.as_ref().map_or_else(|| "null".to_owned(), |(.., met)| met.to_string()),
        ),
        ("events", note(&figures.name).map_or_else(|| "null".to_owned(), |n| quote(n.events))),
    ];
    let mut out = String::from("        {\n");
    push_fields(&mut out, "          ", &fields);
    out.push_str("        }");
    out
}

/// Writes `"key": value` pairs, one per line, comma-separated.
fn push_fields(out: &mut String, indent: &str, fields: &[(&str, String)]) {
    for (index, (key, value)) in fields.iter().enumerate() {
        let comma = if index + 1 < fields.len() { "," } else { "" };
        let _ = writeln!(out, "{indent}{}: {value}{comma}", quote(key));
    }
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|line| line.to_string()).collect()
    }

    const GOOD: &[&str] = &[
        "kernel: cpu: nx=true smep=true",
        "kernel: timer: local APIC timer at 62495 ticks/ms, timeslice 5 ms",
        "kernel: mitigations: off; asi off; ibpb absent, l1d flush in software (no MSR)",
        "bench: iterations=1000 warmup=100",
        "BENCH rdtsc_overhead median=5 min=5 max=5 p90=5 iterations=1000 syscall_entries=0 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH calibration_loop median=10006 min=10006 max=10478 p90=10006 iterations=1000 syscall_entries=0 interrupt_entries=2 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0 instructions=10001",
        "BENCH null_syscall median=255 min=255 max=255 p90=255 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH debug_write_0 median=461 min=461 max=700 p90=461 iterations=1000 syscall_entries=1000 interrupt_entries=1 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH ipc_call_reply_0_same_as median=305 min=305 max=900 p90=305 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH ipc_call_reply_16_same_as median=700 min=700 max=900 p90=700 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH ipc_call_reply_0_cross_as median=405 min=405 max=900 p90=405 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=2000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH ipc_call_reply_16_cross_as median=800 min=800 max=900 p90=800 iterations=1000 syscall_entries=2000 interrupt_entries=1 exception_entries=0 cr3_writes=2000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH notification_signal_wait median=800 min=800 max=900 p90=800 iterations=1000 syscall_entries=4000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH retype_endpoint median=600 min=600 max=900 p90=600 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH map_unmap_frame median=700 min=700 max=900 p90=700 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH asi_counters_read_nonsensitive_buffer median=400 min=400 max=400 p90=400 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH asi_exit_reentry median=400 min=400 max=400 p90=400 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH flip_pageblock_to_sensitive median=900 min=900 max=900 p90=900 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=1000 pages_zeroed=0 tlb_shootdowns=1000 asi_exits=0 asi_entries=0",
        "BENCH flip_pageblock_to_nonsensitive median=90000 min=90000 max=90000 p90=90000 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=1000 pages_zeroed=512000 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH memsrv_alloc_free_4k_nonsensitive median=10905 min=10905 max=11500 p90=10905 iterations=1000 syscall_entries=35000 interrupt_entries=0 exception_entries=0 cr3_writes=4000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH memsrv_alloc_free_4k_sensitive median=10925 min=10925 max=11500 p90=10925 iterations=1000 syscall_entries=35000 interrupt_entries=0 exception_entries=0 cr3_writes=4000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH memsrv_kept_alloc_free_4k_nonsensitive median=1205 min=1205 max=1500 p90=1205 iterations=1000 syscall_entries=4000 interrupt_entries=0 exception_entries=0 cr3_writes=4000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCH memsrv_kept_alloc_free_4k_sensitive median=1305 min=1305 max=1500 p90=1305 iterations=1000 syscall_entries=4000 interrupt_entries=0 exception_entries=0 cr3_writes=4000 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 tlb_shootdowns=0 asi_exits=0 asi_entries=0",
        "BENCHCOUNT memsrv_mixed_flips allocations=10000 sensitive=5000 flips=10 kernel_flips=10 forced=9",
        "BENCH DONE",
        "kernel: thread bench exited with code 0",
    ];

    fn setup() -> Setup {
        Setup {
            qemu_version: Some("QEMU emulator version 7.2.0".into()),
            profile: "release".into(),
            iterations: 1000,
        }
    }

    /// Mode off as [`GOOD`] has it, and mode blanket: the same but for its mitigations line,
    /// `null_syscall`'s figures and an L1D flush counted on every other kernel entry.
    fn runs() -> Vec<Run> {
        let off = log(GOOD);
        let blanket: Vec<String> = off
            .iter()
            .map(|line| {
                line.replace("mitigations: off; asi off;", "mitigations: blanket; asi off;")
                    .replace("null_syscall median=255 min=255 max=255 p90=255", "null_syscall median=6255 min=6255 max=6300 p90=6255")
                    .replace("syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0", "syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=1000")
                    .replace("syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0", "syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=500")
            })
            .collect();
        let command = "(cd /m && qemu-system-x86_64 -append 'a \"b\"')";
        vec![
            Run::read(MODES[0], command.into(), &off, 1000).unwrap(),
            Run::read(MODES[2], command.into(), &blanket, 1000).unwrap(),
        ]
    }

    #[test]
    fn benchmark_lines_are_parsed() {
        assert_eq!(
            parse(
                "BENCH null_syscall median=3 min=1 max=9 p90=4 iterations=10 syscall_entries=10 \
                 interrupt_entries=1 exception_entries=2 cr3_writes=3 ibpb=4 l1d_flushes=5 verw=6 \
                 flips=7 pages_zeroed=8 tlb_shootdowns=9 asi_exits=11 asi_entries=12 \
                 instructions=10\r"
            ),
            Some(Line::Result(Figures {
                name: "null_syscall".into(),
                median: 3,
                min: 1,
                max: 9,
                p90: 4,
                iterations: 10,
                counters: [10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12],
                extra: vec![("instructions".into(), 10)],
            }))
        );
        assert_eq!(parse("BENCH DONE"), Some(Line::Done));
    }

    #[test]
    fn count_lines_are_parsed() {
        assert_eq!(
            parse(
                "BENCHCOUNT memsrv_mixed_flips allocations=10000 flips=3 forced=2 kernel_flips=3\r"
            ),
            Some(Line::Count(Tally {
                name: "memsrv_mixed_flips".into(),
                fields: vec![
                    ("allocations".into(), 10000),
                    ("flips".into(), 3),
                    ("forced".into(), 2),
                    ("kernel_flips".into(), 3),
                ],
            }))
        );
        for line in [
            "BENCHCOUNT ",
            "BENCHCOUNT x allocations=1 flips=1",
            "BENCHCOUNT x allocations=1 flips=1 forced=one",
            "BENCHCOUNT x allocations=1 flips=1 forced=1 flips=2",
            "BENCHCOUNT allocations=1 flips=1 forced=1",
        ] {
            assert!(matches!(parse(line), Some(Line::Malformed(_))), "{line:?}");
        }
        assert_eq!(parse("BENCHCOUNTS x"), None);
    }

    #[test]
    fn a_missing_or_repeated_count_fails_the_run() {
        let count = |line: &&str| line.starts_with("BENCHCOUNT ");
        let without: Vec<String> =
            GOOD.iter().filter(|line| !count(line)).map(|line| line.to_string()).collect();
        let problem = collect(&without, EXPECTED).unwrap_err();
        assert_eq!(problem, "expected: `BENCHCOUNT memsrv_mixed_flips ...`\nbut: there is none");
        let mut twice = log(GOOD);
        twice.insert(4, GOOD.iter().copied().find(count).unwrap().to_owned());
        let problem = collect(&twice, EXPECTED).unwrap_err();
        assert_eq!(problem, "`memsrv_mixed_flips` is reported more than once");
        let results = collect(&log(GOOD), EXPECTED).unwrap();
        let tally = results.count(MIXED_FLIPS).unwrap();
        assert_eq!((tally.get("flips"), tally.get("forced")), (Some(10), Some(9)));
        assert_eq!(tally.flips_forced(), Some(false));
    }

    #[test]
    fn log_lines_are_not_benchmark_lines() {
        for line in
            ["bench: iterations=10", "", "BENCH", "BENCHES x", " BENCH DONE", "TEST DONE 0 0"]
        {
            assert_eq!(parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn broken_benchmark_lines_are_malformed() {
        for line in ["BENCH ", "BENCH DONE 3", "BENCH x"] {
            assert!(matches!(parse(line), Some(Line::Malformed(_))), "{line:?}");
        }
        // With every counter present, so that each line is wrong only where it says.
        for line in [
            "BENCH x median=1 min=1 max=1 p90=1",
            "BENCH x median=1 min=1 max=1 p90=1 iterations=1 median=2",
            "BENCH x median=1 min=1 max=1 p90=1 iterations=one",
            "BENCH x median=-1 min=1 max=1 p90=1 iterations=1",
            "BENCH x median=1 min=1 max=1 p90=1 iterations=1 stray",
            "BENCH x median=1 min=1 max=1 p90=1 iterations=0",
            "BENCH x median=5 min=1 max=4 p90=4 iterations=1",
            "BENCH median=1 min=1 max=1 p90=1 iterations=1",
        ] {
            let line = format!("{line} {COUNTED}");
            assert!(matches!(parse(&line), Some(Line::Malformed(_))), "{line:?}");
        }
    }

    /// Every counter, each 0.
    const COUNTED: &str = "syscall_entries=0 interrupt_entries=0 exception_entries=0 \
                           cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 flips=0 pages_zeroed=0 \
                           tlb_shootdowns=0 asi_exits=0 asi_entries=0";

    #[test]
    fn every_counter_is_required() {
        let line = format!("BENCH x median=1 min=1 max=1 p90=1 iterations=1 {COUNTED}");
        assert!(matches!(parse(&line), Some(Line::Result(_))), "{line:?}");
        for counter in Counter::ALL {
            let field = format!("{}=0", counter.name());
            let without: Vec<_> = line.split(' ').filter(|word| *word != field).collect();
            assert_eq!(
                parse(&without.join(" ")),
                Some(Line::Malformed(format!("no `{}=`", counter.name())))
            );
        }
    }

    #[test]
    fn a_complete_run_yields_every_benchmark_and_the_calibration() {
        let results = collect(&log(GOOD), EXPECTED).unwrap();
        assert_eq!(results.benchmarks.len(), EXPECTED.len());
        assert_eq!(results.overhead, 5);
        assert_eq!(results.calibration_instructions, 10001);
        assert_eq!(results.ticks_per_instruction, 1.0);
        assert_eq!(results.get("null_syscall").map(|figures| figures.median), Some(255));
    }

    #[test]
    fn missing_benchmarks_and_terminator_are_named() {
        let lines: Vec<_> = GOOD.iter().filter(|line| !line.contains("null_syscall")).collect();
        let lines: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
        let problem = collect(&lines, EXPECTED).unwrap_err();
        assert_eq!(problem, "expected: `BENCH null_syscall ...`\nbut: there is none");
        let problem = collect(&log(&GOOD[..6]), EXPECTED).unwrap_err();
        assert!(problem.contains("`BENCH null_syscall ...`, `BENCH debug_write_0 ...`"));
        assert!(problem.ends_with("expected: a line `BENCH DONE`\nbut: there is none"));
    }

    #[test]
    fn repeats_late_lines_and_malformed_lines_fail_the_run() {
        let mut lines = log(GOOD);
        lines.push(GOOD[6].to_owned());
        lines.push("BENCH x median=1".to_owned());
        let problem = collect(&lines, EXPECTED).unwrap_err();
        assert!(problem.contains("`null_syscall` is reported after `BENCH DONE`"), "{problem}");
        assert!(problem.contains("`null_syscall` is reported more than once"), "{problem}");
        assert!(problem.contains("serial line 28 breaks the benchmark protocol"), "{problem}");
    }

    #[test]
    fn calibration_needs_its_instruction_count() {
        let lines: Vec<String> =
            GOOD.iter().map(|line| line.replace(" instructions=10001", "")).collect();
        let problem = collect(&lines, EXPECTED).unwrap_err();
        assert!(problem.contains("positive `instructions=`"), "{problem}");
    }

    #[test]
    fn a_run_needs_its_mode_confirmed_and_the_iterations_asked_for() {
        let lines = log(GOOD);
        let run = Run::read(MODES[0], "qemu".into(), &lines, 1000).unwrap();
        assert_eq!(run.kernel_lines, log(&GOOD[..3]));
        let problem = Run::read(MODES[2], "qemu".into(), &lines, 1000).unwrap_err();
        assert_eq!(
            problem,
            "expected: a line starting `kernel: mitigations: blanket; asi off;` (mode blanket)\nbut: \
             there is none"
        );
        let problem = Run::read(MODES[0], "qemu".into(), &lines, 5000).unwrap_err();
        assert_eq!(
            problem,
            "expected: iterations=5000 on every line\nbut: `rdtsc_overhead` has 1000"
        );
        let missing: Vec<String> =
            lines.iter().filter(|line| !line.contains("map_unmap_frame")).cloned().collect();
        assert!(Run::read(MODES[0], "qemu".into(), &missing, 1000).is_err());
    }

    #[test]
    fn the_targets_mode_is_one_of_the_modes() {
        assert_eq!(MODES.iter().filter(|mode| mode.name == TARGET_MODE).count(), 1);
        for (index, mode) in MODES.iter().enumerate() {
            assert!(MODES[..index].iter().all(|earlier| earlier.name != mode.name), "{mode:?}");
        }
    }

    /// The cell of the report's benchmark table in `column` of the row of benchmark `name`
    /// in `mode` ("" for an empty cell; the target column's words joined again).
    fn cell(report: &str, name: &str, mode: &str, column: &str) -> String {
        let mut lines = report.lines().skip_while(|line| !line.starts_with("benchmark "));
        let header: Vec<&str> = lines.next().expect("a table").split_whitespace().collect();
        let at = header.iter().position(|title| *title == column).expect("a column");
        let mut benchmark = "";
        for line in lines.skip(1).take_while(|line| !line.is_empty()) {
            let mut words: Vec<&str> = line.split_whitespace().collect();
            if !line.starts_with(' ') {
                benchmark = words.remove(0);
            }
            if benchmark == name && words[0] == mode {
                // `words` lacks the benchmark column; the target may be several words.
                return words.get(at - 1..).map_or(String::new(), |rest| {
                    if at + 1 == header.len() { rest.join(" ") } else { rest[0].to_owned() }
                });
            }
        }
        panic!("no row for {name} in mode {mode}:\n{report}");
    }

    #[test]
    fn table_puts_the_modes_side_by_side() {
        let report = table(&setup(), &runs());
        assert!(
            report.starts_with(
                "setup: QEMU TCG, -icount shift=0,align=off,sleep=off, release images, one boot \
                 per mode; ticks are rdtsc ticks = guest instructions\nqemu: QEMU emulator \
                 version 7.2.0\nkernel: cpu: nx=true smep=true\nkernel: timer: local APIC timer \
                 at 62495 ticks/ms, timeslice 5 ms\n\nmodes, one boot each: ticks/instruction \
                 measured over a 10001-instruction loop;"
            ),
            "{report}"
        );
        // Each mode's own kernel line is in its row, not among the lines they share.
        assert!(!report.contains("\nkernel: mitigations:"), "{report}");
        assert!(
            report.contains(
                "\nmode     kernel command line          ticks/instruction  rdtsc_overhead  the \
                 kernel found\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "\nblanket  mitigations=blanket asi=off             1.0000               5  \
                 mitigations: blanket; asi off; ibpb absent, l1d flush in software (no MSR)\n"
            ),
            "{report}"
        );
        // Names on the first row of a benchmark only, numbers aligned to the right.
        let names = EXPECTED.iter().map(|name| name.len()).max().unwrap_or(0) + 2;
        let off = format!(
            "\n{:names$}off         255        250    255    255    255    1.000  ",
            "null_syscall"
        );
        assert!(report.contains(&off), "{report}");
        let blanket =
            format!("\n{:names$}blanket    6255       6250   6255   6255   6300    1.000  ", "");
        assert!(report.contains(&blanket), "{report}");
        // Targets only in mode off; counters per iteration or per 1,000 kernel entries, `-`
        // without entries.
        let cell = |name, mode, column| cell(&report, name, mode, column);
        assert_eq!(cell("null_syscall", "off", "target"), "<=100 NOT met");
        assert_eq!(cell("null_syscall", "blanket", "target"), "");
        assert_eq!(cell("ipc_call_reply_0_cross_as", "off", "target"), "<=400 met");
        // A target relative to another benchmark: 3 x (405 - 5).
        assert_eq!(
            cell("memsrv_kept_alloc_free_4k_nonsensitive", "off", "target"),
            "<=1200 (3x ipc_call_reply_0_cross_as) met"
        );
        assert_eq!(
            cell("memsrv_kept_alloc_free_4k_sensitive", "off", "target"),
            "<=1200 (3x ipc_call_reply_0_cross_as) NOT met"
        );
        assert_eq!(cell("memsrv_kept_alloc_free_4k_sensitive", "blanket", "target"), "");
        assert_eq!(cell("memsrv_alloc_free_4k_sensitive", "off", "target"), "");
        // The counts, one row per mode, every field and the target in each.
        assert!(report.contains("\ncounts: workloads counted, not timed"), "{report}");
        assert!(
            report.contains(
                "\ncount               mode     allocations  sensitive  flips  kernel_flips  \
                 forced  target\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "\nmemsrv_mixed_flips  off            10000       5000     10            10       \
                 9  =forced NOT met\n                    blanket        10000"
            ),
            "{report}"
        );
        assert_eq!(cell("null_syscall", "blanket", "median"), "6255");
        assert_eq!(cell("null_syscall", "blanket", "l1d_flushes"), "500");
        assert_eq!(cell("null_syscall", "off", "l1d_flushes"), "0");
        assert_eq!(cell("ipc_call_reply_0_cross_as", "blanket", "cr3_writes"), "2.000");
        assert_eq!(cell("ipc_call_reply_0_cross_as", "blanket", "entries"), "2.000");
        assert_eq!(cell("debug_write_0", "off", "entries"), "1.001");
        assert_eq!(cell("rdtsc_overhead", "blanket", "ibpb"), "-");
        assert_eq!(cell("rdtsc_overhead", "blanket", "cr3_writes"), "0.000");
        for counter in Counter::ALL.into_iter().filter(|&c| shown(c) != Shown::Entry) {
            assert_ne!(cell("map_unmap_frame", "blanket", counter.name()), "", "{counter:?}");
        }
        assert!(report.contains(
            "\n  entries: kernel entries (syscall_entries + interrupt_entries + \
             exception_entries) per iteration\n"
        ));
        assert!(report.contains(
            "\n  ibpb, l1d_flushes, verw, asi_exits, asi_entries: per 1,000 kernel entries (- without \
             entries)\n"
        ));
        assert!(report.contains("`-overhead` in mode off"), "{report}");
        assert!(report.contains("\n  map_unmap_frame: 2 kernel entries"), "{report}");
    }

    #[test]
    fn json_holds_every_mode() {
        let document = json(&setup(), &runs());
        assert!(document.starts_with("{\n  \"setup\": {\n    \"accelerator\": \"tcg\",\n"));
        assert!(document.contains("    \"target_mode\": \"off\"\n  },\n  \"modes\": [\n    {\n"));
        assert!(document.contains(
            "\n    {\n      \"name\": \"blanket\",\n      \"cmdline\": \"mitigations=blanket asi=off\",\n"
        ));
        assert!(
            document
                .contains(r#""qemu_command": "(cd /m && qemu-system-x86_64 -append 'a \"b\"')","#)
        );
        assert!(document.contains(
            "\"kernel: mitigations: blanket; asi off; ibpb absent, l1d flush in software (no MSR)\"]"
        ));
        assert!(
            document.contains(
                "\"ticks_per_instruction\": 1.000000,\n      \"benchmarks\": [\n        {\n          \
                 \"name\": \"rdtsc_overhead\",\n"
            ),
            "{document}"
        );
        assert!(document.contains(
            "          \"name\": \"null_syscall\",\n          \"median\": 6255,\n          \
             \"median_minus_overhead\": 6250,\n"
        ));
        assert!(document.contains("\"extra\": {\"instructions\": 10001},\n"), "{document}");
        assert!(
            document.contains(
                "\"counters\": {\"syscall_entries\": 2000, \"interrupt_entries\": 0, \
                 \"exception_entries\": 0, \"cr3_writes\": 2000, \"ibpb\": 0, \"l1d_flushes\": 0, \
                 \"verw\": 0, \"flips\": 0, \"pages_zeroed\": 0, \"tlb_shootdowns\": 0, \
                 \"asi_exits\": 0, \"asi_entries\": 0},\n          \
                 \"kernel_entries\": 2000,\n          \"per_iteration\": {\"kernel_entries\": \
                 2.000, \"cr3_writes\": 2.000, "
            ),
            "{document}"
        );
        assert!(document.contains(
            "\"per_1000_kernel_entries\": {\"ibpb\": 0.000, \"l1d_flushes\": 500.000, \"verw\": \
             0.000, \"asi_exits\": 0.000, \"asi_entries\": 0.000},\n          \"extra\": {},\n          \"target\": null,\n          \
             \"target_rule\": null,\n          \"target_met\": null,\n"
        ));
        assert!(document.contains(
            "\"per_1000_kernel_entries\": {\"ibpb\": null, \"l1d_flushes\": null, \"verw\": null, \
             \"asi_exits\": null, \"asi_entries\": null}"
        ));
        assert!(document.contains(
            "\"target\": 100,\n          \"target_rule\": null,\n          \"target_met\": false,\n"
        ));
        assert!(document.contains(
            "\"target\": 1200,\n          \"target_rule\": \"3x ipc_call_reply_0_cross_as\",\n          \
             \"target_met\": true,\n"
        ));
        assert!(document.contains(
            "\"counts\": [\n        {\n          \"name\": \"memsrv_mixed_flips\",\n          \
             \"fields\": {\"allocations\": 10000, \"sensitive\": 5000, \"flips\": 10, \
             \"kernel_flips\": 10, \"forced\": 9},\n          \"target\": \"flips = forced\",\n          \
             \"target_met\": false\n        }\n      ]\n"
        ), "{document}");
        assert_eq!(document.matches("\"target\": 100,").count(), 1);
        assert_eq!(document.matches("\"name\": \"null_syscall\"").count(), 2);
        assert_eq!(
            document.matches("\"name\"").count(),
            2 + 2 * EXPECTED.len() + 2 * EXPECTED_COUNTS.len()
        );
        assert!(document.contains("\"events\": \"1 kernel entry (the Null call),"));
        assert!(document.ends_with("        }\n      ]\n    }\n  ]\n}\n"), "{document}");
    }

    #[test]
    fn every_expected_benchmark_has_one_note() {
        for name in EXPECTED {
            assert_eq!(NOTES.iter().filter(|note| note.name == *name).count(), 1, "{name}");
        }
        assert_eq!(NOTES.len(), EXPECTED.len());
        assert_eq!(
            note("null_syscall").and_then(|note| note.target),
            Some(Target::Instructions(100))
        );
        assert_eq!(
            note("ipc_call_reply_0_cross_as").and_then(|note| note.target),
            Some(Target::Instructions(400))
        );
        for name in
            ["memsrv_kept_alloc_free_4k_nonsensitive", "memsrv_kept_alloc_free_4k_sensitive"]
        {
            assert_eq!(
                note(name).and_then(|note| note.target),
                Some(Target::TimesOf { factor: 3, benchmark: IPC_ROUND_TRIP })
            );
        }
        assert_eq!(note("ipc_call_reply_0_same_as").and_then(|note| note.target), None);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn only_the_mode_lines_of_the_kernel_are_copied() {
        assert_eq!(kernel_lines(&log(GOOD)), log(&GOOD[..3]));
    }
}
