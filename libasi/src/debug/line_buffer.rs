use core::fmt;

use crate::Error;

/// Room for one ordinary line of output.
const CAPACITY: usize = 256;

/// Gathers formatted pieces so that a line reaches `sink` whole, in one call, instead
/// of one call per piece of `format_args!`.
pub(super) struct LineBuffer<F> {
    sink: F,
    bytes: [u8; CAPACITY],
    len: usize,
}

impl<F: FnMut(&[u8]) -> Result<(), Error>> LineBuffer<F> {
    pub(super) fn new(sink: F) -> Self {
        Self { sink, bytes: [0; CAPACITY], len: 0 }
    }

    /// Hands everything gathered so far to the sink.
    pub(super) fn flush(&mut self) -> Result<(), Error> {
        if self.len > 0 {
            let len = core::mem::take(&mut self.len);
            (self.sink)(&self.bytes[..len])?;
        }
        Ok(())
    }
}

impl<F: FnMut(&[u8]) -> Result<(), Error>> fmt::Write for LineBuffer<F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let piece = s.as_bytes();
        if piece.len() > CAPACITY - self.len {
            self.flush().map_err(|_| fmt::Error)?;
        }
        if piece.len() > CAPACITY {
            return (self.sink)(piece).map_err(|_| fmt::Error);
        }
        self.bytes[self.len..self.len + piece.len()].copy_from_slice(piece);
        self.len += piece.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::fmt::Write;

    use super::*;

    fn calls(write: impl FnOnce(&mut dyn Write)) -> Vec<Vec<u8>> {
        let mut calls = Vec::new();
        let mut line = LineBuffer::new(|bytes: &[u8]| {
            calls.push(bytes.to_vec());
            Ok(())
        });
        write(&mut line);
        line.flush().unwrap();
        calls
    }

    #[test]
    fn a_formatted_line_is_one_call() {
        let (name, count) = ("a::b", 7);
        let got = calls(|w| writeln!(w, "TEST PASS {name} {count}").unwrap());
        assert_eq!(got, [b"TEST PASS a::b 7\n".to_vec()]);
    }

    #[test]
    fn nothing_written_means_no_call() {
        assert!(calls(|_| {}).is_empty());
    }

    #[test]
    fn overflow_flushes_then_keeps_gathering() {
        let first = "x".repeat(CAPACITY - 1);
        let tail = "yz";
        let got = calls(|w| write!(w, "{first}{tail}").unwrap());
        assert_eq!(got, [first.into_bytes(), b"yz".to_vec()]);
    }

    #[test]
    fn oversized_pieces_go_straight_through_in_order() {
        let big = "b".repeat(CAPACITY + 1);
        let got = calls(|w| write!(w, "a{big}c").unwrap());
        assert_eq!(got, [b"a".to_vec(), big.into_bytes(), b"c".to_vec()]);
    }

    #[test]
    fn sink_errors_surface_as_fmt_errors() {
        let mut line = LineBuffer::new(|_: &[u8]| Err(Error::InvalidAddress));
        assert!(line.write_str(&"e".repeat(CAPACITY + 1)).is_err());
    }
}
