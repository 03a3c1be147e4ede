//! The line protocol of the `bench` guest program, and the table and JSON made from it.
//!
//! The guest prints one line per benchmark, then a terminator:
//!
//! ```text
//! BENCH <name> median=<ticks> min=<ticks> max=<ticks> p90=<ticks> iterations=<n> [<key>=<n>]...
//! BENCH DONE
//! ```
//!
//! Every line also carries one `<counter>=<n>` field per kernel event counter
//! ([`Counter::name`]): the total the kernel counted over the timed iterations together.
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
];

/// What the report says about one benchmark besides its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    /// The benchmark's name.
    pub name: &'static str,
    /// The most instructions the operation should take (compared with the median minus
    /// [`OVERHEAD`]'s), if the project set a target.
    pub target: Option<u64>,
    /// The kernel events one iteration causes, as the benchmark is built (the kernel does
    /// not count them yet).
    pub events: &'static str,
}

/// A note for every name in [`EXPECTED`].
pub const NOTES: &[Note] = &[
    Note { name: OVERHEAD, target: None, events: "none: two counter reads" },
    Note { name: CALIBRATION, target: None, events: "none: 10001 user instructions" },
    Note {
        name: "null_syscall",
        target: Some(100),
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
        target: Some(400),
        events: "2 kernel entries (root Call, peer ReplyRecv), 2 thread switches, 2 address-space \
                 switches (a CR3 write each way, each flushing the TLB: no PCIDs), 0 FPU \
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
];

/// The note on benchmark `name`.
pub fn note(name: &str) -> Option<&'static Note> {
    NOTES.iter().find(|note| note.name == name)
}

/// Whether `figures` meet their target: `None` without one.
fn target_met(figures: &Figures, overhead: u64) -> Option<(u64, bool)> {
    let target = note(&figures.name)?.target?;
    Some((target, corrected(figures, overhead) <= i128::from(target)))
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
    /// `BENCH DONE`: every benchmark has run.
    Done,
    /// Starts like a protocol line but does not follow the protocol.
    Malformed(String),
}

/// Parses a serial line; `None` for log lines. A stray `\r` is ignored.
pub fn parse(line: &str) -> Option<Line> {
    let rest = line.trim_matches('\r').strip_prefix("BENCH ")?;
    if rest == "DONE" {
        return Some(Line::Done);
    }
    Some(parse_figures(rest).map_or_else(Line::Malformed, Line::Result))
}

fn parse_figures(text: &str) -> Result<Figures, String> {
    let mut words = text.split(' ');
    let name = words
        .next()
        .filter(|name| !name.is_empty() && !name.contains('='))
        .ok_or("no benchmark name")?;
    let mut fields: Vec<(String, u64)> = Vec::new();
    for word in words {
        let (key, value) =
            word.split_once('=').ok_or_else(|| format!("`{word}` is not key=value"))?;
        let value = value.parse().map_err(|_| format!("`{word}` has no unsigned number"))?;
        if key.is_empty() || fields.iter().any(|(seen, _)| seen == key) {
            return Err(format!("`{word}`: empty or repeated key"));
        }
        fields.push((key.to_owned(), value));
    }
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
}

/// Reads the benchmark lines out of a serial log. Fails, saying why, if a line breaks the
/// protocol, a benchmark repeats or is missing from `expected`, `BENCH DONE` is missing or
/// followed by more results, or the calibration figures make no sense.
pub fn collect(lines: &[String], expected: &[&str]) -> Result<Results, String> {
    let mut benchmarks: Vec<Figures> = Vec::new();
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
        }
    }
    let missing: Vec<_> = expected.iter().filter(|name| !seen.contains(**name)).collect();
    if !missing.is_empty() {
        let names: Vec<_> = missing.iter().map(|name| format!("`BENCH {name} ...`")).collect();
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
        overhead,
        calibration_instructions: instructions,
        ticks_per_instruction,
    })
}

/// How the figures were taken, for the report's header and the JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The QEMU command line, as a shell would show it.
    pub qemu_command: String,
    /// `qemu-system-x86_64 --version`'s first line, if it could be asked.
    pub qemu_version: Option<String>,
    /// The cargo profile the images were built with.
    pub profile: String,
    /// Timed iterations per benchmark.
    pub iterations: u64,
    /// The kernel's serial lines describing the machine mode (`kernel: cpu:`,
    /// `kernel: timer:`).
    pub kernel_lines: Vec<String>,
}

