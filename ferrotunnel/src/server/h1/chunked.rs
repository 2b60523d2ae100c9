//! [`ChunkedDecoder`]: a response body in HTTP/1.1's chunked coding (RFC 9112 §7.1), decoded as
//! its bytes arrive, whatever way they are split.
//!
//! What a hostile or broken local service can send is bounded: chunk sizes past `u64`, chunk
//! extensions and trailer sections past [`MAX_FRAMING`] are errors, never growth.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The most bytes of chunk extensions, and of trailer section, one body may carry.
pub(super) const MAX_FRAMING: usize = 16 * 1024;
/// The most trailer fields one body may carry.
const MAX_TRAILERS: usize = 64;

/// What decoding yielded.
#[derive(Debug, PartialEq)]
pub(super) enum Decoded {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The last chunk and an empty trailer section: the body has ended.
    End,
}

/// Where the decoder is in the coding.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Reading a chunk size's hex digits.
    Size {
        size: u64,
        digits: u8,
    },
    /// Spaces after the size, before `;` or the line's end.
    SizeSpace {
        size: u64,
    },
    /// A chunk extension, skipped up to the line's end.
    Extension {
        size: u64,
    },
    /// The `\n` of the size line.
    SizeLf {
        size: u64,
    },
    /// Chunk data, with this much of it left.
    Data {
        left: u64,
    },
    /// The `\r\n` after chunk data.
    DataCr,
    DataLf,
    /// The trailer section, after the last chunk.
    Trailers,
    End,
}

/// Decodes one chunked body.
#[derive(Debug)]
pub(super) struct ChunkedDecoder {
    state: State,
    /// Extension bytes skipped so far, against [`MAX_FRAMING`].
    extensions: usize,
}

/// Why a chunked body cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(super) enum ChunkError {
    #[error("a chunk size is not hexadecimal, or has no digits")]
    BadSize,
    #[error("a chunk size does not fit in 64 bits")]
    SizeTooLarge,
    #[error("a chunk line does not end in CRLF")]
    BadLineEnd,
    #[error("the chunk extensions or trailers are larger than {MAX_FRAMING} bytes")]
    FramingTooLarge,
    #[error("the trailer section is malformed: {0}")]
    BadTrailers(String),
}

