//! Program start-up, reached only through [`entry!`](crate::entry).

use crate::cap::{Cap, VSpace};

/// Runs the program's `main` and ends the thread with its exit code, after recording
/// `ipc_buffer` (what `_start` found in `rdi`) as the thread's IPC buffer if it is one,
/// and the program's own VSpace capability for [`mem`](crate::mem).
pub fn start(main: fn() -> u64, ipc_buffer: u64) -> ! {
    if let Some(address) = entry_ipc_buffer(ipc_buffer) {
        crate::syscall::set_ipc_buffer(address);
    }
    crate::mem::record_own_vspace(own_vspace(ipc_buffer));
    crate::thread::exit(main())
}

/// The program's own VSpace capability: where the spawner puts it in a process, which
/// `_start` enters with its IPC buffer in `rdi`, or where the kernel puts it in the root
/// task, entered with 0.
pub fn own_vspace(rdi: u64) -> Cap<VSpace> {
    match entry_ipc_buffer(rdi) {
        Some(_) => Cap::from_slot(crate::process::layout::slot::VSPACE),
        None => Cap::<VSpace>::ROOT_VSPACE,
    }
}

/// The IPC buffer address `_start` was given, if it is one: nonzero, 1 KiB aligned, in the
/// user half. The root task is entered with 0 (it asks the boot information instead).
pub fn entry_ipc_buffer(rdi: u64) -> Option<u64> {
    let size = syscall_abi::ipc::ipc_buffer::SIZE as u64;
    (rdi != 0 && rdi.is_multiple_of(size) && rdi < syscall_abi::USER_SPACE_END).then_some(rdi)
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
/// `rdi` passes through untouched as `start`'s first argument: the address of the
/// thread's IPC buffer, which a process spawned by [`process`](crate::process) gets there
/// ([`process::layout::IPC_BUFFER`](crate::process::layout::IPC_BUFFER)); the root task
/// gets 0 and learns its buffer from the boot information. It is recorded only if it is
/// a plausible buffer address ([`rt::entry_ipc_buffer`](crate::rt::entry_ipc_buffer)).
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

            extern "C" fn start(ipc_buffer: u64) -> ! {
                let main: fn() -> u64 = $main;
                $crate::rt::start(main, ipc_buffer)
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_buffer_addresses_are_recorded() {
        assert_eq!(entry_ipc_buffer(0), None);
        assert_eq!(entry_ipc_buffer(0x7fff_fffd_e000), Some(0x7fff_fffd_e000));
        assert_eq!(entry_ipc_buffer(0x7fff_fffd_e200), None);
        assert_eq!(entry_ipc_buffer(syscall_abi::USER_SPACE_END), None);
    }

    #[test]
    fn processes_and_the_root_task_have_their_vspace_in_different_slots() {
        assert_eq!(own_vspace(0x7fff_fffd_e000), Cap::from_slot(2));
        assert_eq!(own_vspace(0), Cap::ROOT_VSPACE);
        assert_eq!(Cap::<VSpace>::ROOT_VSPACE, Cap::from_slot(5));
    }
}
