//! A test runner for scenarios whose tests are only known once the guest has run, printing
//! what libtest prints so CI and people read it as a normal `cargo test` result.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How many scenarios boot at once: each QEMU keeps about one host core busy, and CI
/// machines have two.
const PARALLEL_BOOTS: usize = 2;

/// The outcome of one reported test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name, e.g. `kernel::paging::window_maps_ram`.
    pub name: String,
    /// `None` if it passed, else everything needed to understand why it did not.
    pub failure: Option<String>,
}

impl TestResult {
    /// A passed test.
    pub fn pass(name: impl Into<String>) -> Self {
        Self { name: name.into(), failure: None }
    }

    /// A failed test.
    pub fn fail(name: impl Into<String>, failure: impl Into<String>) -> Self {
        Self { name: name.into(), failure: Some(failure.into()) }
    }
}

/// A scenario's body: one guest boot and the checks on it, or why it could not boot.
pub type ScenarioFn = Box<dyn Fn() -> Result<Vec<TestResult>, String> + Send + Sync>;

/// One guest boot and the tests it reports.
pub struct Scenario {
    /// Tests the scenario reports whatever the guest does; when it cannot boot at all, they
    /// are the tests that fail with the reason.
    pub checks: Vec<String>,
    /// The prefix of the test names the guest itself reports, if it reports any.
    pub namespace: Option<&'static str>,
    /// Boots the guest and checks the result.
    pub run: ScenarioFn,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("checks", &self.checks)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The name filters given on the command line, as libtest takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    patterns: Vec<String>,
}

impl Filter {
    /// Reads libtest-style arguments: positional arguments are name filters, flags are
    /// accepted and ignored (skipping the value of those that take one), so `cargo test`
    /// can pass everything it passes to libtest tests.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        const TAKE_VALUE: &[&str] = &[
            "--test-threads",
            "--color",
            "--format",
            "--logfile",
            "--skip",
            "--shuffle-seed",
            "-Z",
        ];
        let mut patterns = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if TAKE_VALUE.contains(&arg.as_str()) {
                args.next();
            } else if !arg.starts_with('-') {
                patterns.push(arg);
            }
        }
        Self { patterns }
    }

    /// Whether a test of this name is to be reported.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty()
            || self.patterns.iter().any(|pattern| name.contains(pattern.as_str()))
    }

    /// Whether the scenario may report a test the filter selects. Guest-reported names are
    /// unknown before booting, so a filter reaches them through their namespace: either it
    /// is part of the namespace (`kernel`) or it starts with it (`kernel::paging`).
    fn selects(&self, scenario: &Scenario) -> bool {
        scenario.checks.iter().any(|name| self.matches(name))
            || scenario.namespace.is_some_and(|namespace| {
                self.patterns.iter().any(|pattern| {
                    namespace.contains(pattern.as_str()) || pattern.starts_with(namespace)
                })
            })
    }
}

/// Runs the scenarios the command line selects, two at a time, prints the libtest-style
/// report and returns failure if any test failed.
pub fn main(scenarios: Vec<Scenario>) -> ExitCode {
    let filter = Filter::from_args(std::env::args().skip(1));
    let started = Instant::now();
    let (selected, skipped): (Vec<_>, Vec<_>) =
        scenarios.into_iter().partition(|scenario| filter.selects(scenario));
    let mut filtered_out: usize = skipped.iter().map(|scenario| scenario.checks.len()).sum();
    let mut results = Vec::new();
    for result in run_all(&selected).into_iter().flatten() {
        if filter.matches(&result.name) {
            results.push(result);
        } else {
            filtered_out += 1;
        }
    }
    let (report, ok) = render(&results, filtered_out, started.elapsed());
    print!("{report}");
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs every scenario, [`PARALLEL_BOOTS`] at a time; returns their results in the order
/// given, so the report does not depend on timing.
fn run_all(scenarios: &[Scenario]) -> Vec<Vec<TestResult>> {
    let (sender, receiver) = mpsc::channel();
    let next = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..PARALLEL_BOOTS.min(scenarios.len()) {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(scenario) = scenarios.get(index) else {
                        break;
                    };
                    let results = (scenario.run)().unwrap_or_else(|reason| {
                        scenario
                            .checks
                            .iter()
                            .map(|name| TestResult::fail(name, reason.clone()))
                            .collect()
                    });
                    sender.send((index, results)).expect("the receiver outlives the workers");
                }
            });
        }
    });
    drop(sender);
    let mut ordered: Vec<_> = receiver.into_iter().collect();
    ordered.sort_by_key(|(index, _)| *index);
    ordered.into_iter().map(|(_, results)| results).collect()
}

