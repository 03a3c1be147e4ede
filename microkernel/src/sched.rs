//! Choosing what runs next: round-robin over runnable threads; when none is left, the
//! kernel's work is done and it powers off.

use crate::arch::{self, UserContext};
use crate::cpu::this_cpu;
use crate::thread::{ThreadId, ThreadTable, threads};
use syscall_abi::exit_code;

/// Leaves the kernel into the next runnable thread after the current one. Consumes the
/// caller's lock on the thread table.
pub fn run_next(mut table: spin::MutexGuard<'static, ThreadTable>) -> ! {
    let cpu = this_cpu();
    let Some(next) = table.next_runnable(cpu.current_thread()) else {
        drop(table);
        cpu.set_current_thread(None);
        shut_down();
    };
    cpu.set_current_thread(Some(next));
    switch_fpu(&mut table, next);
    let thread = table.get_mut(next).expect("next_runnable returns live threads");
    thread.address_space.activate();
    let context = thread.context;
    drop(table);
    arch::enter_user(&context)
}

/// Puts `next`'s FPU registers on this CPU, saving the previous owner's, unless they are
/// there already: returning to the same thread costs no FPU work at all.
fn switch_fpu(table: &mut ThreadTable, next: ThreadId) {
    let cpu = this_cpu();
    if cpu.fpu_owner() == Some(next) {
        return;
    }
    if let Some(previous) = cpu.fpu_owner().and_then(|owner| table.get_mut(owner)) {
        previous.fpu.save();
    }
    if let Some(thread) = table.get_mut(next) {
        thread.fpu.restore();
    }
    cpu.set_fpu_owner(Some(next));
}

/// A thread is gone: if this CPU holds its FPU registers, they belong to no one now.
pub fn forget_fpu_owner(id: ThreadId) {
    let cpu = this_cpu();
    if cpu.fpu_owner() == Some(id) {
        cpu.set_fpu_owner(None);
    }
}

/// How long a user thread runs before the timer lets the next one in.
pub const TIMESLICE_MS: u64 = 5;

/// The timer interrupted user code: the thread goes to the back of the line.
pub fn preempt(frame: &UserContext) -> ! {
    let mut table = threads();
    let id = this_cpu().current_thread().expect("user code runs only as the current thread");
    table.get_mut(id).expect("the current thread is in the table").context = *frame;
    run_next(table)
}

/// Starts running user threads on this CPU.
pub fn start() -> ! {
    run_next(threads())
}

fn shut_down() -> ! {
    log!("no runnable threads, shutting down");
    arch::exit_emulator(exit_code::SUCCESS)
}
