//! The byte layouts of ABI `rustmq_etl_v1` (see `docs/etl-abi.md`): the envelope the host
//! writes into a module's memory for each record, and the list of records a module may
//! answer with. Little-endian throughout; a length of -1 is "none" (a null key or value).

use bytes::Bytes;

/// The envelope's version byte.
pub const ENVELOPE_VERSION: u8 = 1;

/// One record as modules see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value, if any.
    pub value: Option<Bytes>,
    /// Headers in order (a name may repeat).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Output a module wrote that does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed module output at byte {at}: {what}")]
pub struct MalformedOutput {
    /// Where reading stopped.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_le_bytes());
            out.extend_from_slice(b);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
}

fn put_headers(out: &mut Vec<u8>, headers: &[(String, Option<Bytes>)]) {
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        put_bytes(out, value.as_deref());
    }
}

/// The input envelope of `record` in `topic`/`partition`.
///
/// ```
/// use rustmq_etl::abi::{Record, encode_envelope, decode_envelope};
/// let r = Record { timestamp: 7, value: Some("v".into()), ..Default::default() };
/// let bytes = encode_envelope(&r, "orders", 3);
/// assert_eq!(decode_envelope(&bytes).unwrap(), ("orders".to_string(), 3, r));
/// ```
pub fn encode_envelope(record: &Record, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        32 + topic.len()
            + record.key.as_ref().map_or(0, |k| k.len())
            + record.value.as_ref().map_or(0, |v| v.len()),
    );
    encode_envelope_into(&mut out, record, topic, partition);
    out
}

/// [`encode_envelope`] appending to `out` (so a caller can reuse one buffer).
///
/// ```
/// use rustmq_etl::abi::{Record, encode_envelope, encode_envelope_into};
/// let r = Record { value: Some("v".into()), ..Default::default() };
/// let mut buf = Vec::new();
/// encode_envelope_into(&mut buf, &r, "t", 0);
/// assert_eq!(buf, encode_envelope(&r, "t", 0));
/// ```
pub fn encode_envelope_into(out: &mut Vec<u8>, record: &Record, topic: &str, partition: i32) {
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&record.timestamp.to_le_bytes());
    out.extend_from_slice(&partition.to_le_bytes());
    out.extend_from_slice(&(topic.len() as u32).to_le_bytes());
    out.extend_from_slice(topic.as_bytes());
    put_bytes(out, record.key.as_deref());
    put_bytes(out, record.value.as_deref());
    put_headers(out, &record.headers);
}

/// The output list layout of `records` (what a module answers; the host only reads it, the
/// encoder is for tests and tools).
pub fn encode_output(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.timestamp.to_le_bytes());
        put_bytes(&mut out, r.key.as_deref());
        put_bytes(&mut out, r.value.as_deref());
        put_headers(&mut out, &r.headers);
    }
    out
}

