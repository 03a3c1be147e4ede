//! Timing an operation many times, counting the kernel events the timed iterations
//! cause, and summarising both.

use core::fmt;

use libasi::cap::{AsiControl, Cap, Counters};
use libasi::ipc::IpcBuffer;
use syscall_abi::counters::{COUNT, Counter};

use crate::env::{SetupError, setup};
use crate::tsc;

/// The CPU whose event counters are read: the host boots the program on one CPU, so every
/// thread of a benchmark (helpers and peers too) runs on it.
const CPU: u64 = 0;

/// Runs benchmarks: a warm-up, then one time-stamp difference per timed iteration, with
/// the kernel's event counters read before and after the timed iterations.
#[derive(Debug)]
pub struct Bench<'s> {
    samples: &'s mut [u32],
    warmup: usize,
    /// The root task's IPC buffer, where the counters' words past the four in registers
    /// arrive.
    buffer: IpcBuffer,
}

impl<'s> Bench<'s> {
    /// Times `samples.len()` iterations per benchmark, after `warmup` untimed ones.
    pub fn new(samples: &'s mut [u32], warmup: usize, buffer: IpcBuffer) -> Self {
        Self { samples, warmup, buffer }
    }

    /// Runs `op` for the warm-up, then times each of the iterations on its own; `check`
    /// judges each operation's outcome after the second counter read, outside the timed
    /// region. Stops at the first outcome `check` refuses. Counts the kernel events of the
    /// timed iterations (see [`counted_since`]).
    pub fn time<O, E: From<SetupError>>(
        &mut self,
        mut op: impl FnMut() -> O,
        mut check: impl FnMut(O) -> Result<(), E>,
    ) -> Result<Summary, E> {
        for _ in 0..self.warmup {
            check(op())?;
        }
        let from = read_counters(self.buffer);
        for sample in self.samples.iter_mut() {
            let start = tsc::now();
            let outcome = op();
            let end = tsc::now();
            check(outcome)?;
            *sample = u32::try_from(end.wrapping_sub(start)).unwrap_or(u32::MAX);
        }
        let summary = Summary::of(self.samples);
        Ok(summary.with_events(counted_since(self.buffer, from)?))
    }

    /// As [`time`](Self::time) with the check in `op`, but after each iteration (warm-up
    /// ones too) runs `after` outside the timed region, e.g. to delete what the operation
    /// created. The counted events include what `after` does.
    pub fn time_then<E: From<SetupError>>(
        &mut self,
        mut op: impl FnMut() -> Result<(), E>,
        mut after: impl FnMut() -> Result<(), E>,
    ) -> Result<Summary, E> {
        for _ in 0..self.warmup {
            op()?;
            after()?;
        }
        let from = read_counters(self.buffer);
        for sample in self.samples.iter_mut() {
            let start = tsc::now();
            let outcome = op();
            let end = tsc::now();
            outcome?;
            after()?;
            *sample = u32::try_from(end.wrapping_sub(start)).unwrap_or(u32::MAX);
        }
        let summary = Summary::of(self.samples);
        Ok(summary.with_events(counted_since(self.buffer, from)?))
    }
}

impl Bench<'_> {
    /// Makes the counter reads use `buffer` (the IPC buffer the root task is configured
    /// with from now on: the reads' replies arrive there) and returns the one used before.
    pub fn use_buffer(&mut self, buffer: IpcBuffer) -> IpcBuffer {
        core::mem::replace(&mut self.buffer, buffer)
    }

    /// As [`time_then`](Self::time_then), but only `op` is counted: the counters are read
    /// straight before and after each timed operation (outside the timed region) and once
    /// more, and each iteration adds `(after - before) - (again - after)`, the operation's
    /// events without one read's exit and the next one's entry. What `after` does (e.g.
    /// undoing the operation) is in neither the ticks nor the counts.
    pub fn time_then_uncounted<E: From<SetupError>>(
        &mut self,
        mut op: impl FnMut() -> Result<(), E>,
        mut after: impl FnMut() -> Result<(), E>,
    ) -> Result<Summary, E> {
        for _ in 0..self.warmup {
            op()?;
            after()?;
        }
        let mut events = [0_u64; COUNT];
        for sample in self.samples.iter_mut() {
            let before = read_counters(self.buffer);
            let start = tsc::now();
            let outcome = op();
            let end = tsc::now();
            let done = read_counters(self.buffer)?;
            let again = read_counters(self.buffer)?;
            let (spent, reading) = (done.since(&before?), again.since(&done));
            for (total, counter) in events.iter_mut().zip(Counter::ALL) {
                *total += spent.get(counter).saturating_sub(reading.get(counter));
            }
            outcome?;
            after()?;
            *sample = u32::try_from(end.wrapping_sub(start)).unwrap_or(u32::MAX);
        }
        Ok(Summary::of(self.samples).with_events(events))
    }
}

