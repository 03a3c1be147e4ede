//! Inter-process communication: messages through endpoints, signals through
//! notifications, and the IPC buffer that carries what does not fit in registers.
//!
//! Every IPC call names the calling thread's [`IpcBuffer`]: the root task's is
//! [`IpcBuffer::root`]; a thread the root task starts in its own address space gets the
//! buffer it was configured with (see [`IpcBuffer::new`]), or [`IpcBuffer::NONE`] if it
//! has none. Without a buffer a thread exchanges register-only messages: at most four
//! words and no capabilities (the kernel cuts longer messages to four words for it).
//!
//! Receiving returns `(badge, Message)`: the badge of the capability the sender used (for a
//! signal to a bound notification, the notification's bits) and the message.
//!
//! # Example: a server and its client
//!
//! ```ignore
//! use libasi::cap::{Cap, Endpoint};
//! use libasi::ipc::{self, IpcBuffer};
//! use libasi::message::Message;
//!
//! /// Answers every request with the sum of its words.
//! fn serve(endpoint: Cap<Endpoint>, buffer: IpcBuffer) -> Result<(), libasi::Error> {
//!     let (_badge, mut request) = endpoint.receive(buffer)?;
//!     loop {
//!         let sum = request.words().iter().sum::<u64>();
//!         let answer = Message::new(0).push(sum);
//!         (_, request) = ipc::reply_receive(buffer, endpoint, &answer)?;
//!     }
//! }
//!
//! fn client(endpoint: Cap<Endpoint>) -> Result<u64, libasi::Error> {
//!     let reply = endpoint.call(IpcBuffer::NONE, &Message::new(1).push(2).push(3))?;
//!     Ok(reply.word(0)) // 5
//! }
//! ```
//!
//! (Not a doctest: it needs the kernel. `tests/guest/ipctest` runs servers and clients
//! like these in QEMU.)

use core::sync::atomic::{AtomicU64, Ordering};

use syscall_abi::ipc::{MAX_CAPS, MessageInfo, REGISTER_WORDS, ipc_buffer};
use syscall_abi::{Syscall, USER_SPACE_END};

use crate::Error;
use crate::cap::{CNode, CPtr, Cap, Endpoint, Notification};
use crate::message::Message;
use crate::syscall::{self, IpcReturn};

/// A thread's IPC buffer: where words 4 and up of its messages, the capabilities it sends
/// and the slot for capabilities it receives are kept. A handle, `Copy`; it holds the
/// buffer's address, or none ([`IpcBuffer::NONE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcBuffer {
    address: u64,
}

impl IpcBuffer {
    /// No buffer: register-only messages.
    pub const NONE: Self = Self { address: 0 };

    /// The root task's buffer, where the boot information says it is.
    pub fn root() -> Result<Self, Error> {
        if let Some(address) = syscall::ipc_buffer_address() {
            return Ok(Self { address });
        }
        let info = crate::boot::info()?;
        Self::checked(info.ipc_buffer).ok_or(Error::NoIpcBuffer)
    }

    /// The buffer at `address`: what a thread was configured with
    /// ([`TcbConfig::ipc_buffer`](crate::cap::TcbConfig)). `None` if the address is 0, not
    /// 1 KiB aligned or outside the user half.
    ///
    /// # Safety
    ///
    /// The 1 KiB at `address` must be mapped writable, and be the calling thread's
    /// registered buffer whenever the handle is used for IPC; no Rust reference may point
    /// into it, and only one thread may use it.
    pub unsafe fn new(address: u64) -> Option<Self> {
        Self::checked(address)
    }

    fn checked(address: u64) -> Option<Self> {
        (address != 0
            && address.is_multiple_of(ipc_buffer::SIZE as u64)
            && address < USER_SPACE_END)
            .then_some(Self { address })
    }

    /// The buffer's address; `None` for [`IpcBuffer::NONE`].
    pub const fn address(self) -> Option<u64> {
        if self.address == 0 { None } else { Some(self.address) }
    }

    pub const fn is_none(self) -> bool {
        self.address == 0
    }

    fn read(self, index: usize) -> u64 {
        debug_assert!(self.address != 0 && index < ipc_buffer::WORDS);
        // SAFETY: only a buffer built by `root` (the kernel's word) or `new` (the caller's
        // promise) has a nonzero address: mapped, 1 KiB, referenced by no Rust code;
        // `index` is below `ipc_buffer::WORDS`, inside it.
        unsafe { syscall::read_word(self.address + 8 * index as u64) }
    }

