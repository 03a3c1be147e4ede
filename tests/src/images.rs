//! Builds the guest images with the same cargo that runs the host tests.
//!
//! The guest is built into its own target directory, `target/guest`, because the outer
//! `cargo test` or `cargo run` holds the lock on `target/` for as long as it runs; sharing
//! it would deadlock.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The target every guest image is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The user programs the kernel can be given as boot modules, by package and file name.
pub const USER_PROGRAMS: &[&str] = &[
    "init",
    "syscall-probe",
    "bench",
    "bench-peer",
    "captest",
    "ipctest",
    "devtest",
    "testrunner",
    "console",
    "echo",
    "client",
    "memsrv-server",
    "memtest",
    "memhog",
    "keystore",
    "signer",
];

const KERNEL: &str = "microkernel";

/// Which cargo profile the kernel and user programs are built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: what tests and `just qemu` boot.
    Dev,
    /// `release`: for benchmarks.
    Release,
}

impl Profile {
    fn output_dir(self) -> &'static str {
        match self {
            Self::Dev => "debug",
            Self::Release => "release",
        }
    }
}

/// One profile's built kernel and user programs, all in one directory.
#[derive(Clone, Debug)]
pub struct Images {
    dir: PathBuf,
}

impl Images {
    /// The directory holding the images; QEMU runs in it so module command lines start
    /// with the bare program name rather than a host path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kernel built without the in-kernel tests.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join(KERNEL)
    }
}

/// Cargo refused to build the guest; carries cargo's own explanation.
#[derive(Clone, Debug)]
pub struct BuildError {
    command: String,
    stderr: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "building the guest images failed: {}\n{}", self.command, self.stderr.trim_end())
    }
}

impl std::error::Error for BuildError {}

/// The workspace root, where `.cargo/config.toml` gives the guest its code model.
pub fn workspace_root() -> PathBuf {
    let raw = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    raw.canonicalize().unwrap_or_else(|_| raw.to_path_buf())
}

fn guest_target_dir() -> PathBuf {
    workspace_root().join("target").join("guest")
}

/// Builds the kernel and every user program once per process; later calls reuse the result.
pub fn build(profile: Profile) -> Result<&'static Images, &'static BuildError> {
    static DEV: OnceLock<Result<Images, BuildError>> = OnceLock::new();
    static RELEASE: OnceLock<Result<Images, BuildError>> = OnceLock::new();
    let cell = match profile {
        Profile::Dev => &DEV,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| {
        let mut args = Vec::new();
        if profile == Profile::Release {
            args.push("--release");
        }
        for package in std::iter::once(KERNEL).chain(USER_PROGRAMS.iter().copied()) {
            args.extend(["-p", package]);
        }
        cargo_build(&args)?;
        Ok(Images { dir: guest_target_dir().join(TARGET).join(profile.output_dir()) })
    })
    .as_ref()
}

/// Builds the kernel with its in-kernel test suite (profile and feature `ktest`) once per
/// process, into a directory of its own so it never replaces the kernel `just qemu` boots.
pub fn build_ktest_kernel() -> Result<&'static Path, &'static BuildError> {
    static KTEST: OnceLock<Result<PathBuf, BuildError>> = OnceLock::new();
    KTEST
        .get_or_init(|| {
            cargo_build(&["--profile", "ktest", "--features", "ktest", "-p", KERNEL])?;
            Ok(guest_target_dir().join(TARGET).join("ktest").join(KERNEL))
        })
        .as_ref()
        .map(PathBuf::as_path)
}

fn cargo_build(extra: &[&str]) -> Result<(), BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--target", TARGET, "--target-dir"])
        .arg(guest_target_dir())
        .args(extra)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if confuses_guest_build(&key) {
            command.env_remove(key);
        }
    }
    let description = format!(
        "(cd {} && {} build --quiet --target {TARGET} --target-dir {} {})",
        workspace_root().display(),
        cargo.to_string_lossy(),
        guest_target_dir().display(),
        extra.join(" ")
    );
    let output = command.output().map_err(|error| BuildError {
        command: description.clone(),
        stderr: format!("could not start cargo: {error}"),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BuildError {
            command: description,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Whether an inherited environment variable must not reach the guest build.
///
/// The outer cargo describes the host test crate (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, its
/// jobserver in `CARGO_MAKEFLAGS`, ...), and a user's `CARGO_BUILD_*`, `CARGO_PROFILE_*` or
/// `RUSTFLAGS` are meant for host code: `RUSTFLAGS` would even replace the static relocation
/// model `.cargo/config.toml` gives the guest. So every `CARGO_*` goes except those that
/// only say how to reach registries or draw the terminal, which cannot change what is
/// built. `RUSTC`, `RUSTC_WRAPPER` and `RUSTUP_*` stay: they pick the compiler and a cache,
/// not the code.
fn confuses_guest_build(key: &OsStr) -> bool {
    const KEPT: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const REMOVED: &[&str] = &["RUSTFLAGS", "RUSTDOCFLAGS", "RUSTC_BOOTSTRAP"];
    let Some(key) = key.to_str() else {
        return false;
    };
    if key == "CARGO" || key.starts_with("__CARGO") {
        return true;
    }
    if key.starts_with("CARGO_") {
        return !KEPT.iter().any(|kept| key.starts_with(kept));
    }
    REMOVED.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_build_settings_do_not_reach_the_guest_build() {
        for key in [
            "CARGO",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_MAKEFLAGS",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_run",
            "RUSTC_BOOTSTRAP",
            "__CARGO_FIX_PLZ",
        ] {
            assert!(confuses_guest_build(OsStr::new(key)), "{key} should be removed");
        }
    }

    #[test]
    fn toolchain_and_network_settings_reach_the_guest_build() {
        for key in [
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "CARGO_TERM_COLOR",
            "RUSTUP_TOOLCHAIN",
            "RUSTC_WRAPPER",
            "PATH",
        ] {
            assert!(!confuses_guest_build(OsStr::new(key)), "{key} should be kept");
        }
    }
}
