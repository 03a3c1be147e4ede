//! Why mapping memory or growing a heap failed.

use core::fmt;

use crate::cap::Sensitivity;

/// A refused or failed [`mem`](super) operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// The kernel refused a step: mapping or unmapping a frame, installing a page table,
    /// retyping an object.
    Kernel(crate::Error),
    /// The map window has no free run of pages that large.
    WindowFull,
    /// A source has no empty slot left for the next object.
    NoSlots,
    /// A frame is not of the sensitivity asked for.
    WrongSensitivity { wanted: Sensitivity, got: Sensitivity },
    /// Write access to a mapping without the write right.
    ReadOnly,
    /// A run of frames with none in it, or more than the address space can hold.
    BadRun,
    /// An address for [`Mapping::at`](super::Mapping::at) inside the 512 GiB the map
    /// window's tables cover, or in the kernel half, or not page aligned.
    BadAddress,
    /// The heap was initialised already.
    AlreadyInitialized,
}

impl From<crate::Error> for MemError {
    fn from(error: crate::Error) -> Self {
        Self::Kernel(error)
    }
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(error) => write!(f, "refused by the kernel: {error}"),
            Self::WindowFull => f.write_str("no free run of pages that large in the map window"),
            Self::NoSlots => f.write_str("no empty slot left for the next object"),
            Self::WrongSensitivity { wanted, got } => {
                write!(f, "a frame of {got:?} memory where {wanted:?} was asked for")
            }
            Self::ReadOnly => f.write_str("the mapping is read-only"),
            Self::BadRun => f.write_str("a run of no frames, or of more than fit"),
            Self::BadAddress => f.write_str("not an address to map at"),
            Self::AlreadyInitialized => f.write_str("the heap is initialised already"),
        }
    }
}

impl core::error::Error for MemError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_refusals_convert_and_display() {
        let error = MemError::from(crate::Error::AlreadyMapped);
        assert_eq!(error, MemError::Kernel(crate::Error::AlreadyMapped));
        assert_eq!(error.to_string(), "refused by the kernel: already mapped");
        let wrong = MemError::WrongSensitivity {
            wanted: Sensitivity::Sensitive,
            got: Sensitivity::Nonsensitive,
        };
        assert_eq!(
            wrong.to_string(),
            "a frame of Nonsensitive memory where Sensitive was asked for"
        );
    }
}
