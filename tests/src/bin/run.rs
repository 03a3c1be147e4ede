//! `just qemu`: builds the guest, boots it with the serial port on this terminal, and
//! exits 0 only if the kernel reported success and, when it boots the system
//! ([`DEFAULT_MODULES`]), init exited with code 0: the kernel shuts down with success
//! whenever no thread can run, which is also how a system whose init gave up ends.
//!
//! ```text
//! run [--release] [--build-only] [--interactive] [--smp <cpus>] [--icount] [--append "<kernel cmdline>"] [--module "<program> <args>"]...
//! ```
//!
//! Without `--module` the kernel gets [`DEFAULT_MODULES`]: `init` and the servers it starts
//! (`memsrv-server`, `console`, `echo`, `client`, `keystore`, `signer`), with no arguments. `--build-only`
//! stops after building (`just build`), so the build is defined in one place.
//!
//! `--interactive` puts the terminal on the serial port, keyboard included, and waits
//! without a timeout; with the default modules init gets [`INTERACTIVE`], so the console
//! reads what is typed and the client answers each line until Ctrl-D on an empty line
//! ends input and the system.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use tests::boot::{self, Exit};
use tests::images::{self, Profile, USER_PROGRAMS};
use tests::qemu::Qemu;

/// What `just qemu` boots: the root task first, then the servers it starts.
const DEFAULT_MODULES: &[&str] =
    &["init", "memsrv-server", "console", "echo", "client", "keystore", "signer"];

/// init's argument for an interactive console, which `--interactive` gives it.
const INTERACTIVE: &str = "console=interactive";

struct Options {
    profile: Profile,
    build_only: bool,
    interactive: bool,
    cpus: u32,
    icount: bool,
    cmdline: String,
    modules: Vec<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        profile: Profile::Dev,
        build_only: false,
        interactive: false,
        cpus: 1,
        icount: false,
        cmdline: String::new(),
        modules: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--release" => options.profile = Profile::Release,
            "--build-only" => options.build_only = true,
            "--interactive" => options.interactive = true,
            "--icount" => options.icount = true,
            "--smp" => {
                options.cpus =
                    value()?.parse().map_err(|_| "--smp needs a number of CPUs".to_owned())?
            }
            "--append" => options.cmdline = value()?,
            "--module" => {
                let module = value()?;
                let program = module.split(' ').next().unwrap_or_default();
                if !USER_PROGRAMS.contains(&program) {
                    return Err(format!(
                        "no user program `{program}`; there are: {}",
                        USER_PROGRAMS.join(", ")
                    ));
                }
                options.modules.push(module);
            }
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    if options.modules.is_empty() {
        options.modules.extend(DEFAULT_MODULES.iter().map(|&module| module.to_owned()));
        if options.interactive {
            options.modules[0] = format!("init {INTERACTIVE}");
        }
    }
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    let timeout = boot::timeout_from_env()?;
    eprintln!("run: building the guest images");
    let images = images::build(options.profile).map_err(ToString::to_string)?;
    if options.build_only {
        eprintln!("run: images are in {}", images.dir().display());
        return Ok(());
    }
    let mut qemu = Qemu::new(images.kernel(), images.dir())
        .cpus(options.cpus)
        .icount(options.icount)
        .append(&options.cmdline);
    for module in &options.modules {
        let (program, args) = module.split_once(' ').unwrap_or((module, ""));
        qemu = qemu.module(program, args);
    }
    if options.interactive {
        eprintln!("run: interactive: type lines for the client; Ctrl-D on an empty line ends");
        return match boot::run_interactive(&qemu)? {
            Exit::KernelSuccess => Ok(()),
            exit => Err(exit.to_string()),
        };
    }
    let boot = boot::run(&qemu, timeout, true)?;
    if boot.exit != Exit::KernelSuccess {
        return Err(boot.exit.to_string());
    }
    let system = options.modules.first().is_some_and(|root| root == DEFAULT_MODULES[0]);
    if system && !boot.lines.iter().any(|line| line == INIT_SUCCEEDED) {
        return Err(format!("the kernel shut down, but without `{INIT_SUCCEEDED}`"));
    }
    Ok(())
}

/// The kernel's line for init's successful end.
const INIT_SUCCEEDED: &str = "kernel: thread init exited with code 0";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)).and_then(|options| run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("run: {reason}");
            ExitCode::FAILURE
        }
    }
}
