//! Reading QUIC streams.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use quinn::{ReadExactError, RecvStream};

/// Reads exactly `len` bytes from `recv`, kept as the chunks QUIC delivered them in
/// (nothing is copied here).
///
/// ```no_run
/// # async fn f(mut recv: quinn::RecvStream) -> Result<(), quinn::ReadExactError> {
/// use bytes::Buf;
/// let body = rustmq_transport::quic::read_body(&mut recv, 1024).await?;
/// assert_eq!(body.remaining(), 1024);
/// # Ok(()) }
/// ```
pub async fn read_body(recv: &mut RecvStream, len: usize) -> Result<FrameBody, ReadExactError> {
    let mut body = FrameBody::default();
    while body.remaining < len {
        let chunk = recv
            .read_chunk(len - body.remaining, true)
            .await
            .map_err(ReadExactError::ReadError)?
            .ok_or(ReadExactError::FinishedEarly(body.remaining))?;
        body.push(chunk.bytes);
    }
    Ok(body)
}

/// A frame body as the chunks it arrived in (one per QUIC packet, a few KiB each).
///
/// Decoding reads it as a [`Buf`]. A `bytes` field that lies inside one chunk is taken
/// without copying (a slice of that packet's buffer); one that spans chunks, as a produce
/// request's record batches do, is copied once into a buffer of its own. That buffer is
/// then the only reference to its bytes, so the broker can stamp offsets into it in place
/// instead of copying the batches a second time, as it had to after gathering the whole
/// body into one buffer.
///
/// ```
/// use bytes::{Buf, Bytes};
/// use rustmq_transport::quic::FrameBody;
/// let mut body = FrameBody::from_chunks([Bytes::from_static(b"head"), Bytes::from_static(b"tail")]);
/// assert_eq!(body.copy_to_bytes(2), Bytes::from_static(b"he"));
/// // Spans both chunks: copied into a buffer nothing else shares.
/// let spanning = body.copy_to_bytes(4);
/// assert_eq!(spanning, Bytes::from_static(b"adta"));
/// assert!(spanning.try_into_mut().is_ok());
/// assert_eq!(body.into_bytes(), Bytes::from_static(b"il"));
/// ```
#[derive(Debug, Default, Clone)]
pub struct FrameBody {
    chunks: VecDeque<Bytes>,
    remaining: usize,
}

impl FrameBody {
    /// A body of these chunks, in order.
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let mut body = Self::default();
        for c in chunks {
            body.push(c);
        }
        body
    }

    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// The rest of the body as one buffer: the chunk itself when one is left, otherwise
    /// gathered (one copy).
    pub fn into_bytes(mut self) -> Bytes {
        let n = self.remaining;
        self.copy_to_bytes(n)
    }
}

impl From<Bytes> for FrameBody {
    fn from(b: Bytes) -> Self {
        Self::from_chunks([b])
    }
}

impl Buf for FrameBody {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| c.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining,
            "advance past the end of a frame body"
        );
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(
            len <= self.remaining,
            "copy_to_bytes past the end of a frame body"
        );
        if let Some(front) = self.chunks.front_mut()
            && len <= front.len()
        {
            let taken = front.split_to(len);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.remaining -= len;
            return taken;
        }
        let mut out = BytesMut::with_capacity(len);
        out.put((&mut *self).take(len));
        out.freeze()
    }
}

/// The certificate chain the peer of `conn` presented in the handshake (already verified),
/// leaf first; `None` when it presented none.
pub fn peer_certificates(
    conn: &quinn::Connection,
) -> Option<Box<Vec<rustls_pki_types::CertificateDer<'static>>>> {
    conn.peer_identity()
        .and_then(|any| {
            any.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` cut at `cuts` (ascending, within it).
    fn cut(data: &'static [u8], cuts: &[usize]) -> FrameBody {
        let mut at = 0;
        let mut chunks = Vec::new();
        for &c in cuts.iter().chain([data.len()].iter()) {
            chunks.push(Bytes::from_static(&data[at..c]));
            at = c;
        }
        FrameBody::from_chunks(chunks)
    }

    #[test]
    fn reads_the_same_bytes_wherever_the_chunks_are_cut() {
        let data: &'static [u8] = b"0123456789abcdefghij";
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let mut body = cut(data, &[a, b]);
                assert_eq!(body.remaining(), data.len());
                assert_eq!(body.get_u32(), u32::from_be_bytes(*b"0123"));
                assert_eq!(body.copy_to_bytes(7), Bytes::from_static(b"456789a"));
                body.advance(3);
                assert_eq!(body.remaining(), 6);
                assert_eq!(body.into_bytes(), Bytes::from_static(b"efghij"));
            }
        }
    }

    #[test]
    fn a_field_inside_one_chunk_is_not_copied_and_one_spanning_chunks_is_copied_once() {
        let first = Bytes::from(vec![1u8; 100]);
        let mut body = FrameBody::from_chunks([first.clone(), Bytes::from(vec![2u8; 100])]);
        let inside = body.copy_to_bytes(50);
        assert_eq!(inside.as_ptr(), first.as_ptr(), "a slice of the chunk");
        let spanning = body.copy_to_bytes(100);
        assert_eq!(&spanning[..50], &[1u8; 50][..]);
        assert_eq!(&spanning[50..], &[2u8; 50][..]);
        assert!(
            spanning.try_into_mut().is_ok(),
            "nothing else shares the copy"
        );
        assert_eq!(body.remaining(), 50);
    }

    #[test]
    fn empty_chunks_are_skipped_and_an_empty_body_has_no_chunk() {
        let mut body =
            FrameBody::from_chunks([Bytes::new(), Bytes::from_static(b"x"), Bytes::new()]);
        assert_eq!(body.chunk(), b"x");
        assert_eq!(body.get_u8(), b'x');
        assert!(body.chunk().is_empty());
        assert_eq!(FrameBody::default().into_bytes(), Bytes::new());
    }
}
