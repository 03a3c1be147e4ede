//! Random messages to memsrv, from a seed: requests built from random fields in either
//! encoding, the same with bits flipped or words cut or added, and words that are random
//! altogether, from clients with and without quota, an unbadged capability and an unserved
//! client number. memsrv must answer every one, with a message its clients can decode, and
//! afterwards hold nothing for anyone once what the answers handed out is freed.

use case_report::{Failure, Outcome, Rng, ensure, ok};
use libasi::cap::{Cap, Endpoint};
use memsrv_api::fixed::{self, FIXED_LABEL};
use memsrv_api::{Handle, LABEL, MESSAGE_WORDS, Object, Reply, Request, Sensitivity};

use crate::env::{ASI, Env, PAGEBLOCK, PAGEBLOCKS};
use crate::refuse_cases::raw;

const MESSAGES: u32 = 10_000;
const SEED: u64 = 0x6d65_6d73_7276;

/// The messages' choices, from [`Rng`].
struct Choices(Rng);

impl Choices {
    fn word(&mut self) -> u64 {
        self.0.word()
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0.below(bound)
    }

    fn sensitivity(&mut self) -> Sensitivity {
        if self.below(2) == 0 { Sensitivity::Sensitive } else { Sensitivity::Nonsensitive }
    }

    fn order(&mut self) -> u8 {
        [0, 0, 0, 9, 1, 5, 10, u8::MAX][self.below(8) as usize]
    }

    /// A handle: one memsrv gave in this run, a neighbour of one, or any word.
    fn handle(&mut self, given: &[Handle]) -> Handle {
        match (self.below(4), given.len() as u64) {
            (0 | 1, count) if count > 0 => given[self.below(count) as usize],
            (2, count) if count > 0 => {
                Handle(given[self.below(count) as usize].0 ^ 1 << self.below(64))
            }
            _ => Handle(self.word()),
        }
    }

    fn request(&mut self, given: &[Handle]) -> Request {
        match self.below(10) {
            0 | 1 => Request::AllocFrame { sensitivity: self.sensitivity(), order: self.order() },
            2 => Request::AllocFrames {
                sensitivity: self.sensitivity(),
                order: self.order(),
                count: [0, 1, 3, 512, u16::MAX][self.below(5) as usize],
            },
            3 => Request::AllocObject(self.object()),
            4 | 5 => Request::Free { handle: self.handle(given), keep: self.below(2) == 0 },
            6 => Request::Reuse { sensitivity: self.sensitivity() },
            7 => [Request::ReleaseKept, Request::Usage, Request::Stats][self.below(3) as usize],
            _ => Request::Reclaim { client: [2, 3, 4, 64, u16::MAX][self.below(5) as usize] },
        }
    }

    fn object(&mut self) -> Object {
        match self.below(6) {
            0 => Object::Tcb,
            1 => Object::Endpoint,
            2 => Object::Notification,
            3 => Object::CNode { radix: self.below(20) as u8 },
            4 => Object::VSpace,
            _ => Object::Untyped { size_bits: self.below(30) as u8 },
        }
    }

    /// A message: the label and words of `request` in either encoding, perhaps spoiled,
    /// or random words under any label.
    fn message(&mut self, given: &[Handle], words: &mut [u64; MESSAGE_WORDS + 2]) -> (u64, usize) {
        let (label, mut length) = match self.below(10) {
            0..=5 => self.encoded(given, words),
            _ => {
                let label = [LABEL, FIXED_LABEL, self.below(1 << 16)][self.below(3) as usize];
                (label, 0)
            }
        };
        match self.below(4) {
            // As encoded.
            0 | 1 if length > 0 => {}
            // A bit flipped.
            2 if length > 0 => words[self.below(length as u64) as usize] ^= 1 << self.below(64),
            // Cut short or made longer, with random words.
            _ => {
                let new = self.below(words.len() as u64 + 1) as usize;
                for word in &mut words[length.min(new)..new] {
                    *word = self.word();
                }
                length = new;
            }
        }
        (label, length)
    }

    fn encoded(&mut self, given: &[Handle], words: &mut [u64; MESSAGE_WORDS + 2]) -> (u64, usize) {
        let request = self.request(given);
        if self.below(2) == 0
            && let Some((fixed_words, length)) = fixed::encode_request(&request)
        {
            words[..fixed_words.len()].copy_from_slice(&fixed_words);
            return (FIXED_LABEL, length);
        }
        let length = memsrv_api::encode(&request, &mut words[..MESSAGE_WORDS]).unwrap_or(0);
        (LABEL, length)
    }
}

pub fn random_messages(env: &mut Env) -> Outcome {
    let before = env.stats()?;
    let senders = [env.raw, env.second_raw, env.unbadged, env.unserved];
    let mut rng = Choices(Rng::new(SEED));
    let mut given: heapless::Vec<(usize, Handle), 64> = heapless::Vec::new();
    let mut words = [0; MESSAGE_WORDS + 2];
    let (mut answers, mut refusals, mut handed_out) = (0u32, 0u32, 0u32);
    for _ in 0..MESSAGES {
        let handles: heapless::Vec<Handle, 64> = given.iter().map(|&(_, handle)| handle).collect();
        words.fill(0);
        let (label, length) = rng.message(&handles, &mut words);
        let sender = rng.below(senders.len() as u64) as usize;
        let reply = raw(env, senders[sender], label, &words[..length])?;
        match reply {
            Reply::Frame { handle, .. }
            | Reply::Reused { handle, .. }
            | Reply::Frames { handle, .. }
            | Reply::Object { handle } => {
                if given.push((sender, handle)).is_err() {
                    // Full: give the oldest back (its holder may have lost it meanwhile).
                    let (holder, oldest) = given.remove(0);
                    let _ = free(env, senders[holder], oldest);
                    let _ = given.push((sender, handle));
                }
                answers += 1;
                handed_out += 1;
            }
            Reply::Refused(_) => refusals += 1,
            _ => answers += 1,
        }
    }
    for (holder, handle) in given {
        let _ = free(env, senders[holder], handle);
    }
    for sender in [env.raw, env.second_raw] {
        let mut release = [0; MESSAGE_WORDS];
        let length = memsrv_api::encode(&Request::ReleaseKept, &mut release).unwrap_or(0);
        raw(env, sender, LABEL, &release[..length])?;
    }
    libasi::println!(
        "memtest: {MESSAGES} random messages from seed {SEED:#x}: {answers} answered \
         ({handed_out} handing something out), {refusals} refused"
    );
    ensure!(
        answers >= MESSAGES / 50 && handed_out >= 20,
        "too few messages got past the checks: {answers}, {handed_out} handing something out"
    );
    for client in [env.first, env.second] {
        let usage = env.usage(client)?;
        ensure!(usage.pages == 0 && usage.objects == 0, "a client still holds {usage:?}");
    }
    let after = env.stats()?;
    ensure!(
        after.free_bytes[0] + after.free_bytes[1] == PAGEBLOCKS * PAGEBLOCK
            && after.kept_frames == 0
            && after.clients == before.clients,
        "memsrv's counts did not return: {before:?} -> {after:?}"
    );
    ok(ASI.verify(), "AsiControl::verify after the random messages")
}

/// Frees `handle` as the client behind `endpoint`: what it answers does not matter.
fn free(env: &Env, endpoint: Cap<Endpoint>, handle: Handle) -> Result<Reply, Failure> {
    let mut words = [0; MESSAGE_WORDS];
    let request = Request::Free { handle, keep: false };
    let length = memsrv_api::encode(&request, &mut words).unwrap_or(0);
    raw(env, endpoint, LABEL, &words[..length])
}
