//! The names of what the operator creates for one `RustMQCluster`, and the DNS names they
//! get: one place, so that the config files, certificates and objects agree.

/// Ports of the processes.
pub mod ports {
    /// Brokers' client QUIC listener.
    pub const QUIC: u16 = 9092;
    /// Brokers' internal RPC (replication, controller metadata).
    pub const BROKER_RPC: u16 = 9093;
    /// Brokers' admin HTTP (health, metrics).
    pub const BROKER_ADMIN: u16 = 9742;
    /// Controllers' Raft and internal RPC (one QUIC listener).
    pub const RAFT: u16 = 9095;
    /// Controllers' admin REST API.
    pub const ADMIN: u16 = 9642;
}

/// Names derived from a cluster's name and namespace.
///
/// ```
/// let n = rustmq_operator::cluster::Names::new("rmq", "prod", "cluster.local");
/// assert_eq!(n.broker_pod(2), "rmq-broker-2");
/// assert_eq!(n.broker_host(0), "rmq-broker-0.rmq-broker.prod.svc.cluster.local");
/// assert_eq!(n.bootstrap_servers(), "rmq-bootstrap.prod.svc.cluster.local:9092");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The cluster's name.
    pub cluster: String,
    /// Its namespace.
    pub namespace: String,
    /// The Kubernetes cluster's DNS domain (`cluster.local`).
    pub domain: String,
}

impl Names {
    /// Names of cluster `cluster` in `namespace`.
    pub fn new(cluster: &str, namespace: &str, domain: &str) -> Self {
        Self {
            cluster: cluster.into(),
            namespace: namespace.into(),
            domain: domain.into(),
        }
    }

    /// The brokers' StatefulSet and headless Service.
    pub fn brokers(&self) -> String {
        format!("{}-broker", self.cluster)
    }

    /// The controllers' StatefulSet and headless Service.
    pub fn controllers(&self) -> String {
        format!("{}-controller", self.cluster)
    }

    /// The client Service in front of the brokers.
    pub fn bootstrap(&self) -> String {
        format!("{}-bootstrap", self.cluster)
    }

    /// The admin API Service in front of the controllers.
    pub fn admin(&self) -> String {
        format!("{}-admin", self.cluster)
    }

    /// The ConfigMap holding `broker.toml` and `controller.toml`.
    pub fn config(&self) -> String {
        format!("{}-config", self.cluster)
    }

    /// The Secret holding the operator's CA (certificate and key).
    pub fn ca_secret(&self) -> String {
        format!("{}-ca", self.cluster)
    }

    /// The Secret the pods mount: the CA certificate and each pod's certificate and key.
    pub fn tls_secret(&self) -> String {
        format!("{}-tls", self.cluster)
    }

    /// The pods' ServiceAccount.
    pub fn service_account(&self) -> String {
        self.cluster.clone()
    }

    /// Broker pod `i`.
    pub fn broker_pod(&self, i: i32) -> String {
        format!("{}-{i}", self.brokers())
    }

    /// Controller pod `i`.
    pub fn controller_pod(&self, i: i32) -> String {
        format!("{}-{i}", self.controllers())
    }

    fn svc(&self, service: &str) -> String {
        format!("{service}.{}.svc.{}", self.namespace, self.domain)
    }

    /// The stable DNS name of broker pod `i`.
    pub fn broker_host(&self, i: i32) -> String {
        format!("{}.{}", self.broker_pod(i), self.svc(&self.brokers()))
    }

    /// The stable DNS name of controller pod `i`.
    pub fn controller_host(&self, i: i32) -> String {
        format!(
            "{}.{}",
            self.controller_pod(i),
            self.svc(&self.controllers())
        )
    }

    /// `host:port` clients bootstrap from.
    pub fn bootstrap_servers(&self) -> String {
        format!("{}:{}", self.svc(&self.bootstrap()), ports::QUIC)
    }

    /// The admin API's URL (`https` with security on).
    pub fn admin_url(&self, https: bool) -> String {
        format!(
            "{}://{}:{}",
            if https { "https" } else { "http" },
            self.svc(&self.admin()),
            ports::ADMIN
        )
    }

    /// The admin API of controller pod `i`.
    pub fn controller_admin_url(&self, i: i32, https: bool) -> String {
        format!(
            "{}://{}:{}",
            if https { "https" } else { "http" },
            self.controller_host(i),
            ports::ADMIN
        )
    }

    /// The Secret holding the operator's admin certificate for the cluster (security on).
    pub fn operator_admin_secret(&self) -> String {
        format!("{}-operator-admin", self.cluster)
    }

    /// DNS names a certificate of `pod` (in `service`) answers to: its own, and the Service
    /// in front of it: for brokers the client Service, which clients dial first, for
    /// controllers the admin Service (its HTTPS).
    pub fn certificate_names(&self, pod: &str, service: &str, broker: bool) -> Vec<String> {
        let mut names = vec![
            format!("{pod}.{}", self.svc(service)),
            format!("{pod}.{service}.{}.svc", self.namespace),
            format!("{pod}.{service}"),
        ];
        let front = if broker {
            self.bootstrap()
        } else {
            self.admin()
        };
        names.push(self.svc(&front));
        names.push(format!("{front}.{}.svc", self.namespace));
        names.push(format!("{front}.{}", self.namespace));
        names.push(front);
        names
    }
}
