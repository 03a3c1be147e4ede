//! Boots a guest once: runs QEMU, collects the serial log, enforces the timeout and says
//! how the run ended.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use syscall_abi::exit_code;

use crate::harness::TestResult;
use crate::qemu::Qemu;

/// How many serial lines a failure message shows.
pub const TAIL_LINES: usize = 20;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The timeout for one boot: `ASI_TEST_TIMEOUT` seconds, else 60 s.
pub fn timeout_from_env() -> Result<Duration, String> {
    match std::env::var("ASI_TEST_TIMEOUT") {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(value) => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                format!("ASI_TEST_TIMEOUT must be a positive number of seconds, not `{value}`")
            }),
    }
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The kernel wrote [`exit_code::SUCCESS`] to the exit device.
    KernelSuccess,
    /// The kernel wrote [`exit_code::FAILURE`]: a panic, kernel fault or failed kernel test.
    KernelFailure,
    /// QEMU ended any other way: it failed to start the guest, the guest reset (`-no-reboot`
    /// turns that into an exit), or something killed it. Holds a description.
    Qemu(String),
    /// The guest was still running when the timeout ran out, and was killed.
    Hung(Duration),
}

impl Exit {
    fn from_status(status: ExitStatus, stderr: &str) -> Self {
        let stderr = stderr.trim();
        match status.code() {
            Some(code) if code == exit_code::qemu_status(exit_code::SUCCESS) => Self::KernelSuccess,
            Some(code) if code == exit_code::qemu_status(exit_code::FAILURE) => Self::KernelFailure,
            // `-no-reboot` turns a reset into a clean exit.
            Some(0) => Self::Qemu(
                "QEMU ended with status 0: the guest reset, e.g. on a triple fault".to_owned(),
            ),
            _ if stderr.is_empty() => Self::Qemu(format!("QEMU ended with {status}")),
            _ => Self::Qemu(format!("QEMU ended with {status}: {stderr}")),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KernelSuccess => write!(f, "the kernel reported success"),
            Self::KernelFailure => write!(f, "the kernel reported failure"),
            Self::Qemu(description) => f.write_str(description),
            Self::Hung(after) => write!(f, "guest hung after {}s", after.as_secs_f64()),
        }
    }
}

/// A finished boot: how it ended and every line the guest printed.
#[derive(Clone, Debug)]
pub struct Boot {
    /// How QEMU ended.
    pub exit: Exit,
    /// The serial log, one entry per line, without line terminators.
    pub lines: Vec<String>,
}

impl Boot {
    /// The last [`TAIL_LINES`] serial lines, indented, for failure messages.
    pub fn tail(&self) -> String {
        format_lines(&self.lines[self.lines.len().saturating_sub(TAIL_LINES)..])
    }

    /// Turns a scenario check into a test result. A hung guest fails every check, because
    /// whatever it printed before hanging says nothing about how it would have ended.
    pub fn check(&self, name: &str, result: Result<(), String>) -> TestResult {
        match (&self.exit, result) {
            (Exit::Hung(_), _) => TestResult::fail(name, format!("{}\n{}", self.exit, self.tail())),
            (_, Ok(())) => TestResult::pass(name),
            (_, Err(expected)) => TestResult::fail(name, format!("{expected}\n{}", self.tail())),
        }
    }

    /// Checks that the boot ended as `wanted`.
    pub fn expect_exit(&self, wanted: &Exit) -> Result<(), String> {
        if self.exit == *wanted {
            Ok(())
        } else {
            Err(format!("expected: {wanted}\nbut: {}", self.exit))
        }
    }
}

/// Indents serial lines under a heading so they stand apart from the harness's words.
pub fn format_lines(lines: &[String]) -> String {
    let mut text = format!("last {} serial lines:", lines.len());
    for line in lines {
        text.push_str("\n  | ");
        text.push_str(line);
    }
    text
}

/// Bytes typed on the guest's serial port: written to QEMU's standard input (the serial
/// port's input with `-serial stdio`) once the guest has printed a line starting with
/// `after`, then the input ends. Waiting for a line lets the guest get ready first: the
/// kernel resets the UART's receive buffer when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typing {
    pub after: String,
    pub bytes: Vec<u8>,
}

/// Boots `qemu` and waits for it to end or for `timeout`. With `echo`, serial lines go to
/// stdout as they arrive and QEMU's own messages to stderr; without, QEMU's messages are
/// kept for the [`Exit`] description. Errs only when QEMU cannot be started at all.
pub fn run(qemu: &Qemu, timeout: Duration, echo: bool) -> Result<Boot, String> {
    run_typing(qemu, timeout, echo, None)
}