/// The report libtest would print for these results, and whether they all passed.
pub fn render(results: &[TestResult], filtered_out: usize, elapsed: Duration) -> (String, bool) {
    let mut out = String::new();
    let count = results.len();
    let _ = writeln!(out, "\nrunning {count} test{}", if count == 1 { "" } else { "s" });
    for result in results {
        let verdict = if result.failure.is_some() { "FAILED" } else { "ok" };
        let _ = writeln!(out, "test {} ... {verdict}", result.name);
    }
    let failures: Vec<_> = results
        .iter()
        .filter_map(|result| Some((&result.name, result.failure.as_ref()?)))
        .collect();
    if !failures.is_empty() {
        out.push_str("\nfailures:\n");
        for (name, failure) in &failures {
            let _ = writeln!(out, "\n---- {name} stdout ----\n{failure}");
        }
        out.push_str("\nfailures:\n");
        for (name, _) in &failures {
            let _ = writeln!(out, "    {name}");
        }
    }
    let ok = failures.is_empty();
    let _ = writeln!(
        out,
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if ok { "ok" } else { "FAILED" },
        count - failures.len(),
        failures.len(),
        elapsed.as_secs_f64(),
    );
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Filter {
        Filter::from_args(list.iter().map(|arg| arg.to_string()))
    }

    fn scenario(checks: &[&str], namespace: Option<&'static str>) -> Scenario {
        Scenario {
            checks: checks.iter().map(|name| name.to_string()).collect(),
            namespace,
            run: Box::new(|| Ok(Vec::new())),
        }
    }

    #[test]
    fn libtest_flags_are_not_taken_for_filters() {
        assert_eq!(
            args(&["--nocapture", "--test-threads", "1", "-q", "--quiet", "--color=never"]),
            Filter::default()
        );
        assert_eq!(
            args(&["--test-threads", "4", "boot"]),
            Filter { patterns: vec!["boot".into()] }
        );
    }

    #[test]
    fn filters_select_scenarios_by_check_or_namespace() {
        let boot = scenario(&["boot::reaches_init"], None);
        let kernel = scenario(&["kernel::suite_complete"], Some("kernel::"));
        assert!(Filter::default().selects(&boot) && Filter::default().selects(&kernel));
        assert!(args(&["reaches"]).selects(&boot) && !args(&["reaches"]).selects(&kernel));
        assert!(
            args(&["kernel::paging"]).selects(&kernel) && !args(&["kernel::paging"]).selects(&boot)
        );
        assert!(args(&["kern"]).selects(&kernel));
        assert!(!args(&["paging"]).selects(&kernel));
    }

    #[test]
    fn scenarios_run_in_parallel_but_report_in_order() {
        let mut scenarios = Vec::new();
        for index in 0..5_u64 {
            let mut s = scenario(&[], None);
            s.run = Box::new(move || {
                thread::sleep(Duration::from_millis(10 * (5 - index)));
                Ok(vec![TestResult::pass(index.to_string())])
            });
            scenarios.push(s);
        }
        let failing = scenario(&["x::a", "x::b"], None);
        scenarios.push(Scenario { run: Box::new(|| Err("cargo said no".into())), ..failing });
        let names: Vec<_> = run_all(&scenarios)
            .into_iter()
            .flatten()
            .map(|result| (result.name, result.failure))
            .collect();
        let expected: Vec<_> = (0..5).map(|index| (index.to_string(), None)).collect();
        assert_eq!(names[..5], expected[..]);
        assert_eq!(
            names[5..],
            [
                ("x::a".into(), Some("cargo said no".into())),
                ("x::b".into(), Some("cargo said no".into()))
            ]
        );
    }

    #[test]
    fn report_reads_like_libtest() {
        let results = [
            TestResult::pass("boot::a"),
            TestResult::fail("kernel::b", "guest: no\nlast 1 serial lines:\n  | x"),
        ];
        let (report, ok) = render(&results, 3, Duration::from_millis(3210));
        assert!(!ok);
        assert_eq!(
            report,
            "\nrunning 2 tests\ntest boot::a ... ok\ntest kernel::b ... FAILED\n\nfailures:\n\n---- kernel::b stdout ----\n\
             guest: no\nlast 1 serial lines:\n  | x\n\nfailures:\n    kernel::b\n\n\
             test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; finished in 3.21s\n\n"
        );
        let (report, ok) = render(&results[..1], 0, Duration::ZERO);
        assert!(ok);
        assert!(report.starts_with("\nrunning 1 test\n"));
        assert!(report.ends_with("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n"));
    }
}
