//! The console's line discipline: how the bytes typed on the serial port become lines.
//!
//! [`Editor::feed`] takes one received byte and says what to do with it: echo it, erase
//! the last character on the terminal, hand over a finished line, or end input. Printable
//! bytes (and the bytes of UTF-8 characters) are kept; backspace and DEL erase the last
//! character; CR or LF ends the line (CR LF counts once); Ctrl-D on an empty line ends
//! input; other control bytes are dropped, so escape sequences cannot move the cursor
//! over the echoed line. A line keeps at most [`MAX_LINE`] bytes: what is typed beyond is
//! dropped and the line is marked [`Line::cut`], so an over-long line is shortened and
//! flagged, never an error.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// The most bytes one line keeps.
pub const MAX_LINE: usize = 120;

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const END_OF_TRANSMISSION: u8 = 0x04;

/// A finished line, without its line end.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Line {
    bytes: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl core::fmt::Debug for Line {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Line")
            .field("bytes", &format_args!("\"{}\"", self.as_bytes().escape_ascii()))
            .field("cut", &self.cut)
            .finish()
    }
}

impl Line {
    const EMPTY: Self = Self { bytes: [0; MAX_LINE], len: 0, cut: false };

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether more was typed than the line kept: it holds the first [`MAX_LINE`] bytes.
    pub const fn cut(&self) -> bool {
        self.cut
    }
}

/// What to do with one received byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the byte was dropped (a control byte, an erase at the start of the line,
    /// a byte beyond [`MAX_LINE`], the LF after a CR).
    Nothing,
    /// Echo this byte: it is now part of the line.
    Echo(u8),
    /// Erase the last character on the terminal (it left the line).
    Erase,
    /// The line is finished: start a new line on the terminal, hand this one over.
    Line(Line),
    /// Ctrl-D on an empty line: input has ended.
    End,
}

/// The line being typed.
#[derive(Clone, Debug)]
pub struct Editor {
    line: Line,
    /// The last byte was a CR: an LF right after it ends no second line.
    after_cr: bool,
}

impl Default for Editor {
    fn default() -> Self {
        Self::new()
    }
}

impl Editor {
    pub const fn new() -> Self {
        Self { line: Line::EMPTY, after_cr: false }
    }

    /// What has been typed of the current line (and echoed): for showing it again after
    /// other output interrupted it.
    pub fn pending(&self) -> &[u8] {
        self.line.as_bytes()
    }

