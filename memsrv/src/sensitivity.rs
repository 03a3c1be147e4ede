//! Whether memory may hold secrets.

/// The sensitivity of a pageblock and of every frame in it.
///
/// Sensitive memory is absent from the kernel's restricted address space, so the kernel
/// can only reach it after an ASI exit; nonsensitive memory is mapped there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sensitivity {
    /// May hold user data or anything that could leak it.
    Sensitive,
    /// Mapped in the restricted address space; never holds secrets.
    Nonsensitive,
}

impl Sensitivity {
    /// Both sensitivities, in the order of [`Sensitivity::index`].
    pub const ALL: [Self; 2] = [Self::Sensitive, Self::Nonsensitive];

    /// The sensitivity a flip turns this one into.
    pub const fn other(self) -> Self {
        match self {
            Self::Sensitive => Self::Nonsensitive,
            Self::Nonsensitive => Self::Sensitive,
        }
    }

    /// A dense index (0 or 1) for per-sensitivity arrays.
    pub const fn index(self) -> usize {
        match self {
            Self::Sensitive => 0,
            Self::Nonsensitive => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_is_an_involution_and_indices_match_all() {
        for (i, s) in Sensitivity::ALL.into_iter().enumerate() {
            assert_ne!(s.other(), s);
            assert_eq!(s.other().other(), s);
            assert_eq!(s.index(), i);
        }
    }
}
