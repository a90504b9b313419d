//! Splits the event stream's bytes into lines, with a hard cap on line length.
//!
//! `tokio_util`'s `LinesCodec` ends the whole stream after an over-long line or invalid
//! UTF-8; a monitor must instead drop that one line and keep reading, so this small
//! splitter does exactly that.

/// The longest line we keep; anything longer is dropped whole.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One unit of output from the splitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its terminator (invalid UTF-8 replaced).
    Line(String),
    /// A line longer than the cap was dropped; carries how many bytes it had.
    Oversized(usize),
}

/// Incremental line splitter: feed chunks, collect frames.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// Bytes of an over-long line seen so far (we are discarding until its end).
    discarding: Option<usize>,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            discarding: None,
        }
    }

    /// Feeds one chunk; complete lines are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<Frame>) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let (part, rest, complete) = match newline {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &chunk[chunk.len()..], false),
            };
            chunk = rest;
            if let Some(seen) = self.discarding.as_mut() {
                *seen += part.len();
                if complete {
                    out.push(Frame::Oversized(*seen));
                    self.discarding = None;
                }
                continue;
            }
            if self.buf.len() + part.len() > self.max {
                let seen = self.buf.len() + part.len();
                self.buf.clear();
                if complete {
                    out.push(Frame::Oversized(seen));
                } else {
                    self.discarding = Some(seen);
                }
                continue;
            }
            self.buf.extend_from_slice(part);
            if complete {
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let text = match String::from_utf8(line) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                out.push(Frame::Line(text));
            }
        }
    }

    /// Bytes buffered for an incomplete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]], max: usize) -> Vec<Frame> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        out
    }

    #[test]
    fn splits_across_chunks_and_strips_cr() {
        let frames = split_all(&[b"ab", b"c\r\nde", b"f\n\n"], 100);
        assert_eq!(
            frames,
            vec![
                Frame::Line("abc".into()),
                Frame::Line("def".into()),
                Frame::Line(String::new())
            ]
        );
    }

    #[test]
    fn drops_an_oversized_line_and_keeps_going() {
        let big = vec![b'x'; 50];
        let frames = split_all(&[b"ok\n", &big, &big, b"\nnext\n"], 64);
        assert_eq!(
            frames,
            vec![
                Frame::Line("ok".into()),
                Frame::Oversized(100),
                Frame::Line("next".into())
            ]
        );
    }

    #[test]
    fn oversized_line_in_one_chunk() {
        let mut chunk = vec![b'y'; 70];
        chunk.extend_from_slice(b"\nafter\n");
        let frames = split_all(&[&chunk], 64);
        assert_eq!(
            frames,
            vec![Frame::Oversized(70), Frame::Line("after".into())]
        );
    }

    #[test]
    fn a_line_at_exactly_the_cap_is_kept() {
        let mut chunk = vec![b'z'; 64];
        chunk.push(b'\n');
        let frames = split_all(&[&chunk], 64);
        assert_eq!(frames, vec![Frame::Line("z".repeat(64))]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let frames = split_all(&[b"a\xffb\n"], 64);
        assert_eq!(frames, vec![Frame::Line("a\u{fffd}b".into())]);
    }

    #[test]
    fn real_cap_drops_a_line_over_one_mebibyte() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let chunk = vec![b'q'; 64 * 1024];
        for _ in 0..17 {
            s.push(&chunk, &mut out);
        }
        assert!(s.pending() <= MAX_LINE_BYTES);
        s.push(b"\n{\"Type\":\"hello\"}\n", &mut out);
        assert_eq!(
            out,
            vec![
                Frame::Oversized(17 * 64 * 1024),
                Frame::Line("{\"Type\":\"hello\"}".into())
            ]
        );
    }

    proptest! {
        /// However the bytes are chunked, the frames are the same.
        #[test]
        fn chunking_does_not_change_the_result(data in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let whole = split_all(&[&data], 32);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&data[last..p]); last = p; }
            chunks.push(&data[last..]);
            prop_assert_eq!(split_all(&chunks, 32), whole);
        }
    }
}
