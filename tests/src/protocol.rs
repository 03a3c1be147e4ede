//! The line protocol guest tests speak on the serial port.
//!
//! Kernel tests and user test programs print one line per result and a summary:
//!
//! ```text
//! TEST PASS <name>
//! TEST FAIL <name> <message...>
//! TEST DONE <passed> <failed>
//! ```
//!
//! `<name>` has no spaces. The summary lets the harness notice results that never arrived,
//! for example because the guest died half-way. Every other line is a log line.

/// One protocol line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report<'a> {
    /// A test passed.
    Pass {
        /// The test's name.
        name: &'a str,
    },
    /// A test failed, with the guest's explanation (possibly empty).
    Fail {
        /// The test's name.
        name: &'a str,
        /// The guest's explanation.
        message: &'a str,
    },
    /// The guest's test runner finished and counted its results.
    Done {
        /// How many tests it says passed.
        passed: usize,
        /// How many tests it says failed.
        failed: usize,
    },
    /// The line starts like a protocol line but does not follow the protocol: a guest bug
    /// or a garbled serial line, which must not pass for a log line.
    Malformed,
}

/// Parses a serial line; `None` for log lines. A stray `\r` from the serial port is ignored.
pub fn parse(line: &str) -> Option<Report<'_>> {
    let rest = line.trim_matches('\r').strip_prefix("TEST ")?;
    let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let report = match kind {
        "PASS" => valid_name(rest).map(|name| Report::Pass { name }),
        "FAIL" => {
            let (name, message) = rest.split_once(' ').unwrap_or((rest, ""));
            valid_name(name).map(|name| Report::Fail { name, message })
        }
        "DONE" => match rest.split(' ').collect::<Vec<_>>()[..] {
            [passed, failed] => passed
                .parse()
                .ok()
                .zip(failed.parse().ok())
                .map(|(passed, failed)| Report::Done { passed, failed }),
            _ => None,
        },
        _ => None,
    };
    Some(report.unwrap_or(Report::Malformed))
}

fn valid_name(name: &str) -> Option<&str> {
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_parsed() {
        assert_eq!(
            parse("TEST PASS kernel::paging::window_maps_ram"),
            Some(Report::Pass { name: "kernel::paging::window_maps_ram" })
        );
        assert_eq!(
            parse("TEST FAIL user::x expected 2, got 3"),
            Some(Report::Fail { name: "user::x", message: "expected 2, got 3" })
        );
        assert_eq!(parse("TEST FAIL user::x"), Some(Report::Fail { name: "user::x", message: "" }));
        assert_eq!(parse("TEST DONE 10 1"), Some(Report::Done { passed: 10, failed: 1 }));
    }

    #[test]
    fn carriage_returns_are_ignored() {
        assert_eq!(parse("TEST PASS a::b\r"), Some(Report::Pass { name: "a::b" }));
        assert_eq!(parse("\rTEST DONE 0 0\r"), Some(Report::Done { passed: 0, failed: 0 }));
    }

    #[test]
    fn log_lines_are_not_reports() {
        for line in [
            "kernel: TEST PASS a",
            "init: hello from user mode",
            "",
            "TEST",
            "TESTS PASS a",
            " TEST PASS a",
            "KERNEL PANIC at x",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn broken_reports_are_malformed_not_logs() {
        for line in [
            "TEST ",
            "TEST PASS",
            "TEST PASS ",
            "TEST PASS two words",
            "TEST FAIL",
            "TEST DONE 1",
            "TEST DONE 1 2 3",
            "TEST DONE one 2",
            "TEST DONE -1 0",
            "TEST SKIP a",
        ] {
            assert_eq!(parse(line), Some(Report::Malformed), "{line:?}");
        }
    }
}
