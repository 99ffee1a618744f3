//! `[telemetry]`: where a process sends its traces, and how many it keeps. The standard
//! `OTEL_*` environment variables override the file, as every OpenTelemetry SDK reads them.

use serde::{Deserialize, Serialize};

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (the collector's port 4317).
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP protobuf over HTTP (the collector's port 4318, path `/v1/traces`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The names `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn parse(s: &str) -> Result<Self, super::TelemetryError> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" | "http" => Ok(Self::HttpProtobuf),
            other => Err(super::TelemetryError::Config(format!(
                "OTLP protocol {other:?}: expected grpc or http/protobuf"
            ))),
        }
    }
}

/// `[telemetry]` in every process's configuration file.
///
/// ```
/// let c: rustmq_transport::telemetry::TelemetryConfig =
///     toml::from_str("endpoint = \"http://collector:4317\"\nsampling_ratio = 0.01").unwrap();
/// assert_eq!(c.sampling_ratio, 0.01);
/// assert!(c.filter.starts_with("info"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP endpoint (`http://host:4317` for gRPC, `http://host:4318` for
    /// HTTP). Empty: no traces are exported, unless `OTEL_EXPORTER_OTLP_ENDPOINT` names one.
    pub endpoint: String,
    /// `grpc` or `http/protobuf`.
    pub protocol: OtlpProtocol,
    /// Share of new traces kept, 0.0 to 1.0. A request that arrives with a trace context
    /// follows its sender's decision instead, so a trace is whole or absent.
    pub sampling_ratio: f64,
    /// `service.name` of the spans; empty: the program's name (`rustmq-broker` ...).
    pub service_name: String,
    /// Which spans are exported (tracing's filter syntax), independent of the log filter.
    pub filter: String,
    /// Longest one export may take.
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            sampling_ratio: 1.0,
            service_name: String::new(),
            filter: "info,h2=off,hyper=off,tonic=off,tower=off,reqwest=off,opentelemetry=off"
                .into(),
            export_timeout_ms: 10_000,
        }
    }
}

/// What a process exports, once the file and the environment are combined.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTelemetry {
    /// The full URL spans are sent to.
    pub endpoint: String,
    /// How.
    pub protocol: OtlpProtocol,
    /// The sampler.
    pub sampler: SamplerChoice,
    /// `service.name`.
    pub service_name: String,
    /// Which spans.
    pub filter: String,
    /// Per export.
    pub export_timeout_ms: u64,
}

/// Which traces are kept (`OTEL_TRACES_SAMPLER`'s choices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerChoice {
    /// This share of new traces; a remote parent's decision when there is one.
    ParentBasedRatio(f64),
    /// This share of all traces, whatever the parent decided.
    Ratio(f64),
    /// Every trace, or a remote parent's decision.
    ParentBasedAlwaysOn,
    /// No new trace; a remote parent's decision is still followed.
    ParentBasedAlwaysOff,
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
}

