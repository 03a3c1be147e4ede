//! The signer: a client of the keystore that drives a realistic mix of requests (keys
//! stored and derived, messages of every length MACed, tags verified and forged, keys
//! deleted, mistakes made on purpose) and checks every answer against what it computes
//! itself with [`keystore_api`]'s functions, for it knows every key it asked for.
//!
//! It tells `init` when the mix starts ([`protocol::signer::START`]) and how it went
//! ([`protocol::signer::DONE`]), so that `init` can report what the mix cost the kernel.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use keystore_api::{
    Error, KEY_BYTES, LABEL, MAX_CONTEXT, MAX_DATA, MAX_KEYS_PER_CLIENT, Name, Reply, Request,
    TAG_BYTES,
};
use libasi::cap::{Cap, Endpoint};
use libasi::ipc::IpcBuffer;
use libasi::message::Message;
use libasi::process;
use protocol::signer::{self, done, grants};

libasi::entry!(main);

/// Keys stored, then as many derived from them.
const STORED: usize = 4;
const KEYS: usize = 2 * STORED;
/// MACs and verifications in the mix.
const MACS: usize = 160;
const VERIFICATIONS: usize = 40;

fn main() -> u64 {
    match run() {
        Ok(()) => 0,
        Err(error) => {
            libasi::println!("signer: {error}");
            1
        }
    }
}

fn run() -> Result<(), libasi::Error> {
    let buffer = process::ipc_buffer()?;
    let keystore =
        Keystore { endpoint: Cap::new(process::granted(grants::KEYSTORE)), buffer, requests: 0 };
    let other =
        Keystore { endpoint: Cap::new(process::granted(grants::KEYSTORE_OTHER)), ..keystore };
    let report = Cap::<Endpoint>::new(process::granted(grants::REPORT));
    let mut mix = Mix {
        keystore,
        other,
        keys: [None; KEYS],
        rng: XorShift(0x5eed_0f51_97e4),
        passed: 0,
        failed: 0,
    };
    let before = mix.keystore.stats()?;
    report.send(buffer, &Message::new(signer::START))?;
    mix.run()?;
    let after = mix.keystore.stats()?;
    let mut words = [0; done::COUNT];
    words[done::REQUESTS] = mix.keystore.requests + mix.other.requests;
    words[done::PASSED] = mix.passed;
    words[done::FAILED] = mix.failed;
    words[done::HEAP_PAGES_BEFORE] = before.heap_pages;
    words[done::HEAP_PAGES_AFTER] = after.heap_pages;
    words[done::KEYS] = after.keys;
    let message =
        Message::with_words(signer::DONE, &words).map_err(|_| libasi::Error::InvalidLength)?;
    report.send(buffer, &message)
}

/// The keystore through one badged capability.
#[derive(Clone, Copy)]
struct Keystore {
    endpoint: Cap<Endpoint>,
    buffer: IpcBuffer,
    requests: u64,
}

impl Keystore {
    fn call(&mut self, request: &Request<'_>) -> Result<Reply, libasi::Error> {
        let mut words = [0; keystore_api::MESSAGE_WORDS];
        let count =
            keystore_api::encode(request, &mut words).map_err(|_| libasi::Error::InvalidLength)?;
        self.raw(LABEL, &words[..count])
    }

    /// Sends any words, well formed or not; the decoded reply.
    fn raw(&mut self, label: u64, words: &[u64]) -> Result<Reply, libasi::Error> {
        let mut message =
            Message::with_words(label, words).map_err(|_| libasi::Error::InvalidLength)?;
        self.requests += 1;
        self.endpoint.call_in_place(self.buffer, &mut message)?;
        let mut bytes = [0; keystore_api::MAX_MESSAGE];
        keystore_api::decode::<Reply>(message.label(), message.words(), &mut bytes)
            .map_err(|_| libasi::Error::InvalidLength)
    }

    fn stats(&mut self) -> Result<keystore_api::Stats, libasi::Error> {
        match self.call(&Request::Stats)? {
            Reply::Stats(stats) => Ok(stats),
            _ => Err(libasi::Error::InvalidLength),
        }
    }
}

struct Mix {
    keystore: Keystore,
    other: Keystore,
    /// The key of name `index + 1`, as the signer computes it.
    keys: [Option<[u8; KEY_BYTES]>; KEYS],
    rng: XorShift,
    passed: u64,
    failed: u64,
}

impl Mix {
    fn check(&mut self, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }

