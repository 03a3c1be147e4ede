//! The guest tests: every scenario is one QEMU boot of the kernel with some user
//! programs, checked from the serial log. See `tests/README.md` for adding one.

use std::process::ExitCode;
use std::time::Duration;

use syscall_abi::counters::Counter;
use tests::bench;
use tests::boot::{self, Boot, Exit, Typing};
use tests::expect::{self, Pattern};
use tests::harness::{self, Scenario, TestResult};
use tests::images::{self, Profile};
use tests::qemu::Qemu;
use tests::suite;

/// The CPUs the boot scenario asks for, and so the count the kernel must find in the MADT.
const BOOT_CPUS: u32 = 2;

/// The test kernel's deliberate crashes (`ktest.crash=...`) and the report each must print.
const KERNEL_CRASHES: &[(&str, &str)] = &[
    ("page-fault", "KERNEL FAULT: #PF page fault (vector=14)"),
    ("panic", "KERNEL PANIC: panicked at"),
];

/// The probe's fault kinds and the exception vector each must raise.
const FAULTS: &[(&str, u8)] = &[("page", 14), ("gp", 13), ("ud", 6), ("div", 0)];

fn main() -> ExitCode {
    let timeout = match boot::timeout_from_env() {
        Ok(timeout) => timeout,
        Err(problem) => {
            eprintln!("guest: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let mut scenarios = vec![
        boot_to_init(timeout),
        kernel_tests(timeout),
        user_syscall_tests(timeout),
        cap_tests(timeout),
        cap_tests_in_mode(BLANKET, timeout),
        cap_tests_in_mode(ASI_OFF, timeout),
        ipc_tests(timeout),
        ipc_tests_in_mode(BLANKET, timeout),
        ipc_tests_in_mode(ASI_OFF, timeout),
        dev_tests(timeout),
        memsrv_tests(timeout),
    ];
    scenarios
        .extend(KERNEL_CRASHES.iter().map(|&(crash, report)| kernel_crash(crash, report, timeout)));
    scenarios.extend(FAULTS.iter().map(|&(kind, vector)| user_fault(kind, vector, timeout)));
    scenarios.push(bench_program(timeout));
    scenarios.push(init_starts_servers(timeout));
    scenarios.push(console_input(timeout));
    harness::main(scenarios)
}

/// Which kernel image a scenario boots.
#[derive(Clone, Copy)]
enum Kernel {
    Normal,
    WithTests,
}

/// Boots `kernel` with one user program as its only module.
fn boot_with(
    kernel: Kernel,
    cpus: u32,
    program: &str,
    args: &str,
    append: &str,
    timeout: Duration,
) -> Result<Boot, String> {
    let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
    let kernel = match kernel {
        Kernel::Normal => images.kernel(),
        Kernel::WithTests => {
            images::build_ktest_kernel().map_err(ToString::to_string)?.to_path_buf()
        }
    };
    let qemu = Qemu::new(kernel, images.dir()).cpus(cpus).append(append).module(program, args);
    boot::run(&qemu, timeout, false)
}

/// `memtest` as the root task with memsrv's module: memsrv spawned with four pageblocks
/// and the ASI control capability, checked as a client over IPC.
fn memsrv_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "memsrv::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("memsrv::"),
        run: Box::new(move || {
            let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
            let qemu = Qemu::new(images.kernel(), images.dir())
                .module("memtest", "")
                .module("memsrv-server", "")
                .module("memhog", "");
            let boot = boot::run(&qemu, timeout, false)?;
            Ok(suite::results(&boot, COMPLETE, Exit::KernelSuccess))
        }),
    }
}

/// Boots the test runner with `args` and the case program `program` as its module.
fn boot_runner(args: &str, program: &str, append: &str, timeout: Duration) -> Result<Boot, String> {
    let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
    let qemu = Qemu::new(images.kernel(), images.dir())
        .append(append)
        .module("testrunner", args)
        .module(program, "");
    boot::run(&qemu, timeout, false)
}