    /// Takes one received byte.
    pub fn feed(&mut self, byte: u8) -> Action {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => Action::Nothing,
            b'\r' | b'\n' => Action::Line(core::mem::replace(&mut self.line, Line::EMPTY)),
            BACKSPACE | DELETE => self.erase(),
            END_OF_TRANSMISSION if self.line.len == 0 => Action::End,
            _ if byte.is_ascii_control() => Action::Nothing,
            _ if self.line.len == MAX_LINE => {
                self.line.cut = true;
                Action::Nothing
            }
            _ => {
                self.line.bytes[self.line.len] = byte;
                self.line.len += 1;
                Action::Echo(byte)
            }
        }
    }

    /// Removes the last character: one byte, or all the bytes of a UTF-8 character (its
    /// continuation bytes and the byte that starts it), which the terminal shows as one.
    fn erase(&mut self) -> Action {
        let kept = &self.line.bytes[..self.line.len];
        let Some(start) = kept.iter().rposition(|&byte| byte & 0b1100_0000 != 0b1000_0000) else {
            // Nothing, or only stray continuation bytes: those go one at a time.
            return match self.line.len.checked_sub(1) {
                Some(len) => {
                    self.line.len = len;
                    Action::Erase
                }
                None => Action::Nothing,
            };
        };
        self.line.len = start;
        Action::Erase
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes`, returning the lines finished, what was echoed (erase as `<`), and
    /// whether input ended.
    fn typed(editor: &mut Editor, bytes: &[u8]) -> (Vec<Line>, Vec<u8>, bool) {
        let (mut lines, mut echo, mut ended) = (Vec::new(), Vec::new(), false);
        for &byte in bytes {
            match editor.feed(byte) {
                Action::Nothing => {}
                Action::Echo(byte) => echo.push(byte),
                Action::Erase => echo.push(b'<'),
                Action::Line(line) => {
                    echo.push(b'\n');
                    lines.push(line);
                }
                Action::End => ended = true,
            }
        }
        (lines, echo, ended)
    }

    fn texts(lines: &[Line]) -> Vec<(&[u8], bool)> {
        lines.iter().map(|line| (line.as_bytes(), line.cut())).collect()
    }

    #[test]
    fn bytes_are_echoed_and_a_line_end_hands_the_line_over() {
        let mut editor = Editor::new();
        let (lines, echo, ended) = typed(&mut editor, b"hi there\r");
        assert_eq!(texts(&lines), [(&b"hi there"[..], false)]);
        assert_eq!(echo, b"hi there\n");
        assert!(!ended);
        assert_eq!(editor.pending(), b"");
    }

    #[test]
    fn cr_lf_lf_and_cr_each_end_one_line() {
        let mut editor = Editor::new();
        let (lines, _, _) = typed(&mut editor, b"a\r\nb\nc\r\r\nd");
        assert_eq!(texts(&lines), [(&b"a"[..], false), (b"b", false), (b"c", false), (b"", false)]);
        assert_eq!(editor.pending(), b"d");
    }

    #[test]
    fn backspace_and_delete_erase_one_character() {
        let mut editor = Editor::new();
        let (lines, echo, _) = typed(&mut editor, b"hellp\x7fo\x08\x08lo\r");
        assert_eq!(texts(&lines), [(&b"hello"[..], false)]);
        assert_eq!(echo, b"hellp<o<<lo\n");
        // At the start of a line there is nothing to erase, and nothing is echoed.
        let (lines, echo, _) = typed(&mut editor, b"\x08\x7fx\r");
        assert_eq!((texts(&lines), echo), (vec![(&b"x"[..], false)], b"x\n".to_vec()));
    }

    #[test]
    fn an_erase_takes_a_whole_utf8_character() {
        let mut editor = Editor::new();
        let (lines, echo, _) = typed(&mut editor, "aé€\x7f\x7fb\r".as_bytes());
        assert_eq!(texts(&lines), [(&b"ab"[..], false)]);
        assert_eq!(echo.iter().filter(|&&byte| byte == b'<').count(), 2);
        // Stray continuation bytes go one by one.
        let (lines, _, _) = typed(&mut editor, b"\x80\x80\x7f\r");
        assert_eq!(texts(&lines), [(&b"\x80"[..], false)]);
    }

    #[test]
    fn control_bytes_are_dropped_unechoed() {
        let mut editor = Editor::new();
        let (lines, echo, _) = typed(&mut editor, b"a\x1b\x07\tb\r");
        assert_eq!(texts(&lines), [(&b"ab"[..], false)]);
        assert_eq!(echo, b"ab\n");
    }

    #[test]
    fn ctrl_d_ends_input_only_on_an_empty_line() {
        let mut editor = Editor::new();
        let (lines, _, ended) = typed(&mut editor, b"ab\x04");
        assert!(lines.is_empty() && !ended);
        assert_eq!(editor.pending(), b"ab");
        let mut line = Line::EMPTY;
        line.bytes[..2].copy_from_slice(b"ab");
        line.len = 2;
        assert_eq!(editor.feed(b'\r'), Action::Line(line));
        assert_eq!(editor.feed(0x04), Action::End);
    }

    #[test]
    fn an_over_long_line_is_cut_and_marked() {
        let mut editor = Editor::new();
        let mut input = vec![b'x'; MAX_LINE];
        input.extend_from_slice(b"yz\r");
        let (lines, echo, _) = typed(&mut editor, &input);
        assert_eq!(texts(&lines), [(&[b'x'; MAX_LINE][..], true)]);
        assert_eq!(echo.len(), MAX_LINE + 1, "nothing beyond the bound is echoed");
        // Erasing makes room again; the line stays marked, since something was dropped.
        let mut input = vec![b'x'; MAX_LINE + 1];
        input.extend_from_slice(b"\x7fy\r");
        let (lines, _, _) = typed(&mut editor, &input);
        assert_eq!(lines[0].as_bytes().last(), Some(&b'y'));
        assert!(lines[0].cut());
        // The next line starts unmarked.
        let (lines, _, _) = typed(&mut editor, b"ok\r");
        assert_eq!(texts(&lines), [(&b"ok"[..], false)]);
    }

    #[test]
    fn every_byte_is_taken_without_panicking() {
        let mut editor = Editor::new();
        for round in 0..3 {
            for byte in 0..=u8::MAX {
                let _ = editor.feed(byte.wrapping_add(round));
            }
        }
        assert!(editor.pending().len() <= MAX_LINE);
    }
}
