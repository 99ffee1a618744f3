//! A W3C trace context between processes: taken from the current span before a request
//! leaves, made the parent of the span that handles it on arrival. The frame carries its
//! 26-byte binary form; record headers carry the `traceparent` text form.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Bytes of the binary form: version 0, trace id, parent span id, flags.
pub const BINARY_LEN: usize = 26;

/// The record header a producer may add and a consumer may read (W3C `traceparent`).
pub const HEADER: &str = "traceparent";

/// One span's identity as another process needs it.
///
/// ```
/// use rustmq_transport::telemetry::TraceParent;
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(tp.sampled());
/// assert_eq!(TraceParent::from_binary(&tp.to_binary()), Some(tp));
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace.
    pub trace_id: [u8; 16],
    /// The sending span.
    pub span_id: [u8; 8],
    /// Bit 0: sampled.
    pub flags: u8,
}

impl TraceParent {
    /// Whether the sender records this trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The current span's context, when it has a valid one (only with an OpenTelemetry
    /// layer installed; without one this is `None` and costs a lookup).
    pub fn current() -> Option<Self> {
        Self::of(&tracing::Span::current())
    }

    /// `span`'s context, when it has a valid one.
    pub fn of(span: &tracing::Span) -> Option<Self> {
        if span.is_disabled() {
            return None;
        }
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| Self {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            flags: sc.trace_flags().to_u8(),
        })
    }

    /// Makes this (remote) context the parent of `span`, which must not have been entered
    /// yet.
    pub fn adopt(&self, span: &tracing::Span) {
        if span.is_disabled() {
            return;
        }
        let cx = opentelemetry::Context::new().with_remote_span_context(self.span_context());
        let _ = span.set_parent(cx);
    }

    /// Links `span` to this context (a consumer's processing span to the producer's).
    pub fn link(&self, span: &tracing::Span) {
        if !span.is_disabled() {
            span.add_link(self.span_context());
        }
    }

    fn span_context(&self) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        )
    }

    /// The frame's binary form.
    pub fn to_binary(&self) -> [u8; BINARY_LEN] {
        let mut b = [0u8; BINARY_LEN];
        b[1..17].copy_from_slice(&self.trace_id);
        b[17..25].copy_from_slice(&self.span_id);
        b[25] = self.flags;
        b
    }

    /// Reads the binary form; `None` for another version or an all-zero (invalid) id, which
    /// the receiver ignores as W3C asks.
    pub fn from_binary(b: &[u8; BINARY_LEN]) -> Option<Self> {
        if b[0] != 0 {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        trace_id.copy_from_slice(&b[1..17]);
        span_id.copy_from_slice(&b[17..25]);
        Self::valid(Self {
            trace_id,
            span_id,
            flags: b[25],
        })
    }

    /// Parses the `traceparent` text form (`00-<32 hex>-<16 hex>-<2 hex>`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex_into(trace, &mut trace_id)?;
        hex_into(span, &mut span_id)?;
        let mut f = [0u8; 1];
        hex_into(flags, &mut f)?;
        Self::valid(Self {
            trace_id,
            span_id,
            flags: f[0],
        })
    }

    fn valid(self) -> Option<Self> {
        (self.trace_id != [0; 16] && self.span_id != [0; 8]).then_some(self)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "00-")?;
        for b in self.trace_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-")?;
        for b in self.span_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

/// Lower-case hex of exactly `out.len()` bytes.
fn hex_into(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_text_and_binary_forms_are_ignored() {
        for s in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceParent::parse(s), None, "{s:?}");
        }
        let mut b = [7u8; BINARY_LEN];
        assert_eq!(TraceParent::from_binary(&b), None, "version 7");
        b[0] = 0;
        assert!(TraceParent::from_binary(&b).is_some());
        assert_eq!(TraceParent::from_binary(&[0u8; BINARY_LEN]), None);
    }

    #[test]
    fn without_an_opentelemetry_layer_there_is_no_context() {
        let span = tracing::info_span!("x");
        assert_eq!(TraceParent::of(&span), None);
        assert_eq!(TraceParent::current(), None);
    }
}
