//! [`ResponseBody`]: the local service's response body, read off the stream as the visitor's
//! connection asks for it, while what is left of the request goes out.
//!
//! It owns the connection: nothing else reads the stream, no task of its own waits on it, and
//! no buffer is held between frames. A held response (a long poll, an event stream) costs its
//! connection's few hundred bytes and the stream, not a connection task with its buffers.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::{
    Connection,
    chunked::{ChunkedDecoder, Decoded},
    request::Upload,
    response::Framing,
};
use crate::{BoxError, Error};

/// Where the body is.
#[derive(Debug)]
enum Reading {
    /// This many bytes are left.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Ended,
}

impl Reading {
    /// How many of `available` bytes, the next off the stream, belong to a sized or
    /// close-delimited body; moves past them.
    fn take(&mut self, available: usize) -> usize {
        match self {
            Reading::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(available);
                *left -= n as u64;
                if *left == 0 {
                    *self = Reading::Ended;
                }
                n
            }
            Reading::UntilClose => available,
            Reading::Chunked(_) | Reading::Ended => 0,
        }
    }
}

/// A response body read off its connection.
pub(crate) struct ResponseBody {
    /// The connection, until the body ends or fails.
    connection: Option<Connection>,
    /// What is left of the request, when the response came before all of it went out.
    upload: Option<Upload>,
    reading: Reading,
    keep_alive: bool,
}

impl ResponseBody {
    pub(super) fn new(
        connection: Connection,
        upload: Option<Upload>,
        framing: Framing,
        keep_alive: bool,
    ) -> Self {
        let reading = match framing {
            Framing::Empty | Framing::Length(0) => Reading::Ended,
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => Reading::UntilClose,
        };
        let mut body = Self {
            connection: Some(connection),
            upload,
            reading,
            keep_alive,
        };
        body.skip_framing();
        body
    }

    /// The connection, once the body has ended, when it can carry another request: the
    /// request went out whole, the response was delimited, nothing more was sent after it, and
    /// neither side asked to close. Taken at most once.
    pub(crate) fn take_idle_connection(&mut self) -> Option<Connection> {
        let upload_done = self.upload.as_ref().is_none_or(Upload::is_done);
        let clean = self
            .connection
            .as_ref()
            .is_some_and(|c| c.buffered.is_empty());
        if self.is_end_stream() && self.keep_alive && upload_done && clean {
            self.connection.take().map(Connection::idle)
        } else {
            None
        }
    }

    /// How much buffer the body holds right now.
    #[cfg(test)]
    pub(super) fn buffered_capacity(&self) -> usize {
        self.connection
            .as_ref()
            .map_or(0, |c| c.buffered.capacity())
    }

    /// Moves past chunked framing that has already arrived, so that the end is seen as soon as
    /// its bytes are in.
    fn skip_framing(&mut self) {
        if let (Reading::Chunked(decoder), Some(connection)) =
            (&mut self.reading, &mut self.connection)
        {
            match decoder.skip_framing(&mut connection.buffered) {
                Ok(()) if decoder.is_end() => self.reading = Reading::Ended,
                Ok(()) => {}
                // Left for the next read, which meets the same bytes and reports them.
                Err(_) => {}
            }
        }
    }

    /// Body bytes that arrived with nothing buffered before them: a frame of the body, and
    /// whatever came past its end kept (and later found to be stray).
    fn cut(&mut self, mut data: Bytes) -> Frame<Bytes> {
        let n = self.reading.take(data.len());
        if n < data.len() {
            let past = data.split_off(n);
            if let Some(connection) = self.connection.as_mut() {
                connection.buffered.extend_from_slice(&past);
            }
        }
        Frame::data(data)
    }

    /// The stream ended: the end of a body delimited by it, else a body cut short.
    fn closed(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Reading::UntilClose = self.reading {
            self.reading = Reading::Ended;
            self.keep_alive = false;
            return Poll::Ready(None);
        }
        self.fail(Error::LocalReset("the stream ended in the middle of the body".into()).into())
    }

    fn fail(&mut self, err: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.connection = None;
        self.reading = Reading::Ended;
        Poll::Ready(Some(Err(err)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(connection) = this.connection.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(upload) = this.upload.as_mut() {
            if let Poll::Ready(Err(err)) = upload.poll(cx, &mut connection.stream) {
                return this.fail(err);
            }
        }
        loop {
            let buffered = &mut connection.buffered;
            let frame = match &mut this.reading {
                Reading::Ended => return Poll::Ready(None),
                Reading::Length(_) | Reading::UntilClose if !buffered.is_empty() => {
                    let n = this.reading.take(buffered.len());
                    Some(Frame::data(buffered.split_to(n).freeze()))
                }
                Reading::Chunked(decoder) => match decoder.decode(buffered) {
                    Ok(Some(Decoded::Data(data))) => Some(Frame::data(data)),
                    Ok(Some(Decoded::Trailers(trailers))) => {
                        this.reading = Reading::Ended;
                        Some(Frame::trailers(trailers))
                    }
                    Ok(Some(Decoded::End)) => {
                        this.reading = Reading::Ended;
                        return Poll::Ready(None);
                    }
                    Ok(None) => None,
                    Err(err) => return this.fail(Error::LocalInvalid(err.to_string()).into()),
                },
                Reading::Length(_) | Reading::UntilClose => None,
            };
            if let Some(frame) = frame {
                this.skip_framing();
                return Poll::Ready(Some(Ok(frame)));
            }
            if let Reading::Length(_) | Reading::UntilClose = this.reading {
                // Nothing buffered: the next frame goes to the visitor as it is, uncopied.
                return match connection.stream.poll_next_bytes(cx) {
                    Poll::Pending => {
                        *buffered = BytesMut::new();
                        Poll::Pending
                    }
                    Poll::Ready(Ok(Some(data))) => Poll::Ready(Some(Ok(this.cut(data)))),
                    Poll::Ready(Ok(None)) => this.closed(),
                    Poll::Ready(Err(err)) => this.fail(Error::LocalReset(err.into()).into()),
                };
            }
            let Poll::Ready(read) = connection.stream.poll_read_into(cx, buffered) else {
                // Waiting: the buffer goes, so a waiting body holds none. (While frames keep
                // coming it stays, and its space is reused once the visitor's connection has
                // written the frames cut from it.)
                if buffered.is_empty() {
                    *buffered = BytesMut::new();
                }
                return Poll::Pending;
            };
            match read {
                Ok(0) => return this.closed(),
                Ok(_) => {}
                Err(err) => return this.fail(Error::LocalReset(err.into()).into()),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.reading, Reading::Ended)
    }

    fn size_hint(&self) -> SizeHint {
        match self.reading {
            Reading::Length(n) => SizeHint::with_exact(n),
            Reading::Ended => SizeHint::with_exact(0),
            Reading::Chunked(_) | Reading::UntilClose => SizeHint::default(),
        }
    }
}
