use core::panic::PanicInfo;

use crate::thread::{self, PANIC_EXIT_CODE};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::println!("panic: {info}");
    thread::exit(PANIC_EXIT_CODE)
}
