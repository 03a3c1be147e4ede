//! What the kernel does when its own code fails: say so, and stop the machine with the
//! failure code.

use core::fmt::Write;
use core::panic::PanicInfo;
use syscall_abi::exit_code;

struct ForcedConsole;

impl Write for ForcedConsole {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        crate::arch::console_write_forced(text.as_bytes());
        Ok(())
    }
}

/// Prints a fatal report on the console even if the console lock is held, then stops.
pub fn die(args: core::fmt::Arguments<'_>) -> ! {
    let _ = ForcedConsole.write_fmt(args);
    crate::arch::exit_emulator(exit_code::FAILURE)
}

/// Prints on the console even if the console lock is held (panic path), and goes on.
#[cfg(feature = "ktest")]
pub fn print_forced(args: core::fmt::Arguments<'_>) {
    let _ = ForcedConsole.write_fmt(args);
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    #[cfg(feature = "ktest")]
    crate::ktest::report_panic_in_test(info);
    die(format_args!("\nKERNEL PANIC: {info}\n"))
}
