//! The in-kernel test suite, compiled in by the `ktest` feature.
//!
//! A test build boots as usual and runs every test just before starting the root task.
//! Each test prints one line, `TEST PASS <name>` or `TEST FAIL <name> <message>`, and the
//! suite ends with `TEST DONE <passed> <failed>`; if any failed the kernel stops with the
//! failure code, otherwise the boot goes on. The host harness in `tests/` turns those
//! lines into test results.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel_core::boot_info::BootInfo;
use spin::Mutex;
use syscall_abi::exit_code;

/// A test failed; its message waits in [`FAILURE_MESSAGE`].
#[derive(Debug)]
pub struct TestFailed;
pub type TestResult = Result<(), TestFailed>;

/// The failing test's message, in the guest's own words. Kept out of [`TestResult`] so a
/// test's return value stays one word.
static FAILURE_MESSAGE: Mutex<heapless::String<256>> = Mutex::new(heapless::String::new());

/// Records why the running test fails; used by [`ensure!`].
pub fn record_failure(message: core::fmt::Arguments<'_>) -> TestFailed {
    let mut recorded = FAILURE_MESSAGE.lock();
    recorded.clear();
    if core::fmt::Write::write_fmt(&mut *recorded, message).is_err() {
        recorded.clear();
        let _ = recorded.push_str("(failure message longer than 256 bytes)");
    }
    TestFailed
}

/// A test function and the name it reports under.
#[derive(Debug)]
pub struct KernelTest {
    pub name: &'static str,
    pub run: fn(&BootInfo) -> TestResult,
}

/// Fails the current test with a formatted message unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err($crate::ktest::record_failure(format_args!($($message)*)));
        }
    };
}
pub(crate) use ensure;

/// Every suite, by the module that owns it.
const SUITES: &[&[KernelTest]] = &[
    crate::mem::tests::TESTS,
    crate::arch::KERNEL_TESTS,
    crate::usercopy::tests::TESTS,
    crate::loader::tests::TESTS,
];

const NO_TEST: usize = usize::MAX;
/// The index (in suite order) of the test now running, for the panic handler.
static RUNNING: AtomicUsize = AtomicUsize::new(NO_TEST);

fn all_tests() -> impl Iterator<Item = &'static KernelTest> {
    SUITES.iter().flat_map(|suite| suite.iter())
}

/// Runs every test and reports; stops the machine with the failure code if any failed,
/// and otherwise returns so the boot goes on as usual.
pub fn run_all(boot_info: &BootInfo) {
    let (mut passed, mut failed) = (0, 0);
    for (index, test) in all_tests().enumerate() {
        RUNNING.store(index, Ordering::Relaxed);
        match (test.run)(boot_info) {
            Ok(()) => {
                kprintln!("TEST PASS {}", test.name);
                passed += 1;
            }
            Err(TestFailed) => {
                kprintln!("TEST FAIL {} {}", test.name, FAILURE_MESSAGE.lock());
                failed += 1;
            }
        }
    }
    RUNNING.store(NO_TEST, Ordering::Relaxed);
    kprintln!("TEST DONE {passed} {failed}");
    if failed > 0 {
        crate::arch::exit_emulator(exit_code::FAILURE);
    }
    crash_if_asked(boot_info);
}

/// `ktest.crash=page-fault` or `ktest.crash=panic` on the command line makes the test
/// kernel fail on purpose after its suite, so the harness can check how the kernel reports
/// its own faults. Test builds only.
fn crash_if_asked(boot_info: &BootInfo) {
    match kernel_core::cmdline::kernel_option(boot_info.command_line.as_str(), "ktest.crash") {
        Some("page-fault") => crate::arch::touch_unmapped_kernel_page(),
        Some("panic") => panic!("panic requested by ktest.crash"),
        Some(other) => log!("ktest.crash={other} is not a known crash; ignored"),
        None => {}
    }
}

/// Called by the panic handler: a panic inside a test fails that test by name.
pub fn report_panic_in_test(info: &core::panic::PanicInfo<'_>) {
    let index = RUNNING.load(Ordering::Relaxed);
    if let Some(test) = all_tests().nth(index) {
        crate::panic::print_forced(format_args!(
            "TEST FAIL {} panicked: {}\n",
            test.name,
            info.message()
        ));
    }
}