impl ChunkedDecoder {
    pub(super) fn new() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
            extensions: 0,
        }
    }

    /// Whether the body has ended.
    pub(super) fn is_end(&self) -> bool {
        self.state == State::End
    }

    /// Decodes from the front of `buf`, consuming what it uses. `Ok(None)` means more bytes are
    /// needed (everything in `buf` that could be used was).
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ChunkError> {
        loop {
            if let State::Data { left } = self.state {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let data = buf.split_to(n).freeze();
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                return Ok(Some(Decoded::Data(data)));
            }
            match self.state {
                State::End => return Ok(Some(Decoded::End)),
                State::Trailers => return self.trailers(buf),
                _ => {}
            }
            let Some(&byte) = buf.first() else {
                return Ok(None);
            };
            buf.advance(1);
            self.state = self.step(byte)?;
        }
    }

    /// Moves past framing bytes (chunk ends, size lines, an empty trailer section) without
    /// yielding data, so that a body whose last chunk has arrived knows it has ended.
    pub(super) fn skip_framing(&mut self, buf: &mut BytesMut) -> Result<(), ChunkError> {
        loop {
            match self.state {
                State::Data { .. } | State::End => return Ok(()),
                State::Trailers => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                        self.state = State::End;
                    }
                    return Ok(());
                }
                _ => {}
            }
            let Some(&byte) = buf.first() else {
                return Ok(());
            };
            buf.advance(1);
            self.state = self.step(byte)?;
        }
    }

    /// The state after one framing byte.
    fn step(&mut self, byte: u8) -> Result<State, ChunkError> {
        Ok(match self.state {
            State::Size { size, digits } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let digit = u64::from((byte as char).to_digit(16).unwrap_or_default());
                    let size = size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or(ChunkError::SizeTooLarge)?;
                    State::Size {
                        size,
                        digits: digits.saturating_add(1),
                    }
                }
                _ if digits == 0 => return Err(ChunkError::BadSize),
                b' ' | b'\t' => State::SizeSpace { size },
                b'\n' => return Err(ChunkError::BadLineEnd),
                b';' => State::Extension { size },
                b'\r' => State::SizeLf { size },
                _ => return Err(ChunkError::BadSize),
            },
            State::SizeSpace { size } => match byte {
                b' ' | b'\t' => State::SizeSpace { size },
                b';' => State::Extension { size },
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(ChunkError::BadLineEnd),
                _ => return Err(ChunkError::BadSize),
            },
            State::Extension { size } => match byte {
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(ChunkError::BadLineEnd),
                _ => {
                    self.extensions += 1;
                    if self.extensions > MAX_FRAMING {
                        return Err(ChunkError::FramingTooLarge);
                    }
                    State::Extension { size }
                }
            },
            State::SizeLf { size } => match byte {
                b'\n' if size == 0 => State::Trailers,
                b'\n' => State::Data { left: size },
                _ => return Err(ChunkError::BadLineEnd),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(ChunkError::BadLineEnd),
            },
            State::DataLf => match byte {
                b'\n' => State::Size { size: 0, digits: 0 },
                _ => return Err(ChunkError::BadLineEnd),
            },
            State::Data { .. } | State::Trailers | State::End => {
                unreachable!("data and trailers are not read a byte at a time")
            }
        })
    }

    /// The trailer section: an empty line alone, or fields up to an empty line.
    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ChunkError> {
        if buf.starts_with(b"\r\n") {
            buf.advance(2);
            self.state = State::End;
            return Ok(Some(Decoded::End));
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return if buf.len() > MAX_FRAMING {
                Err(ChunkError::FramingTooLarge)
            } else {
                Ok(None)
            };
        };
        let section = buf.split_to(end + 4);
        if section.len() > MAX_FRAMING {
            return Err(ChunkError::FramingTooLarge);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
        let parsed = match httparse::parse_headers(&section, &mut fields) {
            Ok(httparse::Status::Complete((_, parsed))) => parsed,
            Ok(httparse::Status::Partial) => {
                return Err(ChunkError::BadTrailers("incomplete".into()));
            }
            Err(err) => return Err(ChunkError::BadTrailers(err.to_string())),
        };
        let mut trailers = HeaderMap::with_capacity(parsed.len());
        for field in parsed {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|err| ChunkError::BadTrailers(err.to_string()))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|err| ChunkError::BadTrailers(err.to_string()))?;
            trailers.append(name, value);
        }
        self.state = State::End;
        Ok(Some(Decoded::Trailers(trailers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes: the data, the trailers, whether it ended.
    fn decode_in_steps(wire: &[u8], step: usize) -> Result<(Vec<u8>, HeaderMap, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let (mut data, mut trailers) = (Vec::new(), HeaderMap::new());
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(decoded) = decoder.decode(&mut buf)? {
                match decoded {
                    Decoded::Data(bytes) => data.extend_from_slice(&bytes),
                    Decoded::Trailers(t) => trailers = t,
                    Decoded::End => return Ok((data, trailers, true)),
                }
            }
        }
        Ok((data, trailers, decoder.is_end()))
    }

    #[test]
    fn bodies_decode_however_their_bytes_are_split() {
        let wire = b"5\r\nhello\r\n7;name=value\r\n, world\r\nA \r\n0123456789\r\n0\r\n\r\n";
        for step in [1, 2, 3, 7, 64] {
            let (data, trailers, ended) = decode_in_steps(wire, step).unwrap();
            assert_eq!(data, b"hello, world0123456789", "step {step}");
            assert!(trailers.is_empty() && ended, "step {step}");
        }
    }

    #[test]
    fn trailers_are_read() {
        let wire = b"3\r\nabc\r\n0\r\nx-checksum: 42\r\nx-other: y\r\n\r\n";
        for step in [1, 5, 100] {
            let (data, trailers, ended) = decode_in_steps(wire, step).unwrap();
            assert_eq!(data, b"abc");
            assert_eq!(trailers["x-checksum"], "42");
            assert_eq!(trailers["x-other"], "y");
            assert!(ended);
        }
    }

    #[test]
    fn the_end_is_seen_right_after_the_last_data() {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"2\r\nok\r\n0\r\n\r\n"[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Decoded::Data(Bytes::from_static(b"ok")))
        );
        assert!(!decoder.is_end());
        decoder.skip_framing(&mut buf).unwrap();
        assert!(decoder.is_end() && buf.is_empty());
    }

    #[test]
    fn malformed_framing_is_an_error_not_a_guess() {
        for (wire, error) in [
            (&b"x\r\n"[..], ChunkError::BadSize),
            (b"\r\n", ChunkError::BadSize),
            (b"5 x\r\n", ChunkError::BadSize),
            (b"5\n", ChunkError::BadLineEnd),
            (b"5;ext\n", ChunkError::BadLineEnd),
            (b"2\r\nokX", ChunkError::BadLineEnd),
            (b"2\r\nok\rX", ChunkError::BadLineEnd),
            (b"10000000000000000\r\n", ChunkError::SizeTooLarge),
        ] {
            assert_eq!(
                decode_in_steps(wire, 1).unwrap_err(),
                error,
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        assert!(matches!(
            decode_in_steps(b"0\r\nbad header\r\n\r\n", 1),
            Err(ChunkError::BadTrailers(_))
        ));
    }

    #[test]
    fn framing_cannot_grow_without_bound() {
        let mut long_extension = b"1;".to_vec();
        long_extension.resize(MAX_FRAMING + 10, b'a');
        assert_eq!(
            decode_in_steps(&long_extension, 4096).unwrap_err(),
            ChunkError::FramingTooLarge
        );
        let mut long_trailers = b"0\r\nx: ".to_vec();
        long_trailers.resize(MAX_FRAMING + 10, b'a');
        assert_eq!(
            decode_in_steps(&long_trailers, 4096).unwrap_err(),
            ChunkError::FramingTooLarge
        );
        // The largest size that fits, announced: data is then read as it comes, nothing kept.
        let (data, _, ended) = decode_in_steps(b"ffffffffffffffff\r\nabc", 1).unwrap();
        assert_eq!(data, b"abc");
        assert!(!ended);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// `chunks` in chunked coding, with an extension on every other size line.
        fn encode(chunks: &[Vec<u8>], trailer: Option<&str>) -> Vec<u8> {
            let mut wire = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                let ext = if i % 2 == 1 { ";a=b" } else { "" };
                wire.extend_from_slice(format!("{:X}{ext}\r\n", chunk.len()).as_bytes());
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n");
            if let Some(value) = trailer {
                wire.extend_from_slice(format!("x-t: {value}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            wire
        }

        proptest! {
            #[test]
            fn whatever_is_encoded_decodes_to_the_same_bytes(
                chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..8),
                trailer in proptest::option::of("[a-z0-9]{1,12}"),
                step in 1usize..64,
            ) {
                let wire = encode(&chunks, trailer.as_deref());
                let (data, trailers, ended) = decode_in_steps(&wire, step).expect("valid coding");
                prop_assert_eq!(data, chunks.concat());
                prop_assert!(ended);
                prop_assert_eq!(
                    trailers.get("x-t").map(|v| v.to_str().unwrap().to_owned()),
                    trailer
                );
            }

            #[test]
            fn arbitrary_bytes_never_panic_nor_yield_more_than_they_hold(
                wire in proptest::collection::vec(any::<u8>(), 0..512),
                step in 1usize..64,
            ) {
                if let Ok((data, _, _)) = decode_in_steps(&wire, step) {
                    prop_assert!(data.len() <= wire.len());
                }
            }
        }
    }
}
