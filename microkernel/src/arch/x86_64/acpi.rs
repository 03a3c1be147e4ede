//! Finding the CPUs: the ACPI RSDP in the BIOS areas, then the MADT's processor entries.

use super::phys;
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use core::ptr::NonNull;
use kernel_core::memory::PhysRange;
use x86_64::PhysAddr;

/// The CPUs the firmware reports as usable.
#[derive(Clone, Copy, Debug)]
pub struct CpuList {
    apic_ids: [u32; super::percpu::MAX_CPUS],
    count: usize,
    /// CPUs beyond the kernel's limit, left out of the list.
    pub ignored: usize,
}

impl CpuList {
    pub fn apic_ids(&self) -> &[u32] {
        &self.apic_ids[..self.count]
    }

    fn push(&mut self, apic_id: u32) {
        match self.apic_ids.get_mut(self.count) {
            Some(slot) => {
                *slot = apic_id;
                self.count += 1;
            }
            None => self.ignored += 1,
        }
    }
}

/// Reads ACPI tables through the physical window, which maps them already.
#[derive(Clone, Copy, Debug)]
struct WindowHandler;

impl AcpiHandler for WindowHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let range = PhysRange::from_start_len(physical_address as u64, size as u64);
        assert!(
            phys::window_covers(range),
            "ACPI table at {range:x?} lies outside the physical window"
        );
        let virt = phys::window_address(PhysAddr::new(physical_address as u64));
        let pointer =
            NonNull::new(virt.as_mut_ptr::<T>()).expect("the window never maps at address 0");
        // SAFETY: the window maps the whole region (asserted) for the kernel's lifetime;
        // the crate's contract is that a `T` lives at `physical_address`.
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Why the CPUs could not be listed.
#[derive(Debug)]
pub struct AcpiUnavailable(acpi::AcpiError);

impl core::fmt::Display for AcpiUnavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ACPI tables unusable: {:?}", self.0)
    }
}

/// The first I/O APIC, and how the ISA interrupt lines reach its inputs.
#[derive(Clone, Copy, Debug)]
pub struct InterruptRouting {
    pub io_apic_address: u64,
    pub gsi_base: u32,
    /// For each ISA line 0–15: its global system interrupt, and whether it is active-low
    /// and level-triggered (ISA lines are active-high edge unless overridden).
    pub isa: [IsaRoute; 16],
}

/// Where one ISA interrupt line arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaRoute {
    pub gsi: u32,
    pub active_low: bool,
    pub level_triggered: bool,
}

fn madt() -> Result<PhysicalMapping<WindowHandler, Madt>, AcpiUnavailable> {
    // SAFETY: the kernel boots through Multiboot on a BIOS-compatible machine, where the
    // RSDP lives in the EBDA or the BIOS read-only area; both are in the physical window.
    let tables =
        unsafe { AcpiTables::search_for_rsdp_bios(WindowHandler) }.map_err(AcpiUnavailable)?;
    tables.find_table::<Madt>().map_err(AcpiUnavailable)
}

/// Where the timer's ISA line 0 arrives when the MADT does not say: PC chipsets wire the
/// 8254 to input 2 (firmware normally lists that as an override; QEMU's `microvm` does
/// not, though its I/O APIC does route line 0 to input 2).
const PIT_INPUT: u32 = 2;

/// Reads the I/O APIC and the ISA overrides from the MADT; `None` if there is no I/O APIC.
pub fn interrupt_routing() -> Result<Option<InterruptRouting>, AcpiUnavailable> {
    let madt = madt()?;
    let mut routing = None;
    let mut overrides = [None; 16];
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::IoApic(io_apic) if routing.is_none() => {
                routing = Some((
                    u64::from(io_apic.io_apic_address),
                    io_apic.global_system_interrupt_base,
                ));
            }
            MadtEntry::InterruptSourceOverride(entry) if entry.bus == 0 && entry.irq < 16 => {
                let (gsi, flags) = (entry.global_system_interrupt, entry.flags);
                // Polarity: bits 0-1 (3 = active low); trigger: bits 2-3 (3 = level).
                overrides[usize::from(entry.irq)] = Some(IsaRoute {
                    gsi,
                    active_low: flags & 3 == 3,
                    level_triggered: (flags >> 2) & 3 == 3,
                });
            }
            _ => {}
        }
    }
    Ok(routing.map(|(io_apic_address, gsi_base)| InterruptRouting {
        io_apic_address,
        gsi_base,
        isa: core::array::from_fn(|line| {
            overrides[line].unwrap_or(IsaRoute {
                gsi: if line == 0 { PIT_INPUT } else { line as u32 },
                active_low: false,
                level_triggered: false,
            })
        }),
    }))
}

/// Lists the enabled (or online-capable) processors of the MADT.
pub fn cpus() -> Result<CpuList, AcpiUnavailable> {
    let madt = madt()?;
    let mut list = CpuList { apic_ids: [0; super::percpu::MAX_CPUS], count: 0, ignored: 0 };
    const ENABLED: u32 = 1;
    const ONLINE_CAPABLE: u32 = 2;
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::LocalApic(cpu) if cpu.flags & (ENABLED | ONLINE_CAPABLE) != 0 => {
                list.push(u32::from(cpu.apic_id));
            }
            MadtEntry::LocalX2Apic(cpu) if cpu.flags & (ENABLED | ONLINE_CAPABLE) != 0 => {
                list.push(cpu.x2apic_id);
            }
            _ => {}
        }
    }
    Ok(list)
}