fn boot_to_init(timeout: Duration) -> Scenario {
    const REACHES_INIT: &str = "boot::reaches_init";
    const LISTS_CPUS: &str = "boot::lists_cpus";
    Scenario {
        checks: vec![REACHES_INIT.into(), LISTS_CPUS.into()],
        namespace: None,
        run: Box::new(move || {
            let boot = boot_with(Kernel::Normal, BOOT_CPUS, "init", "", "", timeout)?;
            let reaches_init = expect::in_order(
                &boot.lines,
                &[
                    Pattern::Line("init: hello from user mode"),
                    Pattern::Line(
                        "init: no servers to start (boot modules memsrv-server, console, echo, client, keystore, signer)",
                    ),
                    Pattern::Line("kernel: thread init exited with code 0"),
                    Pattern::Line("kernel: no runnable threads, shutting down"),
                ],
            )
            .and_then(|()| boot.expect_exit(&Exit::KernelSuccess));
            Ok(vec![
                boot.check(REACHES_INIT, reaches_init),
                boot.check(LISTS_CPUS, cpu_count(&boot, BOOT_CPUS)),
            ])
        }),
    }
}

/// `init` with the servers' modules, as `just qemu` boots it: init spawns memsrv, console,
/// echo, client, keystore and signer; the client's lines reach the console whole, init's
/// summary follows, then the signer's keystore mix (every answer as the signer computed
/// it, and ASI exits only for the sensitive pages the keystore's heap grew by), then
/// init's report of the frames it had from memsrv and of the kernel's counters, and the
/// kernel shuts down cleanly once every thread is blocked or gone.
fn init_starts_servers(timeout: Duration) -> Scenario {
    const NAME: &str = "system::init_starts_servers";
    const KEYSTORE: &str = "system::keystore_mix_exits_only_for_new_sensitive_pages";
    Scenario {
        checks: vec![NAME.into(), KEYSTORE.into()],
        namespace: None,
        run: Box::new(move || {
            let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
            let mut qemu = Qemu::new(images.kernel(), images.dir());
            for program in
                ["init", "memsrv-server", "console", "echo", "client", "keystore", "signer"]
            {
                qemu = qemu.module(program, "");
            }
            let boot = boot::run(&qemu, timeout, false)?;
            let started = expect::in_order(
                &boot.lines,
                &[
                    Pattern::Line("init: hello from user mode"),
                    Pattern::Line(
                        "init: started memsrv, then console, echo, client, keystore and signer from memory memsrv gave",
                    ),
                    Pattern::Line("[echo] ready for requests"),
                    Pattern::Line(r#"[client] reverse "hello, world" -> "dlrow ,olleh": ok"#),
                    Pattern::Line(
                        "[client] increment [1, 41, 99, 18446744073709551615] -> [2, 42, 100, 0]: ok",
                    ),
                    Pattern::Line("[client] unknown request 0x77 refused: ok"),
                    Pattern::Line("[client] console refused READ_LINE without the input badge: ok"),
                    Pattern::Line("[init] system up: client passed 4 of 4 checks"),
                    Pattern::PrefixContaining(
                        "init: keystore: the signer made ",
                        " answers as it computed them, 0 not; it holds 7 keys in a heap of ",
                    ),
                    Pattern::Prefix(KEYSTORE_MIX),
                    // memsrv gets every pageblock but init's two, all sensitive as boot
                    // left them: the five servers' pageblocks flip five, the first
                    // nonsensitive frame one more. Zeroing a sensitive frame is an ASI exit.
                    Pattern::PrefixContaining("init: memsrv manages ", " MiB in "),
                    Pattern::Line(
                        "init: allocated 4 sensitive 4 KiB frames from memsrv: 0 flips, 4 ASI exits; checked, freed",
                    ),
                    Pattern::Line(
                        "init: allocated 4 nonsensitive 4 KiB frames from memsrv: 1 flip, 1 ASI exit; checked, freed",
                    ),
                    // Only the first frame of the churn is made (and zeroed, through an ASI
                    // exit); memsrv keeps each one freed for the next allocation.
                    Pattern::PrefixContaining(
                        "init: churned 64 sensitive 4 KiB frames through a FramePool: 1 made, 63 kept and reused; ",
                        " kernel entries, 1 ASI exit",
                    ),
                    // How many pageblocks memsrv has depends on the boot modules' sizes.
                    Pattern::PrefixContaining(
                        "init: memsrv pageblocks: ",
                        " sensitive, 6 nonsensitive (",
                    ),
                    Pattern::PrefixContaining("init: kernel since boot: ", " system calls, "),
                    Pattern::PrefixContaining("init: kernel since boot: ", " ASI exits, "),
                    Pattern::PrefixContaining("init: kernel since boot: ", " pageblock flips, "),
                    Pattern::Line("kernel: thread init exited with code 0"),
                    Pattern::Line("kernel: no runnable threads, shutting down"),
                ],
            )
            .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("kernel: user fault")))
            .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("panic:")))
            .and_then(|()| boot.expect_exit(&Exit::KernelSuccess));
            Ok(vec![
                boot.check(NAME, started),
                boot.check(KEYSTORE, keystore_exits_match_heap_growth(&boot)),
            ])
        }),
    }
}