/// Reads the layouts, refusing anything out of bounds.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, what: &'static str) -> MalformedOutput {
        MalformedOutput { at: self.at, what }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MalformedOutput> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.fail(what))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MalformedOutput> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, MalformedOutput> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, MalformedOutput> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, MalformedOutput> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    fn bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, MalformedOutput> {
        match self.i32(what)? {
            -1 => Ok(None),
            n if n < 0 => Err(self.fail("a negative length other than -1")),
            n => Ok(Some(Bytes::copy_from_slice(self.take(n as usize, what)?))),
        }
    }

    fn headers(&mut self) -> Result<Vec<(String, Option<Bytes>)>, MalformedOutput> {
        let n = self.u32("header count")? as usize;
        // Each header takes at least 8 bytes: a count beyond what is left is a lie.
        if n > (self.buf.len() - self.at) / 8 {
            return Err(self.fail("more headers than bytes"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let len = self.u32("header name length")? as usize;
            let name = std::str::from_utf8(self.take(len, "header name")?)
                .map_err(|_| self.fail("a header name that is not UTF-8"))?
                .to_string();
            out.push((name, self.bytes("header value")?));
        }
        Ok(out)
    }
}

/// Reads an input envelope back (the inverse of [`encode_envelope`]).
pub fn decode_envelope(buf: &[u8]) -> Result<(String, i32, Record), MalformedOutput> {
    let mut r = Reader { buf, at: 0 };
    if r.array::<1>("version")?[0] != ENVELOPE_VERSION {
        return Err(r.fail("an envelope version other than 1"));
    }
    let timestamp = r.i64("timestamp")?;
    let partition = r.i32("partition")?;
    let len = r.u32("topic length")? as usize;
    let topic = std::str::from_utf8(r.take(len, "topic")?)
        .map_err(|_| r.fail("a topic that is not UTF-8"))?
        .to_string();
    let key = r.bytes("key")?;
    let value = r.bytes("value")?;
    let headers = r.headers()?;
    if r.at != buf.len() {
        return Err(r.fail("bytes after the envelope"));
    }
    Ok((
        topic,
        partition,
        Record {
            timestamp,
            key,
            value,
            headers,
        },
    ))
}

/// Reads a module's output list.
///
/// ```
/// use rustmq_etl::abi::{Record, decode_output, encode_output};
/// let out = vec![Record { value: Some("a".into()), ..Default::default() }; 2];
/// assert_eq!(decode_output(&encode_output(&out)).unwrap(), out);
/// assert!(decode_output(&[9, 0, 0, 0]).is_err());
/// ```
pub fn decode_output(buf: &[u8]) -> Result<Vec<Record>, MalformedOutput> {
    let mut r = Reader { buf, at: 0 };
    let n = r.u32("record count")? as usize;
    // A record takes at least 20 bytes.
    if n > buf.len() / 20 {
        return Err(r.fail("more records than bytes"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let timestamp = r.i64("timestamp")?;
        let key = r.bytes("key")?;
        let value = r.bytes("value")?;
        let headers = r.headers()?;
        out.push(Record {
            timestamp,
            key,
            value,
            headers,
        });
    }
    if r.at != buf.len() {
        return Err(r.fail("bytes after the last record"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_bytes() -> impl Strategy<Value = Option<Bytes>> {
        prop::option::of(prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from))
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            any::<i64>(),
            arb_bytes(),
            arb_bytes(),
            prop::collection::vec(("[a-z-]{0,12}", arb_bytes()), 0..4),
        )
            .prop_map(|(timestamp, key, value, headers)| Record {
                timestamp,
                key,
                value,
                headers,
            })
    }

    proptest! {
        #[test]
        fn envelopes_and_outputs_round_trip(
            r in arb_record(),
            records in prop::collection::vec(arb_record(), 0..5),
            topic in "[a-z.]{1,20}",
            partition in any::<i32>(),
        ) {
            let e = encode_envelope(&r, &topic, partition);
            prop_assert_eq!(decode_envelope(&e).unwrap(), (topic, partition, r));
            prop_assert_eq!(decode_output(&encode_output(&records)).unwrap(), records);
        }

        /// Whatever a module writes, reading it never panics and never reads out of bounds.
        #[test]
        fn arbitrary_output_is_refused_or_read(buf in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_output(&buf);
            let _ = decode_envelope(&buf);
        }
    }

    #[test]
    fn lies_about_lengths_are_refused_with_the_place() {
        let mut out = encode_output(&[Record::default()]);
        out[0] = 200; // 200 records in 24 bytes
        assert_eq!(
            decode_output(&out).unwrap_err().what,
            "more records than bytes"
        );
        let mut out = encode_output(&[Record {
            value: Some("abc".into()),
            ..Default::default()
        }]);
        let value_len = 4 + 8 + 4;
        out[value_len..value_len + 4].copy_from_slice(&1000i32.to_le_bytes());
        let e = decode_output(&out).unwrap_err();
        assert_eq!((e.at, e.what), (value_len + 4, "value"));
        let mut out = encode_output(&[]);
        out.push(0);
        assert_eq!(
            decode_output(&out).unwrap_err().what,
            "bytes after the last record"
        );
    }
}