/// CPU [`CPU`]'s event counters now.
///
/// How [`Bench`] uses this and [`counted_since`] leaves the timed loop's code as it was
/// before there were counters: neither is inlined, the first read's outcome is looked at
/// only after the loop, and the counting ends after the samples are summarised (so an
/// interrupt during the sort counts too). Under icount every instruction between the
/// time-stamp reads is a tick, and the registers the compiler picks there depend on the
/// code around the loop: other arrangements moved medians by one instruction.
#[inline(never)]
fn read_counters(buffer: IpcBuffer) -> Result<Counters, SetupError> {
    setup(Cap::<AsiControl>::BOOT.counters(buffer, CPU), "read the event counters")
}

/// Each counter's increase since `from`, without the counter reads' own events. Each read
/// is a system call: `from`'s exit and the closing read's entry land between the two
/// snapshots. A third read straight after the closing one counts exactly one such exit and
/// entry, which is taken off. An interrupt between those two reads would be taken off as
/// well (one interrupt entry and the flushes it caused; saturating at 0); the timer, every
/// 5 ms, makes that rare enough not to matter.
#[inline(never)]
fn counted_since(
    buffer: IpcBuffer,
    from: Result<Counters, SetupError>,
) -> Result<[u64; COUNT], SetupError> {
    let from = from?;
    let end = read_counters(buffer)?;
    let reading = read_counters(buffer)?.since(&end);
    let spent = end.since(&from);
    Ok(Counter::ALL.map(|counter| spent.get(counter).saturating_sub(reading.get(counter))))
}

/// The order statistics of one benchmark's samples, in ticks.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    median: u32,
    min: u32,
    max: u32,
    p90: u32,
    iterations: usize,
    /// Each kernel event counter's total over the timed iterations, in [`Counter`] order.
    events: [u64; COUNT],
    /// For the calibration loop: the instructions it adds over an empty iteration.
    instructions: Option<u64>,
}

impl Summary {
    /// Sorts `samples` and reads off nearest-rank percentiles: the median is the lower
    /// middle sample of an even count, p90 the sample at rank ⌈0.9·n⌉.
    fn of(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        let rank = |percent: usize| samples[(n * percent).div_ceil(100).max(1) - 1];
        Self {
            median: rank(50),
            min: samples[0],
            max: samples[n - 1],
            p90: rank(90),
            iterations: n,
            events: [0; COUNT],
            instructions: None,
        }
    }

    /// Sets the kernel events counted over the timed iterations.
    fn with_events(self, events: [u64; COUNT]) -> Self {
        Self { events, ..self }
    }

    /// Adds the `instructions=<n>` field.
    pub fn with_instructions(self, instructions: u64) -> Self {
        Self { instructions: Some(instructions), ..self }
    }
}

/// The fields of a `BENCH <name> ...` line, after the name.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { median, min, max, p90, iterations, events, instructions } = self;
        write!(f, "median={median} min={min} max={max} p90={p90} iterations={iterations}")?;
        for (counter, total) in Counter::ALL.iter().zip(events) {
            write!(f, " {}={total}", counter.name())?;
        }
        if let Some(instructions) = instructions {
            write!(f, " instructions={instructions}")?;
        }
        Ok(())
    }
}
