//! Raw system calls: the only place user space executes the `syscall` instruction.
//!
//! The register contract is [`syscall_abi`]'s: number in `rax`, arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, `r8`, `r9`; status back in `rax`, value in `rdx`; `rcx` and `r11` are
//! clobbered by the instruction. Only the arities some caller needs exist, plus [`call`],
//! which follows the message-register contract of [`syscall_abi::ipc`].

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use syscall_abi::Syscall;
use syscall_abi::ipc::{MAX_WORDS, REGISTER_WORDS, ipc_buffer};

use crate::Error;

/// The address of the calling thread's IPC buffer; 0 while unknown. Set once, by
/// [`boot::info`](crate::boot::info).
static IPC_BUFFER: AtomicU64 = AtomicU64::new(0);

/// Records where the thread's IPC buffer is mapped, as the boot information says. Later
/// calls with a different address are ignored: the buffer does not move.
pub(crate) fn set_ipc_buffer(address: u64) {
    let _ = IPC_BUFFER.compare_exchange(0, address, Ordering::Relaxed, Ordering::Relaxed);
}

/// Where [`call`] writes message words 4 and up; `None` until [`boot::info`](crate::boot::info)
/// has recorded it.
pub fn ipc_buffer_address() -> Option<u64> {
    match IPC_BUFFER.load(Ordering::Relaxed) {
        0 => None,
        address => Some(address),
    }
}

/// What a system call left in `rax` and `rdx`, before interpretation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawReturn {
    /// `rax`: [`syscall_abi::SUCCESS`] or a [`SyscallError`](crate::SyscallError) code.
    pub status: u64,
    /// `rdx`: the call-specific value.
    pub value: u64,
}

impl RawReturn {
    /// The value on success, otherwise the kernel's error.
    pub const fn result(self) -> Result<u64, Error> {
        match Error::from_raw(self.status, self.value) {
            None => Ok(self.value),
            Some(error) => Err(error),
        }
    }
}

