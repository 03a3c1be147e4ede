//! Program start-up, reached only through [`entry!`](crate::entry).

/// Runs the program's `main` and ends the thread with its exit code.
pub fn start(main: fn() -> u64) -> ! {
    crate::thread::exit(main())
}

/// Makes `main` (a `fn() -> u64` returning the exit code) the program's entry point by
/// defining the `_start` symbol the ELF entry names.
///
/// The kernel enters `_start` with `rsp` 16-byte aligned and every other register zero:
/// the state at a call site just *before* `call` pushes its return address. A Rust
/// function expects to be entered just after that push, so `_start` is a naked
/// trampoline that makes the `call` itself; the zero `rbp` it passes on ends the
/// frame-pointer chain for debuggers and backtraces.
///
/// The expansion contains the unsafe attributes `naked` and `no_mangle`, yet compiles in
/// a crate with `#![forbid(unsafe_code)]`: rustc does not report `unsafe_code` for code
/// that comes from another crate's macro. The proof obligation is this crate's: the
/// trampoline's assembly is correct for the entry state above, and `_start` is defined
/// once, since a second `entry!` fails to link.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        const _: () = {
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            extern "C" fn _start() -> ! {
                ::core::arch::naked_asm!(
                    "call {start}",
                    // `start` never returns; this traps if it somehow did.
                    "ud2",
                    start = sym start,
                )
            }

            extern "C" fn start() -> ! {
                let main: fn() -> u64 = $main;
                $crate::rt::start(main)
            }
        };
    };
}
