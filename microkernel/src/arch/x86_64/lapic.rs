//! The local APIC: this CPU's interrupt controller and its timer, which drives
//! preemption.

use super::paging::map_device_page;
use super::pit;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Once;
use x86_64::registers::model_specific::Msr;
use x86_64::{PhysAddr, VirtAddr};

/// The vector the timer raises.
pub const TIMER_VECTOR: u8 = 0xf0;
/// The vector of spurious interrupts; they need no end-of-interrupt.
pub const SPURIOUS_VECTOR: u8 = 0xff;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
const REG_ID: usize = 0x20;
const REG_EOI: usize = 0xb0;
const REG_SPURIOUS: usize = 0xf0;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3e0;
const SOFTWARE_ENABLE: u32 = 1 << 8;
const TIMER_PERIODIC: u32 = 1 << 17;
const TIMER_MASKED: u32 = 1 << 16;
/// Divide the bus clock by 16.
const DIVIDE_BY_16: u32 = 0b0011;
const CALIBRATION_MS: u64 = 10;

static REGISTERS: Once<VirtAddr> = Once::new();
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

fn read(register: usize) -> u32 {
    let base = *REGISTERS.get().expect("local APIC used before init");
    // SAFETY: `base` maps this CPU's APIC register page uncached (set in `init`); every
    // register is a naturally aligned 32-bit word at a fixed offset inside it.
    unsafe { (base + register as u64).as_ptr::<u32>().read_volatile() }
}

fn write(register: usize, value: u32) {
    let base = *REGISTERS.get().expect("local APIC used before init");
    // SAFETY: as in `read`; writing a register programs the APIC, which touches no memory.
    unsafe { (base + register as u64).as_mut_ptr::<u32>().write_volatile(value) }
}

/// What the timer measured at boot.
#[derive(Clone, Copy, Debug)]
pub struct TimerInfo {
    /// Timer ticks (after the divider) per millisecond.
    pub ticks_per_ms: u64,
}

/// Why preemption is off.
#[derive(Debug)]
pub enum TimerUnavailable {
    NoPitToCalibrateAgainst,
}

/// Maps and enables the bootstrap CPU's local APIC, with the timer masked.
pub fn init(frames: &mut dyn super::paging::FrameSource) {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effect.
    let base_msr = unsafe { Msr::new(IA32_APIC_BASE).read() };
    let phys = PhysAddr::new(base_msr & 0x000f_ffff_ffff_f000);
    REGISTERS.call_once(|| map_device_page(phys, frames));
    if base_msr & APIC_GLOBAL_ENABLE == 0 {
        // SAFETY: setting the global enable bit at the base address already there only
        // turns the APIC on; interrupts stay off in the kernel.
        unsafe { Msr::new(IA32_APIC_BASE).write(base_msr | APIC_GLOBAL_ENABLE) };
    }
    write(REG_LVT_TIMER, TIMER_MASKED | u32::from(TIMER_VECTOR));
    write(REG_SPURIOUS, SOFTWARE_ENABLE | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's APIC id, as the hardware reports it.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// Whether the timer is running (calibration succeeded).
#[cfg(feature = "ktest")]
pub fn timer_running() -> bool {
    TICKS_PER_MS.load(Ordering::Relaxed) != 0
}

/// Measures the timer against the PIT and starts it periodic, every `period_ms`.
pub fn start_timer(period_ms: u64) -> Result<TimerInfo, TimerUnavailable> {
    write(REG_TIMER_DIVIDE, DIVIDE_BY_16);
    let elapsed = pit::time_interval(
        CALIBRATION_MS,
        || write(REG_TIMER_INITIAL, u32::MAX),
        || u32::MAX - read(REG_TIMER_CURRENT),
    )
    .map_err(|_| TimerUnavailable::NoPitToCalibrateAgainst)?;
    write(REG_TIMER_INITIAL, 0);
    let ticks_per_ms = (u64::from(elapsed) / CALIBRATION_MS).max(1);
    TICKS_PER_MS.store(ticks_per_ms, Ordering::Relaxed);
    write(REG_LVT_TIMER, TIMER_PERIODIC | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INITIAL, (ticks_per_ms * period_ms).min(u64::from(u32::MAX)) as u32);
    Ok(TimerInfo { ticks_per_ms })
}

/// Acknowledges the interrupt being handled.
pub fn end_of_interrupt() {
    write(REG_EOI, 0);
}

/// Counts a timer interrupt and acknowledges it.
pub fn timer_interrupt() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    end_of_interrupt();
}

/// Timer interrupts taken since boot.
#[cfg(feature = "ktest")]
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}