    fn write(self, index: usize, word: u64) {
        debug_assert!(self.address != 0 && index < ipc_buffer::WORDS);
        // SAFETY: as in `read`; the buffer is mapped writable.
        unsafe { syscall::write_word(self.address + 8 * index as u64, word) }
    }

    /// Says where the next capability received goes: slot `index` (resolved with `depth`
    /// bits) of the CNode `cnode` names in the caller's CSpace. The slot must be empty
    /// when the capability arrives.
    pub fn set_receive_slot(self, cnode: Cap<CNode>, index: u64, depth: u8) -> Result<(), Error> {
        if self.is_none() {
            return Err(Error::NoIpcBuffer);
        }
        self.write(ipc_buffer::RECEIVE_CNODE, cnode.cptr().0);
        self.write(ipc_buffer::RECEIVE_INDEX, index);
        self.write(ipc_buffer::RECEIVE_DEPTH, u64::from(depth));
        Ok(())
    }

    /// No capability is to be received: the receive slot names the null CNode pointer.
    pub fn clear_receive_slot(self) -> Result<(), Error> {
        self.set_receive_slot(Cap::new(CPtr::NULL), 0, 0)
    }

    /// The word the kernel never touches, for the thread's own use; 0 without a buffer.
    pub fn user_data(self) -> u64 {
        if self.is_none() { 0 } else { self.read(ipc_buffer::USER_DATA) }
    }

    /// Sets the thread's own word; ignored without a buffer.
    pub fn set_user_data(self, word: u64) {
        if !self.is_none() {
            self.write(ipc_buffer::USER_DATA, word);
        }
    }

    /// Puts `message` where the kernel reads it: words 4 and up and the capabilities into
    /// the buffer; returns the header word and the register words.
    fn load<const N: usize>(
        self,
        message: &Message<N>,
    ) -> Result<(u64, [u64; REGISTER_WORDS]), Error> {
        let (info, registers) = registers_of(self.is_none(), message)?;
        for (index, &word) in message.words().iter().enumerate().skip(REGISTER_WORDS) {
            self.write(ipc_buffer::MESSAGE + index, word);
        }
        for (index, &cptr) in message.caps().iter().enumerate() {
            self.write(ipc_buffer::CAPS_OR_BADGES + index, cptr);
        }
        Ok((info, registers))
    }

    /// The message the kernel left after a successful receive or call.
    fn unload(self, ret: &IpcReturn) -> Result<Message, Error> {
        let mut message = Message::new(0);
        self.unload_into(ret, &mut message)?;
        Ok(message)
    }

    /// [`unload`](Self::unload) into `message`, in place.
    fn unload_into(self, ret: &IpcReturn, message: &mut Message) -> Result<(), Error> {
        decode_into(
            ret,
            message,
            |index| if self.is_none() { None } else { Some(self.read(index)) },
        )
    }
}

/// What a words-level call ([`Cap::call_words`]) got back:
/// the label, how many words the message had (more than the words given to hold them
/// means it was cut short) and how many capabilities arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub label: u64,
    pub length: usize,
    pub caps: u8,
}

impl Received {
    /// The message's words in `words`, the buffer it was received into; `None` if they
    /// did not all fit.
    pub fn words<'a>(&self, words: &'a [u64]) -> Option<&'a [u64]> {
        words.get(..self.length)
    }
}

impl IpcBuffer {
    /// Stages a message of `label`, `words` and at most one capability to be sent: words
    /// 4 and up and the capability go into the buffer; returns the header word and the
    /// register words, for [`Cap::reply_receive_registers`] (or any call that takes them).
    pub fn stage(
        self,
        label: u64,
        words: &[u64],
        cap: Option<CPtr>,
    ) -> Result<(u64, [u64; REGISTER_WORDS]), Error> {
        let caps = usize::from(cap.is_some());
        let info = MessageInfo::new(label, words.len(), caps).map_err(|_| Error::InvalidLength)?;
        if self.is_none() && (words.len() > REGISTER_WORDS || cap.is_some()) {
            return Err(Error::NoIpcBuffer);
        }
        for (index, &word) in words.iter().enumerate().skip(REGISTER_WORDS) {
            self.write(ipc_buffer::MESSAGE + index, word);
        }
        if let Some(cap) = cap {
            self.write(ipc_buffer::CAPS_OR_BADGES, cap.0);
        }
        let registers = core::array::from_fn(|index| words.get(index).copied().unwrap_or(0));
        Ok((info.to_word(), registers))
    }

