//! Choosing what runs: 256 priorities, round-robin within one, a timeslice from the timer.
//!
//! Each CPU has a run queue per priority and a bitmap of the non-empty ones. The running
//! thread is not in a queue: it goes back to the tail of its queue when it is preempted
//! or yields, and a thread made runnable joins the tail of its queue. After every kernel
//! entry the CPU runs the highest-priority thread: the current one, unless a
//! higher-priority thread is ready. When no thread can run, the kernel's work is done and
//! it powers off.

use crate::arch;
use crate::cpu::this_cpu;
use crate::object::tcb::{Tcb, ThreadState};
use spin::Mutex;
use syscall_abi::exit_code;

/// How long a user thread runs before the timer lets the next one in.
pub const TIMESLICE_MS: u64 = 5;
const PRIORITIES: usize = 256;

/// One CPU's ready threads.
struct RunQueue {
    heads: [u64; PRIORITIES],
    tails: [u64; PRIORITIES],
    /// Bit `p` is set when priority `p`'s queue is not empty.
    ready: [u64; PRIORITIES / 64],
}

impl RunQueue {
    const fn new() -> Self {
        Self { heads: [0; PRIORITIES], tails: [0; PRIORITIES], ready: [0; PRIORITIES / 64] }
    }

    fn highest(&self) -> Option<u8> {
        (0..self.ready.len())
            .rev()
            .find(|&index| self.ready[index] != 0)
            .map(|index| (index * 64 + 63 - self.ready[index].leading_zeros() as usize) as u8)
    }

    fn push_back(&mut self, tcb: Tcb) {
        let priority = usize::from(tcb.priority());
        let tail = self.tails[priority];
        tcb.set_queue_links(0, tail);
        if tail == 0 {
            self.heads[priority] = tcb.address();
        } else {
            let (_, before) = Tcb::at(tail).queue_links();
            Tcb::at(tail).set_queue_links(tcb.address(), before);
        }
        self.tails[priority] = tcb.address();
        self.ready[priority / 64] |= 1 << (priority % 64);
    }

    fn remove(&mut self, tcb: Tcb) {
        let priority = usize::from(tcb.priority());
        let (next, previous) = tcb.queue_links();
        if previous == 0 {
            self.heads[priority] = next;
        } else {
            let (_, before) = Tcb::at(previous).queue_links();
            Tcb::at(previous).set_queue_links(next, before);
        }
        if next == 0 {
            self.tails[priority] = previous;
        } else {
            let (after, _) = Tcb::at(next).queue_links();
            Tcb::at(next).set_queue_links(after, previous);
        }
        tcb.set_queue_links(0, 0);
        if self.heads[priority] == 0 {
            self.ready[priority / 64] &= !(1 << (priority % 64));
        }
    }

    fn contains(&self, tcb: Tcb) -> bool {
        let (next, previous) = tcb.queue_links();
        next != 0 || previous != 0 || self.heads[usize::from(tcb.priority())] == tcb.address()
    }

    fn pop_highest(&mut self) -> Option<Tcb> {
        let head = Tcb::at(self.heads[usize::from(self.highest()?)]);
        self.remove(head);
        Some(head)
    }
}

static RUN_QUEUES: [Mutex<RunQueue>; arch::MAX_CPUS] =
    [const { Mutex::new(RunQueue::new()) }; arch::MAX_CPUS];

fn run_queue() -> spin::MutexGuard<'static, RunQueue> {
    RUN_QUEUES[arch::cpu_index()].lock()
}

/// Makes `tcb` runnable and queues it (a thread that is running stays out of the queue).
pub fn make_runnable(tcb: Tcb) {
    tcb.set_state(ThreadState::Runnable);
    let mut queue = run_queue();
    if this_cpu().current_thread() != Some(tcb) && !queue.contains(tcb) {
        queue.push_back(tcb);
    }
}

/// Takes `tcb` out of scheduling in `state` (inactive or waiting): it stays so until made
/// runnable again.
pub fn block(tcb: Tcb, state: ThreadState) {
    tcb.set_state(state);
    let mut queue = run_queue();
    if queue.contains(tcb) {
        queue.remove(tcb);
    }
}

/// Changes a thread's priority, moving it between queues if it is queued.
pub fn set_priority(tcb: Tcb, priority: u8) {
    let mut queue = run_queue();
    let queued = queue.contains(tcb);
    if queued {
        queue.remove(tcb);
    }
    tcb.set_priority(priority);
    if queued {
        queue.push_back(tcb);
    }
}

