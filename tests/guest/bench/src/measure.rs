//! Timing an operation many times and summarising the samples.

use core::fmt;

use crate::tsc;

/// Runs benchmarks: a warm-up, then one time-stamp difference per timed iteration.
#[derive(Debug)]
pub struct Bench<'s> {
    samples: &'s mut [u32],
    warmup: usize,
}

impl<'s> Bench<'s> {
    /// Times `samples.len()` iterations per benchmark, after `warmup` untimed ones.
    pub fn new(samples: &'s mut [u32], warmup: usize) -> Self {
        Self { samples, warmup }
    }

    /// Runs `op` for the warm-up, then times each of the iterations on its own; `check`
    /// judges each operation's outcome after the second counter read, outside the timed
    /// region. Stops at the first outcome `check` refuses.
    pub fn time<O, E>(
        &mut self,
        mut op: impl FnMut() -> O,
        mut check: impl FnMut(O) -> Result<(), E>,
    ) -> Result<Summary, E> {
        for _ in 0..self.warmup {
            check(op())?;
        }
        for sample in self.samples.iter_mut() {
            let start = tsc::now();
            let outcome = op();
            let end = tsc::now();
            check(outcome)?;
            *sample = u32::try_from(end.wrapping_sub(start)).unwrap_or(u32::MAX);
        }
        Ok(Summary::of(self.samples))
    }

    /// As [`time`](Self::time) with the check in `op`, but after each iteration (warm-up ones too) runs `after`
    /// outside the timed region, e.g. to delete what the operation created.
    pub fn time_then<E>(
        &mut self,
        mut op: impl FnMut() -> Result<(), E>,
        mut after: impl FnMut() -> Result<(), E>,
    ) -> Result<Summary, E> {
        for _ in 0..self.warmup {
            op()?;
            after()?;
        }
        for sample in self.samples.iter_mut() {
            let start = tsc::now();
            let outcome = op();
            let end = tsc::now();
            outcome?;
            after()?;
            *sample = u32::try_from(end.wrapping_sub(start)).unwrap_or(u32::MAX);
        }
        Ok(Summary::of(self.samples))
    }
}

/// The order statistics of one benchmark's samples, in ticks.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    median: u32,
    min: u32,
    max: u32,
    p90: u32,
    iterations: usize,
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
            instructions: None,
        }
    }

    /// Adds the `instructions=<n>` field.
    pub fn with_instructions(self, instructions: u64) -> Self {
        Self { instructions: Some(instructions), ..self }
    }
}

/// The fields of a `BENCH <name> ...` line, after the name.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { median, min, max, p90, iterations, instructions } = self;
        write!(f, "median={median} min={min} max={max} p90={p90} iterations={iterations}")?;
        if let Some(instructions) = instructions {
            write!(f, " instructions={instructions}")?;
        }
        Ok(())
    }
}