impl TelemetryConfig {
    /// Combines the file with the environment (`env` is a lookup such as
    /// `|k| std::env::var(k).ok()`). `None`: export is off (no endpoint, or
    /// `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`).
    ///
    /// Read: `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
    /// `OTEL_SERVICE_NAME` (`OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` are
    /// read by the SDK itself).
    ///
    /// ```
    /// use rustmq_transport::telemetry::{TelemetryConfig, SamplerChoice};
    /// let c = TelemetryConfig::default();
    /// assert!(c.resolve("rustmq-broker", |_| None).unwrap().is_none());
    /// let env = |k: &str| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://c:4317".to_string());
    /// let r = c.resolve("rustmq-broker", env).unwrap().unwrap();
    /// assert_eq!(r.endpoint, "http://c:4317");
    /// assert_eq!(r.sampler, SamplerChoice::ParentBasedRatio(1.0));
    /// ```
    pub fn resolve(
        &self,
        program: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ResolvedTelemetry>, super::TelemetryError> {
        let env = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none")
        {
            return Ok(None);
        }
        if let Some(e) = env("OTEL_TRACES_EXPORTER")
            && e != "otlp"
        {
            return Err(super::TelemetryError::Config(format!(
                "OTEL_TRACES_EXPORTER={e:?}: only otlp (or none) is built in"
            )));
        }
        let protocol = match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        {
            Some(p) => OtlpProtocol::parse(&p)?,
            None => self.protocol,
        };
        // The signal's own variable is the full URL; the general one (and the file) is the
        // collector's base, to which HTTP adds the traces path.
        let endpoint = if let Some(full) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            full
        } else {
            let base = env("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| self.endpoint.clone());
            if base.is_empty() {
                return Ok(None);
            }
            match protocol {
                OtlpProtocol::Grpc => base,
                OtlpProtocol::HttpProtobuf => {
                    format!("{}/v1/traces", base.trim_end_matches('/'))
                }
            }
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(super::TelemetryError::Config(format!(
                "OTLP endpoint {endpoint:?}: expected an http:// or https:// URL"
            )));
        }
        let ratio = |v: Option<String>, default: f64| -> Result<f64, super::TelemetryError> {
            let r = match v {
                Some(s) => s.parse::<f64>().map_err(|_| {
                    super::TelemetryError::Config(format!(
                        "OTEL_TRACES_SAMPLER_ARG={s:?}: expected a number from 0 to 1"
                    ))
                })?,
                None => default,
            };
            if !(0.0..=1.0).contains(&r) {
                return Err(super::TelemetryError::Config(format!(
                    "sampling ratio {r}: expected a number from 0 to 1"
                )));
            }
            Ok(r)
        };
        let sampler = match env("OTEL_TRACES_SAMPLER").as_deref() {
            None => SamplerChoice::ParentBasedRatio(ratio(None, self.sampling_ratio)?),
            Some("parentbased_traceidratio") => {
                SamplerChoice::ParentBasedRatio(ratio(env("OTEL_TRACES_SAMPLER_ARG"), 1.0)?)
            }
            Some("traceidratio") => {
                SamplerChoice::Ratio(ratio(env("OTEL_TRACES_SAMPLER_ARG"), 1.0)?)
            }
            Some("always_on") => SamplerChoice::AlwaysOn,
            Some("always_off") => SamplerChoice::AlwaysOff,
            Some("parentbased_always_on") => SamplerChoice::ParentBasedAlwaysOn,
            Some("parentbased_always_off") => SamplerChoice::ParentBasedAlwaysOff,
            Some(other) => {
                return Err(super::TelemetryError::Config(format!(
                    "OTEL_TRACES_SAMPLER={other:?}: expected always_on, always_off, \
                     traceidratio or their parentbased_ forms"
                )));
            }
        };
        let service_name = env("OTEL_SERVICE_NAME")
            .or_else(|| Some(self.service_name.clone()).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| program.to_string());
        Ok(Some(ResolvedTelemetry {
            endpoint,
            protocol,
            sampler,
            service_name,
            filter: self.filter.clone(),
            export_timeout_ms: self.export_timeout_ms.max(1),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        let file = TelemetryConfig {
            endpoint: "http://c:4317".into(),
            ..Default::default()
        };
        assert!(
            TelemetryConfig::default()
                .resolve("p", with(&[]))
                .unwrap()
                .is_none()
        );
        assert!(
            file.resolve("p", with(&[("OTEL_SDK_DISABLED", "true")]))
                .unwrap()
                .is_none()
        );
        assert!(
            file.resolve("p", with(&[("OTEL_TRACES_EXPORTER", "none")]))
                .unwrap()
                .is_none()
        );
        assert!(
            file.resolve("p", with(&[("OTEL_TRACES_EXPORTER", "zipkin")]))
                .is_err()
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = TelemetryConfig {
            endpoint: "http://file:4317".into(),
            sampling_ratio: 0.5,
            service_name: "from-file".into(),
            ..Default::default()
        };
        let r = file.resolve("p", with(&[])).unwrap().unwrap();
        assert_eq!(r.endpoint, "http://file:4317");
        assert_eq!(r.sampler, SamplerChoice::ParentBasedRatio(0.5));
        assert_eq!(r.service_name, "from-file");
        let r = file
            .resolve(
                "p",
                with(&[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
                    ("OTEL_SERVICE_NAME", "svc"),
                ]),
            )
            .unwrap()
            .unwrap();
        assert_eq!(r.endpoint, "http://env:4318/v1/traces");
        assert_eq!(r.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(r.sampler, SamplerChoice::ParentBasedRatio(0.01));
        assert_eq!(r.service_name, "svc");
        let r = file
            .resolve(
                "p",
                with(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x:1/custom")]),
            )
            .unwrap()
            .unwrap();
        assert_eq!(r.endpoint, "http://x:1/custom");
        assert_eq!(
            TelemetryConfig::default()
                .resolve(
                    "rustmq-cli",
                    with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")])
                )
                .unwrap()
                .unwrap()
                .service_name,
            "rustmq-cli"
        );
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let file = TelemetryConfig {
            endpoint: "http://c:4317".into(),
            ..Default::default()
        };
        for vars in [
            &[("OTEL_TRACES_SAMPLER", "sometimes")][..],
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ][..],
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "x"),
            ][..],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")][..],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")][..],
        ] {
            assert!(file.resolve("p", with(vars)).is_err(), "{vars:?}");
        }
        let bad = TelemetryConfig {
            endpoint: "http://c:4317".into(),
            sampling_ratio: -0.1,
            ..Default::default()
        };
        assert!(bad.resolve("p", with(&[])).is_err());
        assert!(toml::from_str::<TelemetryConfig>("endpont = \"x\"").is_err());
    }
}
