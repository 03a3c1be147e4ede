//! What the cases need beyond libasi's safe API: touching memory mapped behind Rust's
//! back, deliberate faults, and an unknown system call.

use libasi::Error;

/// Reads the word at `address`, which may be unmapped: then the thread faults.
pub fn read(address: u64) -> u64 {
    // SAFETY: `address` is 8-byte aligned and names a page mapped outside Rust's knowledge
    // (a frame a case mapped) or no page at all (a deliberate fault). No Rust object
    // lives there, so a volatile read aliases nothing.
    unsafe { libasi::syscall::read_word(address) }
}

/// Writes `word` at `address`, a page a case mapped writable outside Rust's knowledge.
pub fn write(address: u64, word: u64) {
    // SAFETY: as in `read`: no Rust object lives at the mapped page the cases pass.
    unsafe { libasi::syscall::write_word(address, word) }
}

/// The length of the instruction [`ud2`] faults on.
pub const UD2_LENGTH: u64 = 2;

/// Executes `ud2` (#UD).
pub fn ud2() {
    // SAFETY: `ud2` raises #UD; the kernel turns it into a fault message, and the handler
    // resumes the thread after the instruction. No register or memory changes.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) }
}

/// The length of the `div rcx` [`divide_by_zero`] faults on.
pub const DIV_LENGTH: u64 = 3;

/// Divides by zero (#DE); resumed past the `div`, rax and rdx are left as they were.
pub fn divide_by_zero() {
    // SAFETY: `div rcx` with rcx = 0 raises #DE before changing anything; the handler
    // resumes after it. rax, rdx and rcx are declared clobbered.
    unsafe {
        core::arch::asm!(
            "xor ecx, ecx",
            "div rcx",
            out("rax") _,
            out("rdx") _,
            out("rcx") _,
            options(nomem, nostack),
        );
    }
}

/// Issues system call `number`, which the kernel does not know.
pub fn syscall(number: u64) -> Result<u64, Error> {
    // SAFETY: no system call has this number, so the kernel touches no memory of ours.
    unsafe { libasi::syscall::syscall0(number) }.result()
}

/// What [`ipc_holding_xmm0`] saw: the call's status, the label of the message that came
/// back, and xmm0's low 64 bits after the call.
#[derive(Clone, Copy, Debug)]
pub struct XmmIpc {
    pub status: u64,
    pub label: u64,
    pub xmm0: u64,
}

/// Makes IPC system call `number` on `endpoint` with a register-only message labelled
/// `label`, holding `value` in xmm0 from just before the `syscall` to just after: the
/// kernel switches to other threads meanwhile, and xmm0 must come back as it was.
pub fn ipc_holding_xmm0(
    number: syscall_abi::Syscall,
    endpoint: u64,
    label: u64,
    value: u64,
) -> XmmIpc {
    use syscall_abi::ipc::MessageInfo;
    let info = MessageInfo { label, length: 0, caps: 0, unwrapped: 0 }.to_word();
    let (status, info_back, xmm0): (u64, u64, u64);
    // SAFETY: a register-only IPC reads and writes no memory of this program (no IPC
    // buffer is involved); every register the kernel may change for it — the status,
    // badge, header and message registers, rcx and r11 — is declared, and xmm0 too.
    unsafe {
        core::arch::asm!(
            "movq xmm0, {value}",
            "syscall",
            "movq {xmm0}, xmm0",
            value = in(reg) value,
            xmm0 = lateout(reg) xmm0,
            inlateout("rax") number.number() => status,
            inlateout("rdi") endpoint => _,
            inlateout("rsi") info => info_back,
            lateout("rdx") _,
            lateout("rcx") _,
            lateout("r11") _,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r15") _,
            out("xmm0") _,
            options(nostack),
        );
    }
    let label = MessageInfo::from_word(info_back).map_or(u64::MAX, |info| info.label);
    XmmIpc { status, label, xmm0 }
}
