//! Reading QUIC streams.

use bytes::{Bytes, BytesMut};
use quinn::{ReadExactError, RecvStream};

/// Reads exactly `len` bytes from `recv`. A body that arrives in one chunk (the common case
/// for small frames) is returned as that chunk, without copying; a longer one is gathered
/// into one buffer.
///
/// ```no_run
/// # async fn f(mut recv: quinn::RecvStream) -> Result<(), quinn::ReadExactError> {
/// let body = rustmq_transport::quic::read_body(&mut recv, 1024).await?;
/// assert_eq!(body.len(), 1024);
/// # Ok(()) }
/// ```
pub async fn read_body(recv: &mut RecvStream, len: usize) -> Result<Bytes, ReadExactError> {
    let mut first: Option<Bytes> = None;
    let mut gathered = BytesMut::new();
    let mut have = 0;
    while have < len {
        let chunk = recv
            .read_chunk(len - have, true)
            .await
            .map_err(ReadExactError::ReadError)?
            .ok_or(ReadExactError::FinishedEarly(have))?;
        have += chunk.bytes.len();
        match first.take() {
            None if gathered.is_empty() => first = Some(chunk.bytes),
            Some(f) => {
                gathered.reserve(len);
                gathered.extend_from_slice(&f);
                gathered.extend_from_slice(&chunk.bytes);
            }
            None => gathered.extend_from_slice(&chunk.bytes),
        }
    }
    Ok(first.unwrap_or_else(|| gathered.freeze()))
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
