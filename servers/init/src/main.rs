//! The root task: the first program the kernel starts in user mode.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use libasi::println;

libasi::entry!(main);

fn main() -> u64 {
    println!("init: hello from user mode");
    let mut buf = [0; 256];
    match libasi::boot::args(&mut buf) {
        Ok("") => 0,
        Ok(args) => {
            println!("init: boot args: {args}");
            0
        }
        Err(error) => {
            println!("init: {error}");
            1
        }
    }
}
