//! Kernel output on the debug console.

use core::fmt::{self, Write};

struct Console;

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        crate::arch::console_write(text.as_bytes());
        Ok(())
    }
}

/// Formats one line as a unit: a line is built in a buffer and written with one console
/// call, so nothing else's output lands inside it.
pub fn print(args: fmt::Arguments<'_>) {
    let mut line = heapless::String::<512>::new();
    if line.write_fmt(args).is_ok() {
        crate::arch::console_write(line.as_bytes());
    } else {
        let _ = Console.write_fmt(args);
    }
}

/// Prints a line exactly as given: test results, which carry no `kernel:` prefix.
#[cfg(feature = "ktest")]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints a kernel log line, prefixed with `kernel: `.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::console::print(format_args!("kernel: {}\n", format_args!($($arg)*)))
    };
}