/// As [`run`], typing `typing` on the serial port when the guest is ready for it.
pub fn run_typing(
    qemu: &Qemu,
    timeout: Duration,
    echo: bool,
    typing: Option<&Typing>,
) -> Result<Boot, String> {
    let mut command = qemu.command()?;
    command.stdout(Stdio::piped()).stderr(if echo { Stdio::inherit() } else { Stdio::piped() });
    if typing.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child =
        command.spawn().map_err(|error| format!("could not start {}: {error}", qemu.describe()))?;
    let started = Instant::now();
    // Taken (and so closed, which ends the guest's input) once the bytes are written.
    let mut stdin = child.stdin.take().zip(typing);

    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned();
            if echo {
                let mut out = std::io::stdout().lock();
                // The echo is a convenience; a closed terminal must not stop the log.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stderr_reader = child.stderr.take().map(|mut stderr| {
        thread::spawn(move || {
            let mut text = String::new();
            // Whatever QEMU managed to say before a read error is still worth showing.
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });

    let mut lines = Vec::new();
    let mut hung = false;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                if stdin.as_ref().is_some_and(|(_, typing)| line.starts_with(&typing.after)) {
                    let (mut input, typing) = stdin.take().expect("checked just now");
                    // A guest that has stopped reading fails on what it printed; a write
                    // error here says nothing more.
                    let _ = input.write_all(&typing.bytes);
                }
                lines.push(line);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                hung = true;
                // It may have exited just now; either way it is gone once `wait` returns.
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().map_err(|error| format!("lost track of QEMU: {error}"))?;
    reader.join().expect("the serial reader does not panic");
    lines.extend(receiver.try_iter());
    let stderr =
        stderr_reader.map(|handle| handle.join().expect("the stderr reader does not panic"));

    let exit = if hung {
        Exit::Hung(timeout)
    } else {
        Exit::from_status(status, stderr.as_deref().unwrap_or(""))
    };
    Ok(Boot { exit, lines })
}

/// Boots `qemu` with the serial port on this terminal, typing included (QEMU puts a
/// terminal in raw mode, so each key reaches the guest as typed), and waits for it to end
/// however long it takes: the person at the keyboard decides.
pub fn run_interactive(qemu: &Qemu) -> Result<Exit, String> {
    let mut command = qemu.command()?;
    command.stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let status =
        command.status().map_err(|error| format!("could not run {}: {error}", qemu.describe()))?;
    Ok(Exit::from_status(status, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot(exit: Exit, count: usize) -> Boot {
        Boot { exit, lines: (0..count).map(|n| format!("line {n}")).collect() }
    }

    #[test]
    fn tail_shows_only_the_last_lines() {
        let tail = boot(Exit::KernelSuccess, 30).tail();
        assert!(tail.starts_with("last 20 serial lines:"));
        assert!(tail.contains("| line 10\n") && tail.ends_with("| line 29"));
        assert!(!tail.contains("line 9\n"));
    }

    #[test]
    fn a_hung_guest_fails_even_checks_that_held() {
        let result = boot(Exit::Hung(Duration::from_secs(60)), 3).check("boot::x", Ok(()));
        let failure = result.failure.expect("a hung guest fails the check");
        assert!(failure.starts_with("guest hung after 60s\n"), "{failure}");
        assert!(failure.contains("| line 2"));
    }

    #[test]
    fn failed_checks_say_what_was_expected_then_show_the_log() {
        let result = boot(Exit::KernelSuccess, 1).check("boot::x", Err("expected: a".into()));
        assert_eq!(
            result.failure.as_deref(),
            Some("expected: a\nlast 1 serial lines:\n  | line 0")
        );
        assert_eq!(boot(Exit::KernelSuccess, 0).check("boot::x", Ok(())).failure, None);
    }

    #[cfg(unix)]
    #[test]
    fn exit_statuses_are_decoded() {
        use std::os::unix::process::ExitStatusExt;
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(Exit::from_status(exited(33), ""), Exit::KernelSuccess);
        assert_eq!(Exit::from_status(exited(35), ""), Exit::KernelFailure);
        let Exit::Qemu(description) = Exit::from_status(exited(1), "qemu: could not load kernel\n")
        else {
            panic!("status 1 is QEMU's own failure");
        };
        assert!(description.ends_with("status: 1: qemu: could not load kernel"), "{description}");
        assert!(matches!(Exit::from_status(ExitStatus::from_raw(9), ""), Exit::Qemu(_)));
        let Exit::Qemu(description) = Exit::from_status(exited(0), "") else {
            panic!("status 0 is a reset")
        };
        assert!(description.contains("triple fault"), "{description}");
    }

    #[test]
    fn exit_expectation_names_both_sides() {
        let failed = boot(Exit::KernelFailure, 0).expect_exit(&Exit::KernelSuccess).unwrap_err();
        assert_eq!(
            failed,
            "expected: the kernel reported success\nbut: the kernel reported failure"
        );
    }
}
