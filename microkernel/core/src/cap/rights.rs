//! Access rights carried by endpoint, notification and frame capabilities.

use core::fmt;
use core::ops::{BitAnd, BitOr};

/// A set of rights, as seL4's `seL4_CapRights`: read, write, grant and grant-reply.
///
/// Hand-rolled rather than taken from the `bitflags` crate because four flags do not
/// justify a dependency in the kernel's core.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Self = Self(0);
    /// Receive on an endpoint or wait on a notification; read a frame.
    pub const READ: Self = Self(1);
    /// Send on an endpoint or signal a notification; write a frame.
    pub const WRITE: Self = Self(1 << 1);
    /// Transfer capabilities through an endpoint.
    pub const GRANT: Self = Self(1 << 2);
    /// Let the receiver of a Call reply with capabilities.
    pub const GRANT_REPLY: Self = Self(1 << 3);
    pub const ALL: Self = Self(0b1111);

    /// The set whose bits are `bits`; `None` if a bit names no right.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 { Some(Self(bits)) } else { None }
    }

    /// The set of the rights among `bits`, ignoring bits that name none.
    pub const fn from_bits_truncate(bits: u8) -> Self {
        Self(bits & Self::ALL.0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every right in `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl BitOr for Rights {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        self.union(other)
    }
}

impl BitAnd for Rights {
    type Output = Self;
    fn bitand(self, other: Self) -> Self {
        self.intersection(other)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Rights, char); 4] = [
            (Rights::READ, 'R'),
            (Rights::WRITE, 'W'),
            (Rights::GRANT, 'G'),
            (Rights::GRANT_REPLY, 'P'),
        ];
        f.write_str("Rights(")?;
        for (right, name) in NAMES {
            let shown = if self.contains(right) { name } else { '-' };
            fmt::Write::write_char(f, shown)?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_unknown_bits_are_refused() {
        for bits in 0..16 {
            assert_eq!(Rights::from_bits(bits).map(Rights::bits), Some(bits));
        }
        assert_eq!(Rights::from_bits(16), None);
        assert_eq!(Rights::from_bits(0xff), None);
    }

    #[test]
    fn set_operations() {
        let rw = Rights::READ | Rights::WRITE;
        assert!(rw.contains(Rights::READ) && rw.contains(Rights::WRITE));
        assert!(!rw.contains(Rights::GRANT));
        assert!(rw.contains(Rights::NONE));
        assert_eq!(rw & Rights::WRITE, Rights::WRITE);
        assert_eq!(rw & Rights::GRANT, Rights::NONE);
        assert!(Rights::ALL.contains(rw | Rights::GRANT | Rights::GRANT_REPLY));
        assert_eq!(format!("{rw:?}"), "Rights(RW--)");
        assert_eq!(format!("{:?}", Rights::ALL), "Rights(RWGP)");
    }
}