    /// What the kernel returned, as a [`Received`], its words put into `words`.
    fn unload_words(self, ret: &IpcReturn, words: &mut [u64]) -> Result<Received, Error> {
        let info = MessageInfo::from_word(ret.info).map_err(|_| Error::InvalidLength)?;
        let length = usize::from(info.length);
        for (index, word) in words.iter_mut().enumerate().take(length) {
            *word = match ret.words.get(index) {
                Some(&register) => register,
                None if self.is_none() => 0,
                None => self.read(ipc_buffer::MESSAGE + index),
            };
        }
        Ok(Received { label: info.label, length, caps: info.caps })
    }
}

/// The header word and register words of `message`; refused if it needs a buffer (more
/// than four words, or capabilities) and there is none.
fn registers_of<const N: usize>(
    no_buffer: bool,
    message: &Message<N>,
) -> Result<(u64, [u64; REGISTER_WORDS]), Error> {
    if no_buffer && (message.len() > REGISTER_WORDS || message.cap_count() > 0) {
        return Err(Error::NoIpcBuffer);
    }
    let registers = core::array::from_fn(|index| message.word(index));
    Ok((message.info().to_word(), registers))
}

/// Decodes what the kernel returned: the header in `rsi`, words 0–3 in registers, the
/// rest and the unwrapped badges read by `buffer_word` (`None`: no buffer, then no more
/// than four words are taken).
fn decode_into(
    ret: &IpcReturn,
    message: &mut Message,
    buffer_word: impl Fn(usize) -> Option<u64>,
) -> Result<(), Error> {
    let info = MessageInfo::from_word(ret.info).map_err(|_| Error::InvalidLength)?;
    let mut badges = [0u64; MAX_CAPS];
    for (index, badge) in badges.iter_mut().enumerate().take(usize::from(info.caps)) {
        if info.unwrapped & (1 << index) != 0 {
            *badge = buffer_word(ipc_buffer::CAPS_OR_BADGES + index).unwrap_or(0);
        }
    }
    message.receive_in_place(info, badges, |index| match ret.words.get(index) {
        Some(&register) => Some(register),
        None => buffer_word(ipc_buffer::MESSAGE + index),
    });
    Ok(())
}

fn raw_ipc(number: Syscall, cptr: CPtr, info: u64, words: [u64; REGISTER_WORDS]) -> IpcReturn {
    // SAFETY: libasi never hands out references into an IPC buffer (it reads and writes
    // buffer words with volatile accesses only), so the kernel's writes to the caller's
    // buffer cannot alias a Rust reference.
    unsafe { syscall::ipc(number.number(), cptr.0, info, words) }
}

fn status(ret: &IpcReturn) -> Result<(), Error> {
    ret.raw().result().map(drop)
}

impl Cap<Endpoint> {
    /// Sends `message`, waiting until a receiver takes it. With the grant right, the
    /// message's capabilities go too. Refusals: [`Error::InsufficientRights`] without the
    /// write right; [`Error::IpcCancelled`] if the endpoint is destroyed meanwhile.
    pub fn send<const N: usize>(
        self,
        buffer: IpcBuffer,
        message: &Message<N>,
    ) -> Result<(), Error> {
        let (info, words) = buffer.load(message)?;
        status(&raw_ipc(Syscall::Send, self.cptr(), info, words))
    }

    /// As [`send`](Self::send), but [`Error::WouldBlock`] if no receiver is waiting.
    pub fn try_send<const N: usize>(
        self,
        buffer: IpcBuffer,
        message: &Message<N>,
    ) -> Result<(), Error> {
        let (info, words) = buffer.load(message)?;
        status(&raw_ipc(Syscall::NonBlockingSend, self.cptr(), info, words))
    }

    /// Sends `message` and waits for the reply.
    pub fn call<const N: usize>(
        self,
        buffer: IpcBuffer,
        message: &Message<N>,
    ) -> Result<Message, Error> {
        let (info, words) = buffer.load(message)?;
        let ret = raw_ipc(Syscall::Call, self.cptr(), info, words);
        status(&ret)?;
        buffer.unload(&ret)
    }

