//! `just bench`: builds the release images, boots the `bench` guest program (with the
//! `bench-peer` module, the server of its cross-address-space benchmarks) under TCG with
//! `-icount shift=0,align=off,sleep=off` (one time-stamp tick = one guest instruction),
//! prints a table of its figures and writes them as JSON.
//!
//! ```text
//! bench [--iterations <n>] [--json <path>]
//! ```
//!
//! `--iterations` (default 1000, between 1000 and 10000) is per benchmark; the JSON goes to
//! `target/bench/results.json` unless `--json` says otherwise. Exits 1, showing the guest's
//! last lines, if the guest failed, hung or left out a benchmark.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use tests::bench::{self, Setup};
use tests::boot::{self, Exit};
use tests::images::{self, Profile};
use tests::qemu::{self, Qemu};

const DEFAULT_ITERATIONS: u64 = 1000;
/// Fewer samples make medians and p90s too coarse to report.
const MIN_ITERATIONS: u64 = 1000;
/// What the guest can hold (`MAX_ITERATIONS` in `tests/guest/bench`).
const MAX_ITERATIONS: u64 = 10_000;

struct Options {
    iterations: u64,
    json: PathBuf,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        iterations: DEFAULT_ITERATIONS,
        json: images::workspace_root().join("target").join("bench").join("results.json"),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--iterations" => {
                options.iterations = value()?
                    .parse()
                    .ok()
                    .filter(|n| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "--iterations needs a number from {MIN_ITERATIONS} to {MAX_ITERATIONS}"
                        )
                    })?
            }
            "--json" => options.json = value()?.into(),
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    if std::env::var_os("ASI_KVM").is_some_and(|value| value == "1") {
        return Err(
            "ASI_KVM=1 is not supported: benchmarks count instructions under TCG's icount".into()
        );
    }
    let timeout = boot::timeout_from_env()?;
    eprintln!("bench: building the release images");
    let images = images::build(Profile::Release).map_err(ToString::to_string)?;
    let qemu = Qemu::new(images.kernel(), images.dir())
        .icount(true)
        .module("bench", &format!("iterations={}", options.iterations))
        .module(bench::PEER_MODULE, "");
    eprintln!("bench: {}", qemu.describe());
    let boot = boot::run(&qemu, timeout, false)?;
    if boot.exit != Exit::KernelSuccess {
        return Err(format!("{}\n{}", boot.exit, boot.tail()));
    }
    if !boot.lines.iter().any(|line| line == "kernel: thread bench exited with code 0") {
        return Err(format!("the bench program did not exit with code 0\n{}", boot.tail()));
    }
    let results = bench::collect(&boot.lines, bench::EXPECTED)
        .map_err(|problem| format!("{problem}\n{}", boot.tail()))?;
    let setup = Setup {
        qemu_command: qemu.describe(),
        qemu_version: qemu_version(),
        profile: "release".into(),
        iterations: options.iterations,
        kernel_lines: bench::kernel_lines(&boot.lines),
    };
    print!("{}", bench::table(&setup, &results));
    if let Some(parent) = options.json.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    std::fs::write(&options.json, bench::json(&setup, &results))
        .map_err(|error| format!("cannot write {}: {error}", options.json.display()))?;
    eprintln!("bench: wrote {}", options.json.display());
    Ok(())
}

/// The first line of `qemu-system-x86_64 --version`, if QEMU answers.
fn qemu_version() -> Option<String> {
    let output = Command::new(qemu::PROGRAM).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned)
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(|options| run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("bench: {reason}");
            ExitCode::FAILURE
        }
    }
}