/// A TCB is being destroyed: no CPU may run it, queue it or hold its FPU state any more.
pub fn forget(tcb: Tcb) {
    block(tcb, ThreadState::Inactive);
    let cpu = this_cpu();
    if cpu.current_thread() == Some(tcb) {
        cpu.set_current_thread(None);
    }
    if cpu.fpu_owner() == Some(tcb) {
        cpu.set_fpu_owner(None);
    }
}

/// The running thread goes to the back of its queue (timer preemption, yield).
pub fn rotate_current() {
    if let Some(current) = this_cpu().current_thread()
        && current.state() == ThreadState::Runnable
    {
        this_cpu().set_current_thread(None);
        run_queue().push_back(current);
    }
}

/// Leaves the kernel into the highest-priority runnable thread. Returning to the thread
/// that entered does no FPU or address-space work. With nothing to run the CPU waits for an
/// interrupt that could wake a thread; if none can come, the kernel's work is done.
pub fn run() -> ! {
    let cpu = this_cpu();
    loop {
        let current = cpu.current_thread().filter(|tcb| tcb.state() == ThreadState::Runnable);
        let next = {
            let mut queue = run_queue();
            match (current, queue.highest()) {
                (Some(current), Some(best)) if best > current.priority() => {
                    queue.push_back(current);
                    queue.pop_highest()
                }
                (Some(current), _) => Some(current),
                (None, _) => queue.pop_highest(),
            }
        };
        match next {
            // The thread that entered goes on in its own address space (a thread that
            // configures itself a new one switches at once: `tcb_invoke`).
            Some(next) if current == Some(next) => arch::enter_user(next.register_area()),
            // Resume checks for an address space, but revoking memory can take it away
            // from a thread that is ready to run: such a thread stops instead of running.
            Some(next) => match next.address_space() {
                Some(space) => {
                    cpu.set_current_thread(Some(next));
                    switch_fpu(next);
                    space.activate();
                    arch::enter_user(next.register_area())
                }
                None => {
                    log!("thread {} lost its address space; stopped", next.name());
                    crate::object::ipc::stop(next);
                }
            },
            None => {
                cpu.set_current_thread(None);
                if !crate::object::irq::any_routed() {
                    shut_down();
                }
                arch::wait_for_interrupt();
            }
        }
    }
}

/// Whether `next`, woken by an IPC of the running thread, may run right away instead of
/// queueing: no ready thread outranks it, it has an address space, and running it needs
/// no change to the FPU trap setting — the fastpath writes no CR0; a switch between a
/// thread that owns the FPU state and one that does not goes the general way.
pub fn may_run_directly(next: Tcb) -> Option<DirectRun> {
    let ready = arch::fpu_traps_on_use() == (this_cpu().fpu_owner() != Some(next))
        && run_queue().highest().is_none_or(|highest| next.priority() >= highest);
    ready.then(|| next.address_space()).flatten().map(|space| DirectRun { thread: next, space })
}

/// A thread [`may_run_directly`] cleared to run at once, with the address space it found.
#[derive(Debug)]
pub struct DirectRun {
    thread: Tcb,
    space: arch::AddressSpace,
}

/// Runs a thread at once: the running thread has just blocked on an IPC that it completes
/// (the fastpath). Nothing is queued or dequeued, and the FPU trap setting is already
/// right for it.
pub fn run_directly(run: DirectRun) -> ! {
    this_cpu().set_current_thread(Some(run.thread));
    run.space.activate();
    arch::enter_user(run.thread.register_area())
}

/// The timer interrupted user code: the thread goes to the back of its queue.
pub fn preempt() -> ! {
    rotate_current();
    run()
}

/// Arms the FPU for `next`: its registers are live if it owns the FPU state, otherwise its
/// first FPU instruction traps and [`claim_fpu`] moves the state.
fn switch_fpu(next: Tcb) {
    arch::fpu_trap_on_use(this_cpu().fpu_owner() != Some(next));
}

/// The current thread used the FPU without owning its state (#NM): save the owner's
/// registers, load the current thread's, and let it go on.
pub fn claim_fpu() -> ! {
    let cpu = this_cpu();
    let current = cpu.current_thread().expect("an FPU trap comes from the current thread");
    arch::fpu_trap_on_use(false);
    if cpu.fpu_owner() != Some(current) {
        if let Some(previous) = cpu.fpu_owner() {
            arch::fpu_save(previous.fpu_area());
        }
        arch::fpu_restore(current.fpu_area());
        cpu.set_fpu_owner(Some(current));
    }
    run()
}

fn shut_down() -> ! {
    log!("no runnable threads, shutting down");
    arch::exit_emulator(exit_code::SUCCESS)
}