    /// [`call`](Self::call) that replaces `message` with the reply, in place: for clients
    /// that call often, so that no message is copied on the way back.
    pub fn call_in_place(self, buffer: IpcBuffer, message: &mut Message) -> Result<(), Error> {
        let (info, words) = buffer.load(message)?;
        let ret = raw_ipc(Syscall::Call, self.cptr(), info, words);
        status(&ret)?;
        buffer.unload_into(&ret, message)
    }

    /// [`reply_receive`](Self::reply_receive) with the next message written into
    /// `received` in place: for a server's loop, so that no
    /// message is copied per request. Returns the sender's badge.
    pub fn reply_receive_into(
        self,
        buffer: IpcBuffer,
        reply: &Message,
        received: &mut Message,
    ) -> Result<u64, Error> {
        let (info, words) = buffer.load(reply)?;
        let ret = raw_ipc(Syscall::ReplyReceive, self.cptr(), info, words);
        status(&ret)?;
        buffer.unload_into(&ret, received)?;
        Ok(ret.badge)
    }

    /// [`call`](Self::call) for a message of `label` and `words` and no capabilities,
    /// with no [`Message`] between: the reply's words go straight into `reply` (as many as
    /// fit; [`Received::length`] says how many there were). For clients of interfaces
    /// encoded into words (`ipc-codec`), whose short messages then never touch memory.
    pub fn call_words(
        self,
        buffer: IpcBuffer,
        label: u64,
        words: &[u64],
        reply: &mut [u64],
    ) -> Result<Received, Error> {
        let (info, registers) = buffer.stage(label, words, None)?;
        let ret = raw_ipc(Syscall::Call, self.cptr(), info, registers);
        status(&ret)?;
        buffer.unload_words(&ret, reply)
    }

    /// [`call`](Self::call) with a register-only message (header word `info`, at most four
    /// words, no capabilities): the registers as the kernel leaves them, for clients whose
    /// messages both ways fit the registers (memsrv's frame calls), where nothing should
    /// touch memory.
    pub fn call_registers(self, info: u64, words: [u64; REGISTER_WORDS]) -> IpcReturn {
        raw_ipc(Syscall::Call, self.cptr(), info, words)
    }

    /// Waits for a message: returns the sender's badge and the message. Refusals:
    /// [`Error::InsufficientRights`] without the read right, [`Error::IpcCancelled`] if
    /// the endpoint is destroyed while waiting.
    pub fn receive(self, buffer: IpcBuffer) -> Result<(u64, Message), Error> {
        receive_on(Syscall::Receive, self.cptr(), buffer)
    }

    /// As [`receive`](Self::receive), but [`Error::WouldBlock`] if no sender is waiting.
    pub fn try_receive(self, buffer: IpcBuffer) -> Result<(u64, Message), Error> {
        receive_on(Syscall::NonBlockingReceive, self.cptr(), buffer)
    }

    /// [`reply`], then [`receive`](Self::receive) on this endpoint.
    pub fn reply_receive(
        self,
        buffer: IpcBuffer,
        reply: &Message,
    ) -> Result<(u64, Message), Error> {
        reply_receive(buffer, self, reply)
    }

    /// [`receive`](Self::receive) without building a [`Message`]: the registers as the
    /// kernel leaves them (status, badge, header word, words 0–3); words 4 and up are in
    /// the calling thread's IPC buffer. For servers whose every instruction is counted
    /// (the benchmarks' peer), where copying a [`Message`] would be in the figures.
    pub fn receive_registers(self) -> IpcReturn {
        raw_ipc(Syscall::Receive, self.cptr(), 0, [0; REGISTER_WORDS])
    }

    /// [`reply_receive`](Self::reply_receive) with the reply as its header word `info` and
    /// register words `words`, words 4 and up already in the calling thread's IPC buffer
    /// (e.g. where the message just received left them: passing back the `info` and
    /// `words` of a [`receive_registers`](Self::receive_registers) echoes it whole).
    /// Returns what [`receive_registers`](Self::receive_registers) does.
    pub fn reply_receive_registers(self, info: u64, words: [u64; REGISTER_WORDS]) -> IpcReturn {
        raw_ipc(Syscall::ReplyReceive, self.cptr(), info, words)
    }
}