/// The start of init's line on what the signer's keystore mix cost the kernel.
const KEYSTORE_MIX: &str = "init: keystore mix cost the kernel ";

/// The keystore's keys live in sensitive memory the kernel never touches on their behalf:
/// during the signer's mix (hundreds of kernel entries) the kernel leaves its restricted
/// view only to zero the sensitive frames the keystore's heap grows by, once per frame.
fn keystore_exits_match_heap_growth(boot: &Boot) -> Result<(), String> {
    let line = boot
        .lines
        .iter()
        .find_map(|line| line.strip_prefix(KEYSTORE_MIX))
        .ok_or_else(|| format!("expected: a line starting `{KEYSTORE_MIX}`"))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.trim_end_matches([',', ';']).parse().ok())
        .collect();
    let [entries, exits, flushes, grown] = numbers[..] else {
        return Err(format!("expected four counts in `{KEYSTORE_MIX}{line}`"));
    };
    if exits != grown || flushes != exits {
        return Err(format!(
            "the mix made {exits} ASI exits and {flushes} L1D flushes, but the heap grew by {grown} pages: `{line}`"
        ));
    }
    if entries < 100 * exits.max(1) {
        return Err(format!("the mix made only {entries} kernel entries: `{line}`"));
    }
    Ok(())
}

/// `init console=interactive` with the servers: the harness types on the serial port once
/// the client asks for input — a line with a typo erased (DEL), ended by CR LF; a line
/// longer than the console keeps; Ctrl-D — and the console must echo what was typed,
/// hand the client each line (the long one cut and marked), and the system must end by
/// itself once input has.
fn console_input(timeout: Duration) -> Scenario {
    const NAME: &str = "system::console_input";
    const PROMPT: &str = "[client] type a line and press Enter; Ctrl-D on an empty line ends";
    Scenario {
        checks: vec![NAME.into()],
        namespace: None,
        run: Box::new(move || {
            let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
            let mut qemu =
                Qemu::new(images.kernel(), images.dir()).module("init", "console=interactive");
            for program in ["memsrv-server", "console", "echo", "client", "keystore", "signer"] {
                qemu = qemu.module(program, "");
            }
            let long: String = "0123456789".repeat(13);
            let mut bytes = b"hellp\x7fo, console\r\n".to_vec();
            bytes.extend_from_slice(long.as_bytes());
            bytes.extend_from_slice(b"\r\x04");
            let typing = Typing { after: PROMPT.to_owned(), bytes };
            let boot = boot::run_typing(&qemu, timeout, false, Some(&typing))?;
            let cut = format!(
                r#"[client] you typed "{}" (cut: only the first {max} bytes)"#,
                &long[..protocol::console::MAX_LINE],
                max = protocol::console::MAX_LINE
            );
            let answered = expect::in_order(
                &boot.lines,
                &[
                    Pattern::Line("[client] console refused READ_LINE with a word: ok"),
                    Pattern::Line("[init] system up: client passed 4 of 4 checks"),
                    Pattern::Line(PROMPT),
                    // The echo: the typo, then back, blank, back over it.
                    Pattern::Line("hellp\u{8} \u{8}o, console"),
                    Pattern::Line(r#"[client] you typed "hello, console""#),
                    Pattern::Line(&cut),
                    Pattern::Line("[client] input ended"),
                    Pattern::Line("kernel: no runnable threads, shutting down"),
                ],
            )
            .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("console: ")))
            .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("client: ")))
            .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("kernel: user fault")))
            .and_then(|()| boot.expect_exit(&Exit::KernelSuccess));
            Ok(vec![boot.check(NAME, answered)])
        }),
    }
}

