//! The keystore demo: init starts the keystore (keys in sensitive memory from memsrv) and
//! the signer (its client), reads the kernel's counters when the signer's mix of requests
//! starts and ends, and reports what the mix did and what it cost the kernel.

use libasi::cap::{AsiControl, Cap, Counters, Endpoint};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::println;
use protocol::badge;
use protocol::signer::{self, done};
use syscall_abi::counters::Counter;

use crate::memory::Count;
use crate::{Context, InitError, wait_for};

/// The keystore's client number at memsrv.
pub const MEMSRV_CLIENT_ID: u16 = 2;
/// Pages the keystore may hold at memsrv: as many as its heap can grow to.
pub const MEMSRV_QUOTA_PAGES: u32 = 128;
/// log2 of the untyped memory the keystore gets for its heap's page tables.
pub const TABLE_MEMORY_BITS: u8 = 15;

/// What the signer's mix did, and what it cost the kernel.
pub struct MixReport {
    done: Message,
    spent: Counters,
}

/// Waits for the signer's mix to start and end, reading the kernel's counters at both.
pub fn measure_mix(report: Cap<Endpoint>, buffer: IpcBuffer) -> Result<MixReport, InitError> {
    wait_for(report, buffer, badge::SIGNER, signer::START)?;
    let before = counters(buffer)?;
    let done = wait_for(report, buffer, badge::SIGNER, signer::DONE)?;
    let spent = counters(buffer)?.since(&before);
    if done.words().len() < done::COUNT {
        return Err(InitError::Unexpected(badge::SIGNER, done.label()));
    }
    Ok(MixReport { done, spent })
}

impl MixReport {
    /// How many answers were not the ones the signer computed.
    pub fn failed(&self) -> u64 {
        self.done.word(done::FAILED)
    }

    pub fn print(&self) {
        let word = |index| self.done.word(index);
        let grown = word(done::HEAP_PAGES_AFTER).saturating_sub(word(done::HEAP_PAGES_BEFORE));
        println!(
            "init: keystore: the signer made {} requests, {} answers as it computed them, {} not; it holds {} in a heap of {}",
            word(done::REQUESTS),
            word(done::PASSED),
            word(done::FAILED),
            Count(word(done::KEYS), "key", "keys"),
            Count(word(done::HEAP_PAGES_AFTER), "sensitive page", "sensitive pages"),
        );
        let entries = self.spent.entries();
        println!(
            "init: keystore mix cost the kernel {}, {} and {}; the heap grew by {} meanwhile",
            Count(entries, "entry", "entries"),
            Count(self.spent.get(Counter::AsiExits), "ASI exit", "ASI exits"),
            Count(self.spent.get(Counter::L1dFlushes), "L1D flush", "L1D flushes"),
            Count(grown, "sensitive page", "sensitive pages"),
        );
    }
}

/// The kernel's counters on CPU 0.
fn counters(buffer: IpcBuffer) -> Result<Counters, InitError> {
    Cap::<AsiControl>::BOOT.counters(buffer, 0).context("read the kernel's counters")
}