fn receive_on(number: Syscall, cptr: CPtr, buffer: IpcBuffer) -> Result<(u64, Message), Error> {
    let ret = raw_ipc(number, cptr, 0, [0; REGISTER_WORDS]);
    status(&ret)?;
    Ok((ret.badge, buffer.unload(&ret)?))
}

/// Answers the thread whose call this thread received last; nothing happens if there is
/// none (or it stopped waiting). A fault is answered the same way: label 0 resumes the
/// faulted thread, any other label leaves it stopped.
pub fn reply(buffer: IpcBuffer, message: &Message) -> Result<(), Error> {
    let (info, words) = buffer.load(message)?;
    status(&raw_ipc(Syscall::Reply, CPtr::NULL, info, words))
}

/// [`reply`] with `message`, then wait on `endpoint` for the next message.
pub fn reply_receive(
    buffer: IpcBuffer,
    endpoint: Cap<Endpoint>,
    message: &Message,
) -> Result<(u64, Message), Error> {
    let (info, words) = buffer.load(message)?;
    let ret = raw_ipc(Syscall::ReplyReceive, endpoint.cptr(), info, words);
    status(&ret)?;
    Ok((ret.badge, buffer.unload(&ret)?))
}

/// Enters the kernel and comes straight back: the cheapest system call there is.
pub fn null_syscall() {
    let _ = raw_ipc(Syscall::Null, CPtr::NULL, 0, [0; REGISTER_WORDS]);
}

/// Gives the CPU to the next runnable thread of the same priority, if there is one.
pub fn yield_now() {
    let _ = raw_ipc(Syscall::Yield, CPtr::NULL, 0, [0; REGISTER_WORDS]);
}

impl Cap<Notification> {
    /// ORs this capability's badge into the notification (or wakes a waiter with it).
    pub fn signal(self) -> Result<(), Error> {
        status(&raw_ipc(Syscall::Send, self.cptr(), 0, [0; REGISTER_WORDS]))
    }

    /// Waits for a signal; returns the signalled bits (the OR of the badges since the last
    /// wait). [`Error::IpcCancelled`] if the notification is destroyed meanwhile.
    pub fn wait(self) -> Result<u64, Error> {
        let ret = raw_ipc(Syscall::Receive, self.cptr(), 0, [0; REGISTER_WORDS]);
        status(&ret).map(|()| ret.badge)
    }

    /// Takes the signalled bits without waiting: [`Error::WouldBlock`] if none are pending.
    pub fn poll(self) -> Result<u64, Error> {
        let ret = raw_ipc(Syscall::NonBlockingReceive, self.cptr(), 0, [0; REGISTER_WORDS]);
        status(&ret).map(|()| ret.badge)
    }
}

/// Invokes the capability at `cptr` with `message` through `buffer` and returns the
/// kernel's value (`rdx`) and the reply message (e.g. the registers of a register read).
pub(crate) fn invoke<const N: usize>(
    buffer: IpcBuffer,
    cptr: CPtr,
    message: &Message<N>,
) -> Result<(u64, Message), Error> {
    let (info, words) = buffer.load(message)?;
    let ret = raw_ipc(Syscall::Call, cptr, info, words);
    let value = ret.raw().result()?;
    Ok((value, buffer.unload(&ret)?))
}

/// An [`IpcBuffer`] in a `static`: how a thread started by the root task learns the buffer
/// it was configured with.
///
/// ```ignore
/// static CHILD_BUFFER: IpcBufferCell = IpcBufferCell::new();
/// // The root task, after mapping the frame and configuring the child's TCB:
/// CHILD_BUFFER.set(buffer);
/// // The child:
/// let buffer = CHILD_BUFFER.get();
/// ```
#[derive(Debug)]
pub struct IpcBufferCell(AtomicU64);

impl IpcBufferCell {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub fn set(&self, buffer: IpcBuffer) {
        self.0.store(buffer.address, Ordering::Release);
    }

    /// The buffer last set; [`IpcBuffer::NONE`] if none was.
    pub fn get(&self) -> IpcBuffer {
        IpcBuffer { address: self.0.load(Ordering::Acquire) }
    }
}

impl Default for IpcBufferCell {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(
        ret: &IpcReturn,
        buffer_word: impl Fn(usize) -> Option<u64>,
    ) -> Result<Message, Error> {
        let mut message = Message::new(0);
        decode_into(ret, &mut message, buffer_word).map(|()| message)
    }