/// Checks the kernel's ACPI summary, `kernel: acpi: <n> CPUs ...`, against the CPUs QEMU has.
fn cpu_count(boot: &Boot, cpus: u32) -> Result<(), String> {
    const PREFIX: &str = "kernel: acpi: ";
    let expected = format!("expected: a line like `{PREFIX}{cpus} CPUs (APIC ids ...)`");
    let Some(line) = expect::find(&boot.lines, &Pattern::PrefixContaining(PREFIX, "CPU")) else {
        return Err(format!("{expected}\nbut: there is none"));
    };
    let count =
        line[PREFIX.len()..].split_whitespace().next().and_then(|count| count.parse::<u32>().ok());
    if count == Some(cpus) {
        Ok(())
    } else {
        Err(format!("{expected}\nbut: the kernel printed `{line}`"))
    }
}

fn kernel_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "kernel::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("kernel::"),
        run: Box::new(move || {
            let boot = boot_with(Kernel::WithTests, 1, "init", "", "", timeout)?;
            Ok(suite::results(&boot, COMPLETE, Exit::KernelFailure))
        }),
    }
}

fn user_syscall_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "user::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("user::"),
        run: Box::new(move || {
            let boot = boot_with(Kernel::Normal, 1, "syscall-probe", "syscalls", "", timeout)?;
            // A failing user test is the probe's verdict, not the kernel's: it still shuts down cleanly.
            Ok(suite::results(&boot, COMPLETE, Exit::KernelSuccess))
        }),
    }
}

/// `captest` as the root task: capabilities, retype and CNode operations through libasi.
fn cap_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "cap::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("cap::"),
        run: Box::new(move || {
            let boot = boot_with(Kernel::Normal, 1, "captest", "", "", timeout)?;
            // Like the probe's: a failing case is the suite's verdict; the kernel still
            // shuts down cleanly.
            Ok(suite::results(&boot, COMPLETE, Exit::KernelSuccess))
        }),
    }
}

/// The kernel command line of the scenarios that run a suite again in another mode, and
/// the prefix their test names get, so that both runs of a case are reported.
const BLANKET: (&str, &str) = ("mitigations=blanket", "blanket::");
/// Without address space isolation: the restricted tables map everything, no ASI exit.
const ASI_OFF: (&str, &str) = ("asi=off", "asi_off::");

/// `results` of a suite run in another mode, each name prefixed with that mode's.
fn in_mode(prefix: &str, results: Vec<TestResult>) -> Vec<TestResult> {
    results
        .into_iter()
        .map(|result| TestResult { name: format!("{prefix}{}", result.name), ..result })
        .collect()
}

/// `captest` again in another mode (`mitigations=blanket`, `asi=off`): every case passes
/// there too, and `cap::asi::*` sees what the mode does — a flush on every exit, no ASI
/// exit (its argument tells it the mode).
fn cap_tests_in_mode(mode: (&'static str, &'static str), timeout: Duration) -> Scenario {
    const COMPLETE: &str = "cap::suite_complete";
    let (append, prefix) = mode;
    Scenario {
        checks: vec![format!("{prefix}{COMPLETE}")],
        namespace: Some(prefix),
        run: Box::new(move || {
            let boot = boot_with(Kernel::Normal, 1, "captest", append, append, timeout)?;
            Ok(in_mode(prefix, suite::results(&boot, COMPLETE, Exit::KernelSuccess)))
        }),
    }
}