/// Issues system call `number` with no arguments.
///
/// # Safety
///
/// Whatever call `number` names must not touch memory in a way the caller has not
/// accounted for; the argument registers hold arbitrary values.
pub unsafe fn syscall0(number: u64) -> RawReturn {
    let (status, value);
    // SAFETY: `syscall` changes only rax, rdx, rcx and r11 (all declared) and, through the
    // kernel, whatever memory the call names, which the caller vouches for. The kernel runs
    // on its own stack, so nothing below our rsp is touched.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Issues system call `number` with argument `a0` (`rdi`).
///
/// # Safety
///
/// As for [`syscall2`]: any memory the call reaches through `a0` must be valid for it.
pub unsafe fn syscall1(number: u64, a0: u64) -> RawReturn {
    let (status, value);
    // SAFETY: as in `syscall0`; memory reached through `a0` is the caller's promise.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            in("rdi") a0,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Issues system call `number` with arguments `a0` (`rdi`) and `a1` (`rsi`).
///
/// # Safety
///
/// If the call reads or writes memory through its arguments, that memory must be valid
/// for the access: any bytes the kernel may write must be exclusively borrowed by the
/// caller, and any it may read must stay unchanged during the call.
pub unsafe fn syscall2(number: u64, a0: u64, a1: u64) -> RawReturn {
    let (status, value);
    // SAFETY: as in `syscall0`; memory reached through `a0`/`a1` is the caller's promise.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            in("rdi") a0,
            in("rsi") a1,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Issues system call `number` with argument `a0` (`rdi`), for a call that never returns.
///
/// Should the kernel return anyway, the `ud2` behind the `syscall` makes the thread fault
/// instead of running on past a point the compiler believes unreachable.
///
/// # Safety
///
/// As for [`syscall2`]: any memory the call reaches through `a0` must be valid for it.
pub unsafe fn syscall1_noreturn(number: u64, a0: u64) -> ! {
    // SAFETY: as in `syscall0`; the call does not return, so no register needs restoring.
    unsafe {
        asm!(
            "syscall",
            "ud2",
            in("rax") number,
            in("rdi") a0,
            options(noreturn, nostack),
        );
    }
}

/// The `Call` system call: invokes the capability at `cptr` with the message whose header
/// (a [`MessageInfo`](syscall_abi::ipc::MessageInfo) word) is `info` and whose words are
/// `words` (at most [`MAX_WORDS`]; more are ignored).
///
/// Words 0–3 travel in `r10`, `r8`, `r9`, `r15` (zero where `words` is shorter); words 4
/// and up are written to the IPC buffer at word offset
/// [`ipc_buffer::MESSAGE`]` + i` before the call, if its address is known
/// ([`ipc_buffer_address`]), and not written otherwise. `info` is passed as given, so its
/// length may disagree with `words` (tests use that to send malformed messages). Returns
/// `rax` and `rdx`; every message register is treated as clobbered.
///
/// # Safety
///
/// If `words` has more than four words and the IPC buffer's address is known, the 1 KiB
/// at that address must be mapped writable in the calling thread and used by nothing else
/// during the call: the stub writes into it. The kernel reads no other user memory for a
/// `Call` on a kernel object.
pub unsafe fn call(cptr: u64, info: u64, words: &[u64]) -> RawReturn {
    let words = &words[..words.len().min(MAX_WORDS)];
    let register = |index: usize| words.get(index).copied().unwrap_or(0);
    if words.len() > REGISTER_WORDS
        && let Some(buffer) = ipc_buffer_address()
    {
        let base = buffer as *mut u64;
        for (index, &word) in words.iter().enumerate().skip(REGISTER_WORDS) {
            // SAFETY: the caller vouches that the buffer is mapped writable and unshared;
            // `MESSAGE + index` is below `ipc_buffer::WORDS`, inside its 1 KiB.
            unsafe { base.add(ipc_buffer::MESSAGE + index).write_volatile(word) };
        }
    }
    let (status, value);
    // SAFETY: as in `syscall0`. Every message register is declared clobbered, since a Call
    // may return a reply in them; the IPC buffer writes above happen before the asm, which
    // may read memory.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") Syscall::Call.number() => status,
            inlateout("rdi") cptr => _,
            inlateout("rsi") info => _,
            inlateout("r10") register(0) => _,
            inlateout("r8") register(1) => _,
            inlateout("r9") register(2) => _,
            inlateout("r15") register(3) => _,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    RawReturn { status, value }
}

/// Every register an IPC system call reads or writes, as [`ipc`] returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcReturn {
    /// `rax`: [`syscall_abi::SUCCESS`] or a [`SyscallError`](crate::SyscallError) code.
    pub status: u64,
    /// `rdx`: the detail of an error, else 0.
    pub value: u64,
    /// `rdi`: the badge of the sender (of a received message or notification).
    pub badge: u64,
    /// `rsi`: the [`MessageInfo`](syscall_abi::ipc::MessageInfo) word of what arrived.
    pub info: u64,
    /// `r10`, `r8`, `r9`, `r15`: message words 0–3.
    pub words: [u64; REGISTER_WORDS],
}

impl IpcReturn {
    /// `rax` and `rdx` alone.
    pub const fn raw(self) -> RawReturn {
        RawReturn { status: self.status, value: self.value }
    }
}

/// An IPC system call (`Send`, `Call`, `Receive`, `Reply`, … or `Yield`) with the full
/// message-register contract of [`syscall_abi::ipc`]: `cptr` in `rdi`, the header word
/// `info` in `rsi`, `words` in `r10`, `r8`, `r9`, `r15`; everything the kernel leaves in
/// those registers comes back in the [`IpcReturn`].
///
/// The stub itself touches no memory. Words 4 and up, capabilities to send and the receive
/// slot live in the calling thread's IPC buffer, which the caller fills and reads with
/// [`write_word`] and [`read_word`].
///
/// # Safety
///
/// The kernel may write the calling thread's registered IPC buffer (received words,
/// unwrapped badges, invocation replies) through its physical frame: no Rust reference may
/// point into that buffer during the call.
pub unsafe fn ipc(number: u64, cptr: u64, info: u64, words: [u64; REGISTER_WORDS]) -> IpcReturn {
    let [mut w0, mut w1, mut w2, mut w3] = words;
    let (status, value, badge, info_out);
    // SAFETY: `syscall` changes rax, rdx, rcx and r11 and, for IPC, rdi, rsi and the four
    // message registers (all declared). The kernel runs on its own stack. Memory the kernel
    // writes is the IPC buffer, which the caller promises no reference covers.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            inlateout("rdi") cptr => badge,
            inlateout("rsi") info => info_out,
            inout("r10") w0,
            inout("r8") w1,
            inout("r9") w2,
            inout("r15") w3,
            lateout("rdx") value,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    IpcReturn { status, value, badge, info: info_out, words: [w0, w1, w2, w3] }
}

/// Reads the 64-bit word at `address` with a volatile load: an IPC buffer word, or memory
/// of a frame mapped outside Rust's knowledge.
///
/// # Safety
///
/// `address` must be 8-byte aligned and mapped readable in the calling thread, and must
/// not be memory Rust code holds a mutable reference to.
pub unsafe fn read_word(address: u64) -> u64 {
    // SAFETY: the caller vouches that the address is aligned, mapped and not mutably
    // borrowed; a volatile read does not let the compiler assume anything about it.
    unsafe { (address as *const u64).read_volatile() }
}

/// Writes the 64-bit word `word` at `address` with a volatile store.
///
/// # Safety
///
/// `address` must be 8-byte aligned and mapped writable in the calling thread, and must
/// not be memory any Rust reference points to (an IPC buffer, a frame mapped outside
/// Rust's knowledge).
pub unsafe fn write_word(address: u64, word: u64) {
    // SAFETY: the caller vouches that the address is aligned, mapped writable and not
    // referenced by Rust code, so the store changes nothing the compiler relies on.
    unsafe { (address as *mut u64).write_volatile(word) }
}

#[cfg(test)]
mod tests {
    use syscall_abi::SyscallError;

    use super::*;

    #[test]
    fn success_yields_the_value() {
        let raw = RawReturn { status: syscall_abi::SUCCESS, value: 42 };
        assert_eq!(raw.result(), Ok(42));
    }

    #[test]
    fn known_codes_become_kernel_errors() {
        let raw = RawReturn { status: SyscallError::InvalidAddress.code(), value: 9 };
        assert_eq!(raw.result(), Err(Error::InvalidAddress));
        let raw = RawReturn { status: SyscallError::LookupFailed.code(), value: 9 };
        assert_eq!(raw.result(), Err(Error::LookupFailed { bits_left: 9 }));
    }

    #[test]
    fn unknown_codes_are_kept() {
        let raw = RawReturn { status: 77, value: 0 };
        assert_eq!(raw.result(), Err(Error::UnknownStatus { status: 77, detail: 0 }));
    }
}
