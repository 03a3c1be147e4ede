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
use core::sync::atomic::{AtomicU64, Ordering};
use spin::{Mutex, MutexGuard};
use syscall_abi::exit_code;

/// How long a user thread runs before the timer lets the next one in.
pub const TIMESLICE_MS: u64 = 5;
const PRIORITIES: usize = 256;

/// Which of one CPU's priorities have ready threads: bit `p % 64` of word `p / 64`, and
/// the highest of them plus one (0: none). Changed only under the CPU's run-queue lock,
/// read without it: the IPC fastpath asks whether anything outranks the thread it would
/// switch to, and a stale answer there only sends it down the general path (or lets the
/// timer correct it one tick later).
struct ReadyMap {
    bits: [AtomicU64; PRIORITIES / 64],
    highest_plus_one: AtomicU64,
}

impl ReadyMap {
    const fn new() -> Self {
        Self {
            bits: [const { AtomicU64::new(0) }; PRIORITIES / 64],
            highest_plus_one: AtomicU64::new(0),
        }
    }

    fn mark(&self, priority: usize, ready: bool) {
        let bit = 1 << (priority % 64);
        let word = &self.bits[priority / 64];
        if ready {
            word.fetch_or(bit, Ordering::Relaxed);
            self.highest_plus_one.fetch_max(priority as u64 + 1, Ordering::Relaxed);
        } else {
            word.fetch_and(!bit, Ordering::Relaxed);
            let highest = self.scan().map_or(0, |highest| u64::from(highest) + 1);
            self.highest_plus_one.store(highest, Ordering::Relaxed);
        }
    }

    fn scan(&self) -> Option<u8> {
        (0..self.bits.len()).rev().find_map(|index| {
            let word = self.bits[index].load(Ordering::Relaxed);
            (word != 0).then(|| (index * 64 + 63 - word.leading_zeros() as usize) as u8)
        })
    }

    fn highest(&self) -> Option<u8> {
        self.highest_plus_one.load(Ordering::Relaxed).checked_sub(1).map(|highest| highest as u8)
    }

    /// Whether some ready thread has a priority above `priority`.
    #[inline(always)]
    fn any_above(&self, priority: u8) -> bool {
        self.highest_plus_one.load(Ordering::Relaxed) > u64::from(priority) + 1
    }
}

/// One CPU's ready threads: a list per priority, and the map of the non-empty ones.
struct RunQueue<'q> {
    lists: MutexGuard<'q, ReadyLists>,
    ready: &'q ReadyMap,
}

/// The heads and tails of a CPU's ready lists, linked through the TCBs.
struct ReadyLists {
    heads: [u64; PRIORITIES],
    tails: [u64; PRIORITIES],
}

impl ReadyLists {
    const fn new() -> Self {
        Self { heads: [0; PRIORITIES], tails: [0; PRIORITIES] }
    }
}

impl RunQueue<'_> {
    fn highest(&self) -> Option<u8> {
        self.ready.highest()
    }

    fn push_back(&mut self, tcb: Tcb) {
        let priority = usize::from(tcb.priority());
        let tail = self.lists.tails[priority];
        tcb.set_queue_links(0, tail);
        if tail == 0 {
            self.lists.heads[priority] = tcb.address();
        } else {
            let (_, before) = Tcb::at(tail).queue_links();
            Tcb::at(tail).set_queue_links(tcb.address(), before);
        }
        self.lists.tails[priority] = tcb.address();
        self.ready.mark(priority, true);
    }

    fn remove(&mut self, tcb: Tcb) {
        let priority = usize::from(tcb.priority());
        let (next, previous) = tcb.queue_links();
        if previous == 0 {
            self.lists.heads[priority] = next;
        } else {
            let (_, before) = Tcb::at(previous).queue_links();
            Tcb::at(previous).set_queue_links(next, before);
        }
        if next == 0 {
            self.lists.tails[priority] = previous;
        } else {
            let (after, _) = Tcb::at(next).queue_links();
            Tcb::at(next).set_queue_links(after, previous);
        }
        tcb.set_queue_links(0, 0);
        if self.lists.heads[priority] == 0 {
            self.ready.mark(priority, false);
        }
    }

    fn contains(&self, tcb: Tcb) -> bool {
        let (next, previous) = tcb.queue_links();
        next != 0 || previous != 0 || self.lists.heads[usize::from(tcb.priority())] == tcb.address()
    }

    fn pop_highest(&mut self) -> Option<Tcb> {
        let head = Tcb::at(self.lists.heads[usize::from(self.highest()?)]);
        self.remove(head);
        Some(head)
    }
}