/// The prefixes of the kernel log lines copied into the report.
pub const KERNEL_LINE_PREFIXES: &[&str] = &["kernel: cpu:", "kernel: timer:"];

/// The serial lines the report copies: those starting with a [`KERNEL_LINE_PREFIXES`] entry.
pub fn kernel_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| KERNEL_LINE_PREFIXES.iter().any(|prefix| line.starts_with(prefix)))
        .cloned()
        .collect()
}

/// The median with the empty iteration's cost taken off.
fn corrected(figures: &Figures, overhead: u64) -> i128 {
    i128::from(figures.median) - i128::from(overhead)
}

/// The human-readable report: setup header, kernel lines, one table row per benchmark.
pub fn table(setup: &Setup, results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "setup: QEMU TCG, -icount shift=0,align=off,sleep=off, {} images; ticks are rdtsc \
         ticks = guest instructions (measured {:.4} ticks/instruction over a {}-instruction loop)",
        setup.profile, results.ticks_per_instruction, results.calibration_instructions
    );
    if let Some(version) = &setup.qemu_version {
        let _ = writeln!(out, "qemu: {version}");
    }
    for line in &setup.kernel_lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "medians of {} iterations each; `-overhead` subtracts {OVERHEAD}'s median ({} ticks)\n",
        setup.iterations, results.overhead
    );
    let header = ["benchmark", "median", "-overhead", "min", "p90", "max", "iterations", "target"];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for figures in &results.benchmarks {
        let target = match target_met(figures, results.overhead) {
            Some((target, true)) => format!("<={target} met"),
            Some((target, false)) => format!("<={target} NOT met"),
            None => String::new(),
        };
        rows.push(vec![
            figures.name.clone(),
            figures.median.to_string(),
            corrected(figures, results.overhead).to_string(),
            figures.min.to_string(),
            figures.p90.to_string(),
            figures.max.to_string(),
            figures.iterations.to_string(),
            target,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for (index, row) in rows.iter().enumerate() {
        let mut line = format!("{:<width$}", row[0], width = widths[0]);
        for (column, (cell, width)) in row.iter().zip(&widths).enumerate().skip(1) {
            // Numbers to the right; the target, last, reads from the left.
            if column + 1 == row.len() {
                let _ = write!(line, "  {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if index == 0 {
            let _ = writeln!(out, "{}", "-".repeat(line.trim_end().len()));
        }
    }
    let _ = writeln!(
        out,
        "\ntargets compare `-overhead` with the project's goal in guest instructions\n\
         kernel events per iteration (what each benchmark does; the kernel counts none yet):"
    );
    for figures in &results.benchmarks {
        if let Some(note) = note(&figures.name) {
            let _ = writeln!(out, "  {}: {}", figures.name, note.events);
        }
    }
    out
}

/// The JSON document: setup, then every benchmark's figures.
pub fn json(setup: &Setup, results: &Results) -> String {
    let mut out = String::from("{\n  \"setup\": {\n");
    let version = setup.qemu_version.as_deref().map_or_else(|| "null".to_owned(), quote);
    let kernel_lines: Vec<_> = setup.kernel_lines.iter().map(|line| quote(line)).collect();
    let fields = [
        ("accelerator", quote("tcg")),
        ("icount", quote("shift=0,align=off,sleep=off")),
        ("unit", quote("rdtsc ticks (guest instructions under icount)")),
        ("qemu_command", quote(&setup.qemu_command)),
        ("qemu_version", version),
        ("profile", quote(&setup.profile)),
        ("iterations", setup.iterations.to_string()),
        ("kernel_lines", format!("[{}]", kernel_lines.join(", "))),
        ("rdtsc_overhead_median", results.overhead.to_string()),
        ("calibration_instructions", results.calibration_instructions.to_string()),
        ("ticks_per_instruction", format!("{:.6}", results.ticks_per_instruction)),
    ];
    push_fields(&mut out, "    ", &fields);
    out.push_str("  },\n  \"benchmarks\": [\n");
    for (index, figures) in results.benchmarks.iter().enumerate() {
        let extra: Vec<_> =
            figures.extra.iter().map(|(key, value)| format!("{}: {value}", quote(key))).collect();
        let counters: Vec<_> = Counter::ALL
            .iter()
            .map(|&counter| format!("{}: {}", quote(counter.name()), figures.counted(counter)))
            .collect();
        let target = target_met(figures, results.overhead);
        let fields = [
            ("name", quote(&figures.name)),
            ("median", figures.median.to_string()),
            ("median_minus_overhead", corrected(figures, results.overhead).to_string()),
            ("min", figures.min.to_string()),
            ("p90", figures.p90.to_string()),
            ("max", figures.max.to_string()),
            ("iterations", figures.iterations.to_string()),
            ("counters", format!("{{{}}}", counters.join(", "))),
            ("extra", format!("{{{}}}", extra.join(", "))),
            ("target", target.map_or_else(|| "null".to_owned(), |(goal, _)| goal.to_string())),
            ("target_met", target.map_or_else(|| "null".to_owned(), |(_, met)| met.to_string())),
            ("events", note(&figures.name).map_or_else(|| "null".to_owned(), |n| quote(n.events))),
        ];
        out.push_str("    {\n");
        push_fields(&mut out, "      ", &fields);
        out.push_str(if index + 1 < results.benchmarks.len() { "    },\n" } else { "    }\n" });
    }
    out.push_str("  ]\n}\n");
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
        "bench: iterations=1000 warmup=100",
        "BENCH rdtsc_overhead median=5 min=5 max=5 p90=5 iterations=1000 syscall_entries=0 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH calibration_loop median=10006 min=10006 max=10478 p90=10006 iterations=1000 syscall_entries=0 interrupt_entries=2 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0 instructions=10001",
        "BENCH null_syscall median=255 min=255 max=255 p90=255 iterations=1000 syscall_entries=1000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH debug_write_0 median=461 min=461 max=700 p90=461 iterations=1000 syscall_entries=1000 interrupt_entries=1 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH ipc_call_reply_0_same_as median=305 min=305 max=900 p90=305 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH ipc_call_reply_16_same_as median=700 min=700 max=900 p90=700 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH ipc_call_reply_0_cross_as median=405 min=405 max=900 p90=405 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=2000 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH ipc_call_reply_16_cross_as median=800 min=800 max=900 p90=800 iterations=1000 syscall_entries=2000 interrupt_entries=1 exception_entries=0 cr3_writes=2000 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH notification_signal_wait median=800 min=800 max=900 p90=800 iterations=1000 syscall_entries=4000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH retype_endpoint median=600 min=600 max=900 p90=600 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH map_unmap_frame median=700 min=700 max=900 p90=700 iterations=1000 syscall_entries=2000 interrupt_entries=0 exception_entries=0 cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0",
        "BENCH DONE",
        "kernel: thread bench exited with code 0",
    ];

    fn setup(lines: &[String]) -> Setup {
        Setup {
            qemu_command: "(cd /m && qemu-system-x86_64 -append 'a \"b\"')".into(),
            qemu_version: Some("QEMU emulator version 7.2.0".into()),
            profile: "release".into(),
            iterations: 1000,
            kernel_lines: kernel_lines(lines),
        }
    }

    #[test]
    fn benchmark_lines_are_parsed() {
        assert_eq!(
            parse(
                "BENCH null_syscall median=3 min=1 max=9 p90=4 iterations=10 syscall_entries=10 \
                 interrupt_entries=1 exception_entries=2 cr3_writes=3 ibpb=4 l1d_flushes=5 verw=6 \
                 instructions=7\r"
            ),
            Some(Line::Result(Figures {
                name: "null_syscall".into(),
                median: 3,
                min: 1,
                max: 9,
                p90: 4,
                iterations: 10,
                counters: [10, 1, 2, 3, 4, 5, 6],
                extra: vec![("instructions".into(), 7)],
            }))
        );
        assert_eq!(parse("BENCH DONE"), Some(Line::Done));
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
                           cr3_writes=0 ibpb=0 l1d_flushes=0 verw=0";

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
        assert_eq!(results.benchmarks.len(), 11);
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
        let problem = collect(&log(&GOOD[..5]), EXPECTED).unwrap_err();
        assert!(problem.contains("`BENCH null_syscall ...`, `BENCH debug_write_0 ...`"));
        assert!(problem.ends_with("expected: a line `BENCH DONE`\nbut: there is none"));
    }

    #[test]
    fn repeats_late_lines_and_malformed_lines_fail_the_run() {
        let mut lines = log(GOOD);
        lines.push(GOOD[5].to_owned());
        lines.push("BENCH x median=1".to_owned());
        let problem = collect(&lines, EXPECTED).unwrap_err();
        assert!(problem.contains("`null_syscall` is reported after `BENCH DONE`"), "{problem}");
        assert!(problem.contains("`null_syscall` is reported more than once"), "{problem}");
        assert!(problem.contains("serial line 18 breaks the benchmark protocol"), "{problem}");
    }

    #[test]
    fn calibration_needs_its_instruction_count() {
        let lines: Vec<String> =
            GOOD.iter().map(|line| line.replace(" instructions=10001", "")).collect();
        let problem = collect(&lines, EXPECTED).unwrap_err();
        assert!(problem.contains("positive `instructions=`"), "{problem}");
    }

    #[test]
    fn table_states_the_setup_and_both_medians() {
        let lines = log(GOOD);
        let report = table(&setup(&lines), &collect(&lines, EXPECTED).unwrap());
        assert!(report.starts_with("setup: QEMU TCG, -icount shift=0"), "{report}");
        assert!(
            report.contains("(measured 1.0000 ticks/instruction over a 10001-instruction loop)")
        );
        assert!(report.contains("\nkernel: cpu: nx=true smep=true\nkernel: timer: local APIC"));
        assert!(
            report.contains(
                "\nbenchmark                   median  -overhead    min    p90    max  iterations  \
                 target\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "\nnull_syscall                   255        250    255    255    255        1000  \
                 <=100 NOT met\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "\nipc_call_reply_0_cross_as      405        400    405    405    900        1000  \
                 <=400 met\n"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "\nipc_call_reply_0_same_as       305        300    305    305    900        1000\n"
            ),
            "{report}"
        );
        assert!(report.contains("\nrdtsc_overhead                   5          0"), "{report}");
        assert!(report.contains("\nkernel events per iteration"), "{report}");
        assert!(report.contains("\n  map_unmap_frame: 2 kernel entries"), "{report}");
    }

    #[test]
    fn json_holds_setup_and_every_benchmark() {
        let lines = log(GOOD);
        let document = json(&setup(&lines), &collect(&lines, EXPECTED).unwrap());
        assert!(document.starts_with("{\n  \"setup\": {\n    \"accelerator\": \"tcg\",\n"));
        assert!(
            document
                .contains(r#""qemu_command": "(cd /m && qemu-system-x86_64 -append 'a \"b\"')","#)
        );
        assert!(document.contains("\"ticks_per_instruction\": 1.000000\n"), "{document}");
        assert!(document.contains(
            "      \"name\": \"null_syscall\",\n      \"median\": 255,\n      \"median_minus_overhead\": 250,\n"
        ));
        assert!(document.contains("\"extra\": {\"instructions\": 10001},\n"), "{document}");
        assert!(
            document.contains(
                "\"counters\": {\"syscall_entries\": 2000, \"interrupt_entries\": 0, \
                 \"exception_entries\": 0, \"cr3_writes\": 2000, \"ibpb\": 0, \"l1d_flushes\": 0, \
                 \"verw\": 0},\n"
            ),
            "{document}"
        );
        assert!(document.ends_with("    }\n  ]\n}\n"), "{document}");
        assert_eq!(document.matches("\"name\"").count(), 11);
        assert!(document.contains("\"target\": 100,\n      \"target_met\": false,\n"));
        assert!(document.contains("\"target\": null,\n      \"target_met\": null,\n"));
        assert!(document.contains("\"events\": \"1 kernel entry (the Null call),"));
    }

    #[test]
    fn every_expected_benchmark_has_one_note() {
        for name in EXPECTED {
            assert_eq!(NOTES.iter().filter(|note| note.name == *name).count(), 1, "{name}");
        }
        assert_eq!(NOTES.len(), EXPECTED.len());
        assert_eq!(note("null_syscall").and_then(|note| note.target), Some(100));
        assert_eq!(note("ipc_call_reply_0_cross_as").and_then(|note| note.target), Some(400));
        assert_eq!(note("ipc_call_reply_0_same_as").and_then(|note| note.target), None);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn only_the_mode_lines_of_the_kernel_are_copied() {
        assert_eq!(kernel_lines(&log(GOOD)), log(&GOOD[..2]));
    }
}