/// The IPC-level suite again in another mode (`mitigations=blanket`, `asi=off`);
/// `ipctest` gets the ASI control capability as in [`ipc_tests`].
fn ipc_tests_in_mode(mode: (&'static str, &'static str), timeout: Duration) -> Scenario {
    const COMPLETE: &str = "ipc::suite_complete";
    let (append, prefix) = mode;
    Scenario {
        checks: vec![format!("{prefix}{COMPLETE}")],
        namespace: Some(prefix),
        run: Box::new(move || {
            let boot = boot_runner("asi-control=ipctest", "ipctest", append, timeout)?;
            Ok(in_mode(prefix, suite::results(&boot, COMPLETE, Exit::KernelSuccess)))
        }),
    }
}

/// The test runner with `ipctest`: threads, IPC, notifications, faults and VSpaces
/// through libasi, each case in a fresh process, granted the ASI control capability
/// (to make a child's IPC buffer sensitive and read the event counters).
fn ipc_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "ipc::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("ipc::"),
        run: Box::new(move || {
            let boot = boot_runner("respawn=200 asi-control=ipctest", "ipctest", "", timeout)?;
            // A failing case is the suite's verdict; the kernel still shuts down cleanly.
            Ok(suite::results(&boot, COMPLETE, Exit::KernelSuccess))
        }),
    }
}

/// The test runner with `devtest`, granted the device control capabilities: I/O port
/// and IRQ capabilities through libasi, with the PIT as the device, each case in a fresh
/// process.
fn dev_tests(timeout: Duration) -> Scenario {
    const COMPLETE: &str = "dev::suite_complete";
    Scenario {
        checks: vec![COMPLETE.into()],
        namespace: Some("dev::"),
        run: Box::new(move || {
            let boot = boot_runner("devices=devtest", "devtest", "", timeout)?;
            // The last case stops the PIT and checks every handler is gone, so with
            // nothing left to run and no IRQ routed the kernel shuts down cleanly.
            Ok(suite::results(&boot, COMPLETE, Exit::KernelSuccess))
        }),
    }
}

fn kernel_crash(crash: &'static str, report: &'static str, timeout: Duration) -> Scenario {
    let name = format!("kernel_fault::{}_is_reported_and_fails_the_boot", crash.replace('-', "_"));
    Scenario {
        checks: vec![name.clone()],
        namespace: None,
        run: Box::new(move || {
            let append = format!("ktest.crash={crash}");
            let boot = boot_with(Kernel::WithTests, 1, "init", "", &append, timeout)?;
            let reported = expect::in_order(
                &boot.lines,
                &[Pattern::Prefix("TEST DONE "), Pattern::Prefix(report)],
            )
            .and_then(|()| match crash {
                "page-fault" => expect::in_order(
                    &boot.lines,
                    &[
                        Pattern::PrefixContaining(report, "address=0x"),
                        Pattern::PrefixContaining("  rip=", "rsp="),
                        Pattern::PrefixContaining("  rax=", "rdx="),
                    ],
                ),
                _ => expect::in_order(
                    &boot.lines,
                    &[Pattern::Prefix("panic requested by ktest.crash")],
                ),
            })
            .and_then(|()| {
                expect::absent(&boot.lines, &Pattern::Line("init: hello from user mode"))
            })
            .and_then(|()| boot.expect_exit(&Exit::KernelFailure));
            Ok(vec![boot.check(&name, reported)])
        }),
    }
}

fn user_fault(kind: &'static str, vector: u8, timeout: Duration) -> Scenario {
    let name = format!("user_fault::{kind}_stops_only_the_thread");
    Scenario {
        checks: vec![name.clone()],
        namespace: None,
        run: Box::new(move || {
            let boot = boot_with(
                Kernel::Normal,
                1,
                "syscall-probe",
                &format!("fault={kind}"),
                "",
                timeout,
            )?;
            let about_to_fault = format!("probe: about to fault ({kind})");
            let vector = format!("vector={vector}");
            let survived = expect::in_order(
                &boot.lines,
                &[
                    Pattern::Line(&about_to_fault),
                    Pattern::PrefixContaining(
                        "kernel: user fault in thread syscall-probe:",
                        &vector,
                    ),
                    Pattern::Line("kernel: no runnable threads, shutting down"),
                ],
            )
            .and_then(|()| {
                expect::absent(&boot.lines, &Pattern::Line("probe: still running after fault"))
            })
            .and_then(|()| boot.expect_exit(&Exit::KernelSuccess));
            Ok(vec![boot.check(&name, survived)])
        }),
    }
}

