//! Exceptions and stray interrupts: a user fault stops only the faulting thread; a fault
//! in the kernel's own code is a kernel bug, reported in full before the machine stops.

use crate::arch::{Exception, UserContext};
use crate::cpu::this_cpu;
use crate::object::ipc;
use crate::object::tcb::frame;
use crate::sched;
use syscall_abi::fault::FaultKind;

/// A user thread took an exception: it becomes a fault message to the thread's fault
/// endpoint; a thread without one is reported and stopped. Nothing else is affected.
pub fn user_exception(exception: Exception) -> ! {
    let thread = this_cpu().current_thread().expect("user code runs only as the current thread");
    let (rip, rsp) = (thread.register(frame::RIP), thread.register(frame::RSP));
    let words = [
        u64::from(exception.vector),
        exception.error_code,
        exception.fault_address.unwrap_or(0),
        rip,
        rsp,
        thread.register(frame::RFLAGS),
    ];
    if !ipc::send_fault(thread, FaultKind::Exception, &words) {
        log!(
            "user fault in thread {}: {} (vector={}) error={:#x} rip={:#x} rsp={:#x} address={}; thread stopped",
            thread.name(),
            exception.name(),
            exception.vector,
            exception.error_code,
            rip,
            rsp,
            FaultAddress(exception.fault_address),
        );
        ipc::stop(thread);
    }
    sched::run()
}

/// The kernel's own code took an exception: print everything known and stop.
pub fn kernel_exception(frame: &UserContext, exception: Exception) -> ! {
    crate::panic::die(format_args!(
        "\nKERNEL FAULT: {} (vector={}) error={:#x} address={}\n{}\n",
        exception.name(),
        exception.vector,
        exception.error_code,
        FaultAddress(exception.fault_address),
        Registers(frame),
    ))
}

/// An interrupt arrived that nothing asked for. It is counted in the log and ignored.
pub fn unexpected_interrupt(vector: u64, from_user: bool) {
    let mode = if from_user { "user" } else { "kernel" };
    log!("unexpected interrupt vector {vector} in {mode} mode, ignored");
}

struct FaultAddress(Option<u64>);

impl core::fmt::Display for FaultAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(address) => write!(f, "{address:#x}"),
            None => f.write_str("-"),
        }
    }
}

struct Registers<'a>(&'a UserContext);

impl core::fmt::Display for Registers<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.0;
        writeln!(
            f,
            "  rip={:#018x} cs={:#06x} rflags={:#010x} rsp={:#018x} ss={:#06x}",
            r.rip, r.cs, r.rflags, r.rsp, r.ss
        )?;
        writeln!(
            f,
            "  rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        )?;
        writeln!(
            f,
            "  rsi={:#018x} rdi={:#018x} rbp={:#018x} r8 ={:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        )?;
        writeln!(
            f,
            "  r9 ={:#018x} r10={:#018x} r11={:#018x} r12={:#018x}",
            r.r9, r.r10, r.r11, r.r12
        )?;
        write!(f, "  r13={:#018x} r14={:#018x} r15={:#018x}", r.r13, r.r14, r.r15)
    }
}
