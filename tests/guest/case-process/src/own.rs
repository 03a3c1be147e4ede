//! The capabilities a case process starts with, where the spawner's layout
//! (`libasi::process::layout`) and the runner's grants ([`case_protocol::grants`]) put
//! them, and the slots it may fill.

use case_protocol::grants;
use libasi::Error;
use libasi::boot::SlotRange;
use libasi::cap::{
    AsiControl, CNode, Cap, Endpoint, IoPortControl, IrqControl, Tcb, Untyped, VSpace,
};
use libasi::ipc::IpcBuffer;
use libasi::process::layout::{first_free_slot, slot};
use libasi::process::{self, granted};

/// Its CNode, which resolves slot numbers at depth 64 as the root task's does.
pub const CNODE: Cap<CNode> = Cap::from_slot(slot::CNODE);
/// Its thread, whose maximum controlled priority the runner set to 255.
pub const TCB: Cap<Tcb> = Cap::from_slot(slot::TCB);
/// Its address space.
pub const VSPACE: Cap<VSpace> = Cap::from_slot(slot::VSPACE);
/// The runner's endpoint.
pub const RUNNER: Cap<Endpoint> = Cap::new(granted(grants::RUNNER));
/// Memory for the case's objects: 2^[`case_protocol::MEMORY_BITS`] bytes.
pub const MEMORY: Cap<Untyped> = Cap::new(granted(grants::MEMORY));
/// Present only in programs the runner was told need devices.
pub const IO_PORT_CONTROL: Cap<IoPortControl> = Cap::new(granted(grants::IO_PORT_CONTROL));
/// Present only in programs the runner was told need devices.
pub const IRQ_CONTROL: Cap<IrqControl> = Cap::new(granted(grants::IRQ_CONTROL));
/// Present only in programs the runner was told need the ASI control capability.
pub const ASI_CONTROL: Cap<AsiControl> = Cap::new(granted(grants::ASI_CONTROL));

/// The empty slots of its CNode.
pub const fn free_slots() -> SlotRange {
    SlotRange { start: first_free_slot(grants::COUNT), end: slot::COUNT }
}

/// Its IPC buffer.
pub fn buffer() -> Result<IpcBuffer, Error> {
    process::ipc_buffer()
}