    #[test]
    fn buffers_must_be_aligned_user_addresses() {
        assert_eq!(IpcBuffer::checked(0), None);
        assert_eq!(IpcBuffer::checked(0x1000_0200), None);
        assert_eq!(IpcBuffer::checked(USER_SPACE_END), None);
        assert_eq!(IpcBuffer::checked(0x1000_0400).and_then(IpcBuffer::address), Some(0x1000_0400));
        assert!(IpcBuffer::NONE.is_none());
        assert_eq!(IpcBuffer::NONE.user_data(), 0);
        assert_eq!(IpcBuffer::NONE.set_receive_slot(Cap::ROOT, 5, 64), Err(Error::NoIpcBuffer));
    }

    #[test]
    fn short_messages_travel_in_registers() {
        let message = Message::new(9).push(1).push(2).push(3);
        let (info, registers) = registers_of(true, &message).unwrap();
        assert_eq!(MessageInfo::from_word(info), MessageInfo::new(9, 3, 0));
        assert_eq!(registers, [1, 2, 3, 0]);
    }

    #[test]
    fn long_messages_and_caps_need_a_buffer() {
        let long = Message::with_words(1, &[7; 5]).unwrap();
        assert_eq!(registers_of(true, &long), Err(Error::NoIpcBuffer));
        let (info, registers) = registers_of(false, &long).unwrap();
        assert_eq!(MessageInfo::from_word(info).unwrap().length, 5);
        assert_eq!(registers, [7; 4]);
        let with_cap = Message::new(1).push_cap(CPtr(3));
        assert_eq!(registers_of(true, &with_cap), Err(Error::NoIpcBuffer));
        let info = registers_of(false, &with_cap).unwrap().0;
        assert_eq!(MessageInfo::from_word(info).unwrap().caps, 1);
    }

    fn returned(info: MessageInfo, words: [u64; 4]) -> IpcReturn {
        IpcReturn { status: 0, value: 0, badge: 0x55, info: info.to_word(), words }
    }

    #[test]
    fn received_words_come_from_registers_then_the_buffer() {
        let info = MessageInfo::new(3, 6, 0).unwrap();
        let buffer = |index: usize| Some(100 + index as u64);
        let message = decode(&returned(info, [1, 2, 3, 4]), buffer).unwrap();
        let from_buffer =
            [100 + ipc_buffer::MESSAGE as u64 + 4, 100 + ipc_buffer::MESSAGE as u64 + 5];
        assert_eq!(message.words(), &[1, 2, 3, 4, from_buffer[0], from_buffer[1]]);
        assert_eq!(message.label(), 3);
    }

    #[test]
    fn without_a_buffer_at_most_four_words_arrive() {
        let info = MessageInfo::new(0, 9, 0).unwrap();
        let message = decode(&returned(info, [1, 2, 3, 4]), |_| None).unwrap();
        assert_eq!(message.words(), &[1, 2, 3, 4]);
        let short = decode(&returned(MessageInfo::new(0, 2, 0).unwrap(), [5, 6, 7, 8]), |_| None);
        assert_eq!(short.unwrap().words(), &[5, 6]);
    }

    #[test]
    fn unwrapped_badges_are_read_from_the_buffer() {
        let info = MessageInfo { label: 0, length: 0, caps: 2, unwrapped: 0b01 };
        let buffer =
            |index: usize| Some(if index == ipc_buffer::CAPS_OR_BADGES { 0xbad } else { 1 });
        let message = decode(&returned(info, [0; 4]), buffer).unwrap();
        assert_eq!(message.cap_count(), 2);
        assert_eq!(message.unwrapped_badge(0), Some(0xbad));
        assert_eq!(message.unwrapped_badge(1), None);
    }

    #[test]
    fn a_bad_header_is_refused() {
        let ret = IpcReturn { info: 127, ..IpcReturn::default() };
        assert_eq!(decode(&ret, |_| None), Err(Error::InvalidLength));
    }

    #[test]
    fn cells_hold_buffers() {
        let cell = IpcBufferCell::new();
        assert_eq!(cell.get(), IpcBuffer::NONE);
        let buffer = IpcBuffer::checked(0x4000).unwrap();
        cell.set(buffer);
        assert_eq!(cell.get(), buffer);
    }
}
