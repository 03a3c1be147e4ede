//! The one definition of how the guest is booted in QEMU.
//!
//! `-M microvm` is used because, measured on QEMU 7.2, it is the fastest machine that
//! still does what the kernel needs: its qboot firmware runs QEMU's Multiboot option ROM
//! for `-kernel`, it publishes ACPI tables (RSDP revision 2 with only an XSDT, holding a
//! MADT), and it accepts `isa-debug-exit`. A boot that exits at once takes about 30 ms
//! under TCG, against about 90 ms for `-M pc` with SeaBIOS.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The QEMU executable, found on `PATH`.
pub const PROGRAM: &str = "qemu-system-x86_64";

/// A guest machine: a kernel, its command line and its boot modules.
///
/// Modules are named by file name and QEMU runs inside [`Qemu::module_dir`], because QEMU
/// hands the kernel each module's `-initrd` entry verbatim as its Multiboot command line:
/// this way the kernel sees `init arg...` rather than a host path.
#[derive(Clone, Debug)]
pub struct Qemu {
    kernel: PathBuf,
    module_dir: PathBuf,
    cmdline: String,
    modules: Vec<String>,
    cpus: u32,
    icount: bool,
    kvm: bool,
}

impl Qemu {
    /// One CPU, no modules, empty command line; KVM only if the environment sets
    /// `ASI_KVM=1`, since KVM is not available (or not working) on every CI machine.
    pub fn new(kernel: impl Into<PathBuf>, module_dir: impl Into<PathBuf>) -> Self {
        Self {
            kernel: kernel.into(),
            module_dir: module_dir.into(),
            cmdline: String::new(),
            modules: Vec::new(),
            cpus: 1,
            icount: false,
            kvm: std::env::var_os("ASI_KVM").is_some_and(|value| value == "1"),
        }
    }

    /// Sets the kernel's command line (QEMU prefixes it with the kernel's path).
    pub fn append(mut self, cmdline: &str) -> Self {
        self.cmdline = cmdline.to_owned();
        self
    }

    /// Adds a boot module: the file `name` in the module directory, whose Multiboot command
    /// line becomes `name args`.
    pub fn module(mut self, name: &str, args: &str) -> Self {
        let entry = if args.is_empty() { name.to_owned() } else { format!("{name} {args}") };
        self.modules.push(entry);
        self
    }

    /// Sets the number of CPUs.
    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    /// Makes guest time a pure function of executed instructions, so benchmarks count
    /// instructions instead of measuring a noisy host.
    pub fn icount(mut self, on: bool) -> Self {
        self.icount = on;
        self
    }

    /// The full argument list, or why these modules cannot be expressed to QEMU.
    pub fn args(&self) -> Result<Vec<OsString>, String> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
        push(&["-M", "microvm,acpi=on"]);
        if self.kvm {
            push(&["-enable-kvm", "-cpu", "host"]);
        } else {
            push(&["-accel", "tcg", "-cpu", "max"]);
        }
        if self.icount {
            push(&["-icount", "shift=0,align=off,sleep=off"]);
        }
        push(&["-m", "256M", "-smp", &self.cpus.to_string(), "-no-reboot"]);
        push(&["-display", "none", "-monitor", "none", "-serial", "stdio"]);
        push(&["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        if !self.cmdline.is_empty() {
            push(&["-append", &self.cmdline]);
        }
        if !self.modules.is_empty() {
            push(&["-initrd", &initrd_arg(&self.modules)?]);
        }
        args.push("-kernel".into());
        args.push(self.kernel.clone().into());
        Ok(args)
    }

    /// A ready-to-spawn command with stdin closed, so the guest never waits on a terminal.
    pub fn command(&self) -> Result<Command, String> {
        let mut command = Command::new(PROGRAM);
        command.args(self.args()?).current_dir(&self.module_dir).stdin(Stdio::null());
        Ok(command)
    }

    /// The command line as a shell would show it, for error messages.
    pub fn describe(&self) -> String {
        let args = self.args().unwrap_or_default();
        let shown: Vec<_> = args.iter().map(|arg| shell_quote(&arg.to_string_lossy())).collect();
        format!(
            "(cd {} && {PROGRAM} {})",
            shell_quote(&self.module_dir.to_string_lossy()),
            shown.join(" ")
        )
    }
}

/// Quotes an argument for a POSIX shell when it needs it, so described commands paste.
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=,:+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Joins module entries with `,`, QEMU's separator, doubling commas inside an entry as
/// QEMU requires. QEMU takes the file name to end at the first space, so it must have none.
fn initrd_arg(modules: &[String]) -> Result<String, String> {
    let mut escaped = Vec::with_capacity(modules.len());
    for entry in modules {
        if entry.starts_with(char::is_whitespace) || entry.is_empty() {
            return Err(format!("module entry `{entry}` does not start with a file name"));
        }
        escaped.push(entry.replace(',', ",,"));
    }
    Ok(escaped.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg_after(args: &[OsString], flag: &str) -> Option<String> {
        let at = args.iter().position(|arg| arg == flag)?;
        args.get(at + 1).map(|arg| arg.to_string_lossy().into_owned())
    }

    #[test]
    fn modules_are_comma_separated_with_inner_commas_doubled() {
        let qemu = Qemu::new("/k", "/m").module("init", "").module("syscall-probe", "a=1,b=2");
        let args = qemu.args().unwrap();
        assert_eq!(arg_after(&args, "-initrd").as_deref(), Some("init,syscall-probe a=1,,b=2"));
    }

    #[test]
    fn empty_command_line_and_no_modules_are_left_out() {
        let args = Qemu::new("/k", "/m").args().unwrap();
        assert_eq!(arg_after(&args, "-append"), None);
        assert_eq!(arg_after(&args, "-initrd"), None);
        assert_eq!(arg_after(&args, "-kernel").as_deref(), Some("/k"));
    }

    #[test]
    fn machine_has_the_exit_device_and_requested_cpus() {
        let args = Qemu::new("/k", "/m").cpus(2).append("a b").args().unwrap();
        assert_eq!(arg_after(&args, "-M").as_deref(), Some("microvm,acpi=on"));
        assert_eq!(arg_after(&args, "-smp").as_deref(), Some("2"));
        assert_eq!(arg_after(&args, "-append").as_deref(), Some("a b"));
        assert_eq!(
            arg_after(&args, "-device").as_deref(),
            Some("isa-debug-exit,iobase=0xf4,iosize=0x04")
        );
    }

    #[test]
    fn icount_is_opt_in() {
        let plain = Qemu::new("/k", "/m").args().unwrap();
        assert_eq!(arg_after(&plain, "-icount"), None);
        let counted = Qemu::new("/k", "/m").icount(true).args().unwrap();
        assert_eq!(arg_after(&counted, "-icount").as_deref(), Some("shift=0,align=off,sleep=off"));
    }

    #[test]
    fn described_commands_can_be_pasted_into_a_shell() {
        let description = Qemu::new("/k", "/m").append("a b").module("init", "x='y'").describe();
        assert!(
            description.starts_with("(cd /m && qemu-system-x86_64 -M microvm,acpi=on "),
            "{description}"
        );
        assert!(
            description.ends_with(r" -append 'a b' -initrd 'init x='\''y'\''' -kernel /k)"),
            "{description}"
        );
    }

    #[test]
    fn module_without_a_file_name_is_refused() {
        assert!(Qemu::new("/k", "/m").module("", "args").args().is_err());
    }
}
