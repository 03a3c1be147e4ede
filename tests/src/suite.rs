//! Turns a guest test suite's protocol lines into test results.

use std::collections::HashSet;

use crate::boot::{Boot, Exit, TAIL_LINES, format_lines};
use crate::harness::TestResult;
use crate::protocol::{self, Report};

/// One result per `TEST PASS`/`TEST FAIL` line, in order, then the check `complete_check`:
/// that the suite's `TEST DONE` agrees with those lines, that every line followed the
/// protocol and named a test once, and that the kernel ended with success if no test
/// failed and with `exit_when_failing` otherwise.
pub fn results(boot: &Boot, complete_check: &str, exit_when_failing: Exit) -> Vec<TestResult> {
    let mut results = Vec::new();
    let mut problems = Vec::new();
    let mut summaries = Vec::new();
    let mut seen = HashSet::new();
    let (mut passed, mut failed) = (0, 0);
    for (index, line) in boot.lines.iter().enumerate() {
        let name = match protocol::parse(line) {
            None => continue,
            Some(Report::Pass { name }) => {
                passed += 1;
                results.push(TestResult::pass(name));
                name
            }
            Some(Report::Fail { name, message }) => {
                failed += 1;
                let context = &boot.lines[(index + 1).saturating_sub(TAIL_LINES)..=index];
                results.push(TestResult::fail(
                    name,
                    format!("guest: {message}\n{}", format_lines(context)),
                ));
                name
            }
            Some(Report::Done { passed, failed }) => {
                summaries.push((passed, failed));
                continue;
            }
            Some(Report::Malformed) => {
                problems
                    .push(format!("serial line {} breaks the test protocol: `{line}`", index + 1));
                continue;
            }
        };
        if !seen.insert(name) {
            problems.push(format!("test `{name}` is reported more than once"));
        }
    }
    match summaries[..] {
        [] => problems.push(format!(
            "expected: a line `TEST DONE {passed} {failed}`\nbut: the suite never finished; it stopped after its last reported test"
        )),
        [summary] if summary == (passed, failed) => {}
        [(p, f)] => problems.push(format!(
            "expected: a line `TEST DONE {passed} {failed}`, matching the results printed\nbut: the guest printed `TEST DONE {p} {f}`"
        )),
        _ => problems.push(format!("expected: one line `TEST DONE ...`\nbut: the guest printed {}", summaries.len())),
    }
    let wanted = if failed == 0 { Exit::KernelSuccess } else { exit_when_failing };
    if let Err(problem) = boot.expect_exit(&wanted) {
        problems.push(problem);
    }
    let verdict = if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) };
    results.push(boot.check(complete_check, verdict));
    results
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn boot(exit: Exit, lines: &[&str]) -> Boot {
        Boot { exit, lines: lines.iter().map(|line| line.to_string()).collect() }
    }

    fn verdicts(results: &[TestResult]) -> Vec<(&str, bool)> {
        results.iter().map(|result| (result.name.as_str(), result.failure.is_none())).collect()
    }

    #[test]
    fn every_result_line_is_a_test_and_a_consistent_suite_is_complete() {
        let run = boot(
            Exit::KernelFailure,
            &[
                "kernel: start",
                "TEST PASS k::a",
                "kernel: detail",
                "TEST FAIL k::b 2 != 3",
                "TEST DONE 1 1",
            ],
        );
        let results = results(&run, "k::suite_complete", Exit::KernelFailure);
        assert_eq!(
            verdicts(&results),
            [("k::a", true), ("k::b", false), ("k::suite_complete", true)]
        );
        let failure = results[1].failure.as_deref().unwrap();
        assert!(failure.starts_with("guest: 2 != 3\nlast 4 serial lines:"), "{failure}");
        assert!(failure.ends_with("| TEST FAIL k::b 2 != 3"), "{failure}");
    }

    #[test]
    fn a_missing_summary_fails_the_suite() {
        let run = boot(Exit::KernelFailure, &["TEST PASS k::a", "KERNEL PANIC at x"]);
        let results = results(&run, "k::suite_complete", Exit::KernelFailure);
        assert_eq!(verdicts(&results), [("k::a", true), ("k::suite_complete", false)]);
        let failure = results[1].failure.as_deref().unwrap();
        assert!(failure.contains("expected: a line `TEST DONE 1 0`"), "{failure}");
        assert!(failure.contains("expected: the kernel reported success"), "{failure}");
        assert!(failure.contains("| KERNEL PANIC at x"), "{failure}");
    }

    #[test]
    fn a_summary_that_disagrees_fails_the_suite() {
        let run = boot(Exit::KernelSuccess, &["TEST PASS k::a", "TEST DONE 2 0"]);
        let failure =
            results(&run, "k::suite_complete", Exit::KernelFailure).pop().unwrap().failure.unwrap();
        assert!(failure.contains("but: the guest printed `TEST DONE 2 0`"), "{failure}");
    }

    #[test]
    fn the_kernel_must_end_as_the_results_demand() {
        let failing = ["TEST FAIL u::a no", "TEST DONE 0 1"];
        assert!(
            results(&boot(Exit::KernelSuccess, &failing), "c", Exit::KernelSuccess)[1]
                .failure
                .is_none()
        );
        assert!(
            results(&boot(Exit::KernelSuccess, &failing), "c", Exit::KernelFailure)[1]
                .failure
                .is_some()
        );
        assert!(
            results(&boot(Exit::KernelFailure, &["TEST DONE 0 0"]), "c", Exit::KernelFailure)[0]
                .failure
                .is_some()
        );
    }

    #[test]
    fn protocol_violations_fail_the_suite() {
        let run = boot(
            Exit::KernelSuccess,
            &["TEST PASS a", "TEST PASS a", "TEST PAS b", "TEST DONE 2 0"],
        );
        let failure = results(&run, "c", Exit::KernelFailure).pop().unwrap().failure.unwrap();
        assert!(failure.contains("test `a` is reported more than once"), "{failure}");
        assert!(
            failure.contains("serial line 3 breaks the test protocol: `TEST PAS b`"),
            "{failure}"
        );
    }

    #[test]
    fn a_hang_keeps_earlier_results_but_fails_the_suite() {
        let run = boot(Exit::Hung(Duration::from_secs(5)), &["TEST PASS a"]);
        let results = results(&run, "c", Exit::KernelFailure);
        assert_eq!(verdicts(&results), [("a", true), ("c", false)]);
        assert!(results[1].failure.as_deref().unwrap().starts_with("guest hung after 5s"));
    }
}