/// One CPU's scheduling state, kept in its [`Cpu`](crate::cpu::Cpu).
pub struct RunQueues {
    lists: Mutex<ReadyLists>,
    ready: ReadyMap,
}

impl RunQueues {
    pub const fn new() -> Self {
        Self { lists: Mutex::new(ReadyLists::new()), ready: ReadyMap::new() }
    }
}

fn run_queue() -> RunQueue<'static> {
    let queues = &this_cpu().run_queue;
    RunQueue { lists: queues.lists.lock(), ready: &queues.ready }
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
    if fpu_owner() == Some(tcb) {
        arch::set_fpu_owner(0);
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

/// Leaves the kernel into the highest-priority runnable thread, ending any ASI exit
/// first (back on the restricted table, with its flushes). Returning to the thread that
/// entered does no FPU or address-space work. With nothing to run the CPU waits for an
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
            Some(next) if current == Some(next) => {
                arch::end_asi_exit();
                arch::enter_user(next.object())
            }
            // Resume checks for an address space, but revoking memory can take it away
            // from a thread that is ready to run: such a thread stops instead of running.
            Some(next) => match next.address_space() {
                Some(space) => {
                    cpu.set_current_thread(Some(next));
                    switch_fpu(next);
                    arch::end_asi_exit();
                    space.activate();
                    arch::enter_user(next.object())
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
/// queueing, and the address space to run it in: no ready thread outranks it, it has an
/// address space, and running it needs no change to the FPU trap setting — the fastpath
/// writes no CR0; a switch between a thread that owns the FPU state and one that does not
/// goes the general way. Takes no lock.
#[inline(always)]
pub fn may_run_directly(next: Tcb) -> Option<arch::AddressSpace> {
    let ready = arch::fpu_trap_setting_fits(next.address())
        && !this_cpu().run_queue.ready.any_above(next.priority());
    if ready { next.address_space() } else { None }
}

/// Runs `next` at once in `space` (which [`may_run_directly`] gave): the running thread
/// has just blocked on an IPC that `next` completes (the fastpath). Nothing is queued or
/// dequeued, and the FPU trap setting is already right for it. `next` entered the kernel
/// through a system call, which it now returns from.
#[inline(always)]
pub fn run_directly(next: Tcb, space: &arch::AddressSpace) -> ! {
    // The fastpath touches only kernel objects, which are nonsensitive: no ASI exit can
    // be open to end on this way out.
    debug_assert!(arch::asi_restricted(), "an ASI exit open on the IPC fastpath");
    this_cpu().set_current_thread(Some(next));
    space.activate();
    arch::enter_user(next.object())
}

/// The timer interrupted user code: the thread goes to the back of its queue.
pub fn preempt() -> ! {
    rotate_current();
    run()
}

/// Arms the FPU for `next`: its registers are live if it owns the FPU state, otherwise its
/// first FPU instruction traps and [`claim_fpu`] moves the state.
fn switch_fpu(next: Tcb) {
    arch::fpu_trap_on_use(fpu_owner() != Some(next));
}

/// The current thread used the FPU without owning its state (#NM): save the owner's
/// registers, load the current thread's, and let it go on.
pub fn claim_fpu() -> ! {
    let current = this_cpu().current_thread().expect("an FPU trap comes from the current thread");
    arch::fpu_trap_on_use(false);
    if fpu_owner() != Some(current) {
        if let Some(previous) = fpu_owner() {
            arch::fpu_save(previous.fpu_area());
        }
        arch::fpu_restore(current.fpu_area());
        arch::set_fpu_owner(current.address());
    }
    run()
}

/// The thread whose FPU registers this CPU holds, if any.
fn fpu_owner() -> Option<Tcb> {
    let owner = arch::fpu_owner();
    (owner != 0).then(|| Tcb::at(owner))
}

fn shut_down() -> ! {
    log!("no runnable threads, shutting down");
    arch::exit_emulator(exit_code::SUCCESS)
}