/// Kernel events the bench program must count exactly, per iteration, in the default mode:
/// one `syscall` per Null call (so the counter reads' own entries were taken off), and a
/// CR3 write each way of a round trip between address spaces.
const EXACT_COUNTS: &[(&str, Counter, u64)] = &[
    ("null_syscall", Counter::SyscallEntries, 1),
    ("ipc_call_reply_0_cross_as", Counter::Cr3Writes, 2),
];

/// The benchmark program, with too few iterations for figures worth reading, on the normal
/// debug images without icount, with the `bench-peer` module it spawns for the
/// cross-address-space benchmarks and the `memsrv-server` module it starts memsrv from:
/// that it still reports every benchmark with every event counter, and every count, and
/// exits, that the counts in [`EXACT_COUNTS`] come out exactly, that the mixed workload's
/// flips are counted alike by memsrv and the kernel, and that the kernel shuts down
/// cleanly with the peers and memsrv still waiting on their endpoints (the timings
/// themselves are not checked).
fn bench_program(timeout: Duration) -> Scenario {
    const NAME: &str = "bench::program_reports_every_benchmark";
    Scenario {
        checks: vec![NAME.into()],
        namespace: None,
        run: Box::new(move || {
            let images = images::build(Profile::Dev).map_err(ToString::to_string)?;
            let qemu = Qemu::new(images.kernel(), images.dir())
                .module("bench", "iterations=10")
                .module(bench::PEER_MODULE, "")
                .module(bench::MEMSRV_MODULE, "");
            let boot = boot::run(&qemu, timeout, false)?;
            let reported = bench::collect(&boot.lines, bench::EXPECTED)
                .and_then(|results| {
                    if let Some(figures) = results.benchmarks.iter().find(|b| b.iterations != 10) {
                        return Err(format!(
                            "expected: iterations=10 on every line\nbut: `{}` has {}",
                            figures.name, figures.iterations
                        ));
                    }
                    exact_counts(&results).and_then(|()| mixed_flips_counted(&results))
                })
                .and_then(|()| {
                    expect::in_order(
                        &boot.lines,
                        &[
                            Pattern::Line("BENCH DONE"),
                            Pattern::Line("kernel: thread bench exited with code 0"),
                            Pattern::Line("kernel: no runnable threads, shutting down"),
                        ],
                    )
                })
                .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("bench-peer:")))
                .and_then(|()| expect::absent(&boot.lines, &Pattern::Prefix("kernel: user fault")))
                .and_then(|()| boot.expect_exit(&Exit::KernelSuccess));
            Ok(vec![boot.check(NAME, reported)])
        }),
    }
}

/// Checks that the mixed workload made its 10,000 allocations and that memsrv's count of
/// its flips is the kernel's. Not that the flips are the forced minimum: that is the
/// benchmark's target, which `just bench` reports.
fn mixed_flips_counted(results: &bench::Results) -> Result<(), String> {
    let tally = results
        .count(bench::MIXED_FLIPS)
        .ok_or_else(|| format!("no `{}` count", bench::MIXED_FLIPS))?;
    let (allocations, flips) = (tally.get("allocations"), tally.get("flips"));
    if allocations != Some(10_000) || flips != tally.get("kernel_flips") {
        return Err(format!(
            "expected: `{}` with allocations=10000 and kernel_flips equal to flips\nbut: {:?}",
            bench::MIXED_FLIPS,
            tally.fields
        ));
    }
    Ok(())
}

/// Checks [`EXACT_COUNTS`].
fn exact_counts(results: &bench::Results) -> Result<(), String> {
    for &(name, counter, per_iteration) in EXACT_COUNTS {
        let figures = results.get(name).ok_or_else(|| format!("no `{name}` figures"))?;
        let counted = figures.counted(counter);
        if counted != per_iteration * figures.iterations {
            return Err(format!(
                "expected: `{name}` with {}={} ({per_iteration} per iteration)\nbut: {counted}",
                counter.name(),
                per_iteration * figures.iterations
            ));
        }
    }
    Ok(())
}
