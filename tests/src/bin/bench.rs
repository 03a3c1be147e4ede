//! `just bench`: builds the release images, boots the `bench` guest program (with the
//! `bench-peer` module, the server of its cross-address-space benchmarks, and the
//! `memsrv-server` module, the memory server of its memsrv benchmarks) under TCG with
//! `-icount shift=0,align=off,sleep=off` (one time-stamp tick = one guest instruction), once
//! per mode in `bench::MODES` (the kernel command line choosing it), prints one table of
//! every mode's figures and counted kernel events, and writes them as JSON.
//!
//! ```text
//! bench [--iterations <n>] [--json <path>]
//! ```
//!
//! `--iterations` (default 1000, between 1000 and 10000) is per benchmark; the JSON goes to
//! `target/bench/results.json` unless `--json` says otherwise. Exits 1, showing the guest's
//! last lines, if in any mode the guest failed, hung, left out a benchmark or the kernel did
//! not confirm the mode.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use tests::bench::{self, Mode, Run, Setup};
use tests::boot::{self, Exit};
use tests::images::{self, Images, Profile};
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
    let runs = bench::MODES
        .iter()
        .map(|&mode| run_mode(images, mode, options.iterations, timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let setup = Setup {
        qemu_version: qemu_version(),
        profile: "release".into(),
        iterations: options.iterations,
    };
    print!("{}", bench::table(&setup, &runs));
    if let Some(parent) = options.json.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    std::fs::write(&options.json, bench::json(&setup, &runs))
        .map_err(|error| format!("cannot write {}: {error}", options.json.display()))?;
    eprintln!("bench: wrote {}", options.json.display());
    Ok(())
}

/// Boots the bench program once with `mode`'s kernel command line and reads its figures.
fn run_mode(
    images: &Images,
    mode: Mode,
    iterations: u64,
    timeout: Duration,
) -> Result<Run, String> {
    let qemu = Qemu::new(images.kernel(), images.dir())
        .icount(true)
        .append(mode.cmdline)
        .module("bench", &format!("iterations={iterations}"))
        .module(bench::PEER_MODULE, "")
        .module(bench::MEMSRV_MODULE, "");
    eprintln!("bench: mode {}: {}", mode.name, qemu.describe());
    let boot = boot::run(&qemu, timeout, false)?;
    let failed = |problem: String| format!("mode {}: {problem}\n{}", mode.name, boot.tail());
    if boot.exit != Exit::KernelSuccess {
        return Err(failed(boot.exit.to_string()));
    }
    if !boot.lines.iter().any(|line| line == "kernel: thread bench exited with code 0") {
        return Err(failed("the bench program did not exit with code 0".into()));
    }
    Run::read(mode, qemu.describe(), &boot.lines, iterations).map_err(failed)
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