    fn run(&mut self) -> Result<(), libasi::Error> {
        for index in 0..STORED {
            let key = self.rng.key();
            let reply = self.keystore.call(&Request::Store { name: name(index), key })?;
            self.check(reply == Reply::Stored);
            self.keys[index] = Some(key);
        }
        for index in STORED..KEYS {
            let parent = index - STORED;
            let context = [index as u8; 24];
            let reply = self.keystore.call(&Request::Derive {
                parent: name(parent),
                name: name(index),
                context: &context,
            })?;
            self.check(reply == Reply::Derived);
            self.keys[index] =
                self.keys[parent].map(|parent| keystore_api::derive(&parent, &context));
        }
        let mut data = [0u8; MAX_DATA];
        for _ in 0..MACS {
            let (index, len) = (self.rng.below(KEYS), self.rng.below(MAX_DATA + 1));
            self.rng.fill(&mut data[..len]);
            let reply =
                self.keystore.call(&Request::Mac { name: name(index), data: &data[..len] })?;
            let expected =
                self.keys[index].map(|key| keystore_api::hmac_sha256(&key, &[&data[..len]]));
            self.check(expected.is_some_and(|tag| reply == Reply::Tag(tag)));
        }
        for round in 0..VERIFICATIONS {
            let (index, len) = (self.rng.below(KEYS), self.rng.below(MAX_DATA + 1));
            self.rng.fill(&mut data[..len]);
            let Some(key) = self.keys[index] else { continue };
            let mut tag = keystore_api::hmac_sha256(&key, &[&data[..len]]);
            let forged = round % 2 == 1;
            if forged {
                tag[self.rng.below(TAG_BYTES)] ^= 1 << self.rng.below(8);
            }
            let reply = self.keystore.call(&Request::Verify {
                name: name(index),
                data: &data[..len],
                tag,
            })?;
            self.check(reply == Reply::Verified(!forged));
        }
        self.mistakes()
    }

    /// The other client fills its share of the keystore: one key past
    /// [`MAX_KEYS_PER_CLIENT`] is refused, and the signer's own keys are not counted
    /// against it. It deletes them all again.
    fn limit(&mut self) -> Result<(), libasi::Error> {
        for index in 0..MAX_KEYS_PER_CLIENT {
            let key = self.rng.key();
            let stored = self.other.call(&Request::Store { name: name(index), key })?;
            self.check(stored == Reply::Stored);
        }
        let key = self.rng.key();
        let refused = self.other.call(&Request::Store { name: name(MAX_KEYS_PER_CLIENT), key })?;
        self.check(refused == Reply::Refused(Error::TooManyKeys));
        for index in 0..MAX_KEYS_PER_CLIENT {
            let deleted = self.other.call(&Request::Delete { name: name(index) })?;
            self.check(deleted == Reply::Deleted);
        }
        Ok(())
    }

    /// Requests the keystore must refuse, each with its own error, and a deletion.
    fn mistakes(&mut self) -> Result<(), libasi::Error> {
        let unknown = self.keystore.call(&Request::Mac { name: 99, data: b"no such key" })?;
        self.check(unknown == Reply::Refused(Error::NoSuchKey));
        let taken = self.keystore.call(&Request::Store { name: name(0), key: [0; KEY_BYTES] })?;
        self.check(taken == Reply::Refused(Error::NameTaken));
        let long = [0; MAX_CONTEXT + 1];
        let too_long =
            self.keystore.call(&Request::Derive { parent: name(0), name: 77, context: &long })?;
        self.check(too_long == Reply::Refused(Error::TooLong));
        let malformed = self.keystore.raw(LABEL, &[1, 0xff])?;
        self.check(malformed == Reply::Refused(Error::Malformed));
        // Another client sees none of the signer's keys.
        let theirs = self.other.call(&Request::Mac { name: name(0), data: b"not yours" })?;
        self.check(theirs == Reply::Refused(Error::NoSuchKey));
        self.limit()?;
        let deleted = self.keystore.call(&Request::Delete { name: name(KEYS - 1) })?;
        self.check(deleted == Reply::Deleted);
        self.keys[KEYS - 1] = None;
        let gone = self.keystore.call(&Request::Mac { name: name(KEYS - 1), data: b"deleted" })?;
        self.check(gone == Reply::Refused(Error::NoSuchKey));
        Ok(())
    }
}

/// The name of key `index`.
const fn name(index: usize) -> Name {
    index as Name + 1
}

/// A small deterministic generator: the mix is the same on every boot.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn key(&mut self) -> [u8; KEY_BYTES] {
        let mut key = [0; KEY_BYTES];
        self.fill(&mut key);
        key
    }
}
